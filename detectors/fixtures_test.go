package detectors_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/baselines"
	"github.com/trailwatch/trailwatch/detectors"
	dt "github.com/trailwatch/trailwatch/detectors/detectorstest"
	"github.com/trailwatch/trailwatch/events"
)

// A fixture is one case of one detector, in testdata/<detector-id>/: a
// principal's history (a named profile), the events under test, what the
// detector must say about them, and optionally what the whole engine must
// make of them.
type fixture struct {
	Description string `json:"description"`
	// Detector names the detector under test. Cases in testdata/<id>/
	// may omit it (the directory names it); cases elsewhere, such as
	// testdata/adversarial/, must give it.
	Detector string `json:"detector,omitempty"`
	// Bypass names the evasion an adversarial case is about; every bypass
	// needs a case that fires and a benign twin that stays quiet.
	Bypass  string       `json:"bypass,omitempty"`
	History *historySpec `json:"history,omitempty"`
	Events  []eventSpec  `json:"events"`
	Expect  expectSpec   `json:"expect"`
	Engine  *engineSpec  `json:"engine,omitempty"`
	// Skip marks a known bug: the case states what the detector promises
	// and is skipped until the bug is fixed.
	Skip string `json:"skip,omitempty"`
}

type historySpec struct {
	Profile         string      `json:"profile"`
	Principal       string      `json:"principal"`
	End             time.Time   `json:"end"`
	Days            int         `json:"days"`
	PerDay          int         `json:"per_day"`
	StartHour       int         `json:"start_hour,omitempty"`
	DeniedPerWindow int         `json:"denied_per_window,omitempty"`
	Daily           []eventSpec `json:"daily,omitempty"`
	DailyDays       int         `json:"daily_days,omitempty"`
	ChurnPerDay     int         `json:"churn_per_day,omitempty"`
	Provider        string      `json:"provider,omitempty"`
	Seed            uint64      `json:"seed,omitempty"`
}

type eventSpec struct {
	Principal    string          `json:"principal,omitempty"`
	API          string          `json:"api"`
	At           time.Time       `json:"at"`
	IP           string          `json:"ip,omitempty"`
	AWSNetwork   string          `json:"aws_network,omitempty"` // an AWS address in this region
	Provider     string          `json:"provider,omitempty"`    // an address in this named network
	UA           string          `json:"ua,omitempty"`
	AccessKey    string          `json:"access_key,omitempty"`
	Region       string          `json:"region,omitempty"`
	Mutating     *bool           `json:"mutating,omitempty"`
	Error        string          `json:"error,omitempty"`
	InvokedBy    string          `json:"invoked_by,omitempty"`
	Params       json.RawMessage `json:"params,omitempty"`
	ConsoleLogin bool            `json:"console_login,omitempty"`
	MFA          bool            `json:"mfa,omitempty"`
	Type         string          `json:"type,omitempty"`
	ID           string          `json:"id,omitempty"`
	Repeat       int             `json:"repeat,omitempty"`
	Every        string          `json:"every,omitempty"`
}

type expectSpec struct {
	Fires    bool     `json:"fires"`
	MinScore *float64 `json:"min_score,omitempty"`
	MaxScore *float64 `json:"max_score,omitempty"`
	Subject  string   `json:"subject,omitempty"`
	// MinFloor is the least severity floor the strongest signal carries.
	MinFloor string `json:"min_floor,omitempty"`
}

type engineSpec struct {
	// Severities over every finding the batch produced ("" for none).
	MinSeverity string `json:"min_severity,omitempty"`
	MaxSeverity string `json:"max_severity,omitempty"`
	// None requires that the batch produce no finding at all.
	None bool `json:"none,omitempty"`
}

var ipAliases = map[string]string{
	"office": dt.IPOffice, "office2": dt.IPOffice2, "home": dt.IPHome, "ci": dt.IPCI,
	"foreign": dt.IPForeign, "aws": dt.IPAWS, "aws2": dt.IPAWS2,
}

var uaAliases = map[string]string{
	"cli-2.22": dt.UACLI222, "cli-2.27": dt.UACLI227, "console": dt.UAConsole, "terraform": dt.UATerraform,
	"go-sdk": dt.UAGoSDK, "boto3": dt.UABoto3, "python-requests": dt.UACurl,
}

func (s eventSpec) build(principal string) ([]events.Event, error) {
	if s.Principal != "" {
		principal = s.Principal
	}
	var opts []dt.Opt
	if s.IP != "" {
		ip := s.IP
		if a, ok := ipAliases[ip]; ok {
			ip = a
		}
		opts = append(opts, dt.From(ip))
	}
	if s.AWSNetwork != "" {
		ip := dt.IPAWS
		if s.IP != "" {
			ip = ipAliases[s.IP]
			if ip == "" {
				ip = s.IP
			}
		}
		opts = append(opts, dt.FromAWS(s.AWSNetwork, ip))
	}
	if s.Provider != "" {
		ip := dt.IPCI
		if s.IP != "" {
			ip = cmp.Or(ipAliases[s.IP], s.IP)
		}
		opts = append(opts, dt.FromProvider(s.Provider, ip))
	}
	if s.UA != "" {
		ua := s.UA
		if a, ok := uaAliases[ua]; ok {
			ua = a
		}
		opts = append(opts, dt.UA(ua))
	}
	if s.AccessKey != "" {
		opts = append(opts, dt.Key(s.AccessKey))
	}
	if s.Region != "" {
		opts = append(opts, dt.Region(s.Region))
	}
	if s.Mutating != nil {
		opts = append(opts, dt.Mutating(*s.Mutating))
	}
	if s.Error != "" {
		opts = append(opts, dt.Err(s.Error))
	}
	if s.InvokedBy != "" {
		opts = append(opts, dt.InvokedBy(s.InvokedBy))
	}
	if len(s.Params) > 0 {
		// CloudTrail delivers compact JSON; fixtures are indented.
		var buf bytes.Buffer
		if err := json.Compact(&buf, s.Params); err != nil {
			return nil, fmt.Errorf("params: %w", err)
		}
		opts = append(opts, dt.Params(buf.String()))
	}
	if s.Type != "" {
		opts = append(opts, dt.Type(s.Type))
	}
	if s.ConsoleLogin {
		opts = append(opts, dt.ConsoleLogin(s.MFA))
	}
	n := max(1, s.Repeat)
	every := time.Minute
	if s.Every != "" {
		d, err := time.ParseDuration(s.Every)
		if err != nil {
			return nil, fmt.Errorf("every: %w", err)
		}
		every = d
	}
	if s.API == "" && !s.ConsoleLogin {
		return nil, fmt.Errorf("event without api")
	}
	var out []events.Event
	for i := 0; i < n; i++ {
		o := opts
		if s.ID != "" {
			id := s.ID
			if n > 1 {
				id = fmt.Sprintf("%s-%d", s.ID, i)
			}
			o = append(append([]dt.Opt(nil), opts...), dt.ID(id))
		}
		out = append(out, dt.Event(principal, s.API, s.At.Add(time.Duration(i)*every), o...))
	}
	return out, nil
}

func (f *fixture) history() (*dt.History, error) {
	h := f.History
	if h == nil {
		return nil, nil
	}
	out := &dt.History{
		Profile: h.Profile, Principal: h.Principal, End: h.End, Days: h.Days, PerDay: h.PerDay,
		StartHour: h.StartHour, DeniedPerWindow: h.DeniedPerWindow, DailyDays: h.DailyDays, ChurnPerDay: h.ChurnPerDay, Provider: h.Provider, Seed: h.Seed,
	}
	for _, s := range h.Daily {
		s := s
		if _, err := s.build(h.Principal); err != nil {
			return nil, err
		}
		out.Daily = append(out.Daily, func(t time.Time) events.Event {
			s.At = t
			evs, _ := s.build(h.Principal)
			return evs[0]
		})
	}
	return out, nil
}

func (f *fixture) principal() string {
	if f.History != nil && f.History.Principal != "" {
		return f.History.Principal
	}
	for _, e := range f.Events {
		if e.Principal != "" {
			return e.Principal
		}
	}
	return "111122223333:user/newbie"
}

func (f *fixture) baseline() (*detectors.Baseline, error) {
	h, err := f.history()
	if err != nil {
		return nil, err
	}
	if h == nil {
		return detectors.NewBaseline(f.principal()), nil
	}
	return h.Baseline(), nil
}

func (f *fixture) events() ([]events.Event, error) {
	var out []events.Event
	for i, s := range f.Events {
		evs, err := s.build(f.principal())
		if err != nil {
			return nil, fmt.Errorf("events[%d]: %w", i, err)
		}
		out = append(out, evs...)
	}
	return out, nil
}

func detectorByID(id string) detectors.Detector {
	for _, d := range detectors.All() {
		if d.ID() == id {
			return d
		}
	}
	return nil
}

// TestFixtures runs every case in testdata/<detector-id>/*.json: first the
// detector alone against the trained baseline (each event checked, then
// observed, as the engine does), then, where the case says so, the whole
// engine with all detectors.
func TestFixtures(t *testing.T) {
	covered := map[string][2]int{}
	for _, id := range detectors.DetectorIDs() {
		files, err := filepath.Glob(filepath.Join("testdata", id, "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		det := detectorByID(id)
		for _, file := range files {
			name := id + "/" + strings.TrimSuffix(filepath.Base(file), ".json")
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			f, err := decodeFixture(raw)
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			if f.Detector != "" && f.Detector != id {
				t.Fatalf("%s: names detector %q but lives in testdata/%s", file, f.Detector, id)
			}
			c := covered[id]
			if f.Expect.Fires {
				c[0]++
			} else {
				c[1]++
			}
			covered[id] = c
			t.Run(name, func(t *testing.T) {
				if f.Skip != "" {
					bug(t, strings.TrimPrefix(f.Skip, "BUG: "))
				}
				runFixtureDetector(t, det, f)
				if f.Engine != nil {
					runFixtureEngine(t, f)
				}
			})
		}
	}
	for _, id := range detectors.DetectorIDs() {
		if c := covered[id]; c[0] == 0 || c[1] == 0 {
			t.Errorf("detector %s needs positive and negative fixtures (have %d positive, %d negative)", id, c[0], c[1])
		}
	}
}

func decodeFixture(raw []byte) (*fixture, error) {
	var f fixture
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	return &f, nil
}

// TestAdversarial runs testdata/adversarial/*.json: evasions of the
// detectors (policies, ACLs and network rules written to slip past a
// naive check) and their benign twins. Each case names its detector and
// the bypass it is about; every bypass must have a case that fires and one
// that stays quiet, so closing a bypass cannot silently turn into flagging
// everything that looks like it.
func TestAdversarial(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "adversarial", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no fixtures in testdata/adversarial")
	}
	twins := map[string][2]int{}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		f, err := decodeFixture(raw)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		det := detectorByID(f.Detector)
		if det == nil {
			t.Fatalf("%s: detector %q unknown (every adversarial case names its detector)", file, f.Detector)
		}
		if f.Bypass == "" {
			t.Fatalf("%s: no bypass named", file)
		}
		c := twins[f.Bypass]
		if f.Expect.Fires {
			c[0]++
		} else {
			c[1]++
		}
		twins[f.Bypass] = c
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			if f.Skip != "" {
				bug(t, strings.TrimPrefix(f.Skip, "BUG: "))
			}
			runFixtureDetector(t, det, f)
			if f.Engine != nil {
				runFixtureEngine(t, f)
			}
		})
	}
	for b, c := range twins {
		if c[0] == 0 || c[1] == 0 {
			t.Errorf("bypass %s needs a case that fires and a benign twin (have %d firing, %d quiet)", b, c[0], c[1])
		}
	}
}

func runFixtureDetector(t *testing.T, det detectors.Detector, f *fixture) {
	t.Helper()
	b, err := f.baseline()
	if err != nil {
		t.Fatal(err)
	}
	evs, err := f.events()
	if err != nil {
		t.Fatal(err)
	}
	cfg := detectors.DefaultConfig()
	var sigs []detectors.Signal
	for i := range evs {
		ev := &evs[i]
		c := &detectors.Context{Baseline: b, Mature: b.Mature(cfg.Learning, ev.Time), Config: cfg, Name: detectors.DisplayName(b.Key)}
		sigs = append(sigs, det.Check(c, ev)...)
		detectors.Learn(cfg, b, ev)
	}
	if !f.Expect.Fires {
		for _, s := range sigs {
			t.Errorf("%s: unexpected signal %s score %.3f: %s", f.Description, s.Subject, s.Score, s.Reason)
		}
		return
	}
	if len(sigs) == 0 {
		t.Fatalf("%s: no %s signal", f.Description, det.ID())
	}
	best := sigs[0]
	for _, s := range sigs {
		if s.Score > best.Score {
			best = s
		}
	}
	t.Logf("strongest: %s score %.3f floor %s: %s", best.Subject, best.Score, best.Floor, best.Reason)
	if m := f.Expect.MinScore; m != nil && best.Score < *m {
		t.Errorf("%s: score %.3f below %.3f", f.Description, best.Score, *m)
	}
	if m := f.Expect.MaxScore; m != nil && best.Score > *m {
		t.Errorf("%s: score %.3f above %.3f", f.Description, best.Score, *m)
	}
	if f.Expect.Subject != "" {
		found := false
		for _, s := range sigs {
			found = found || s.Subject == f.Expect.Subject
		}
		if !found {
			t.Errorf("%s: no signal with subject %q", f.Description, f.Expect.Subject)
		}
	}
	if f.Expect.MinFloor != "" {
		want, err := detectors.ParseSeverity(f.Expect.MinFloor)
		if err != nil {
			t.Fatal(err)
		}
		if best.Floor < want {
			t.Errorf("%s: floor %s below %s", f.Description, best.Floor, want)
		}
	}
	if best.Reason == "" || best.Title == "" {
		t.Errorf("%s: signal without reason or title", f.Description)
	}
}

func runFixtureEngine(t *testing.T, f *fixture) {
	t.Helper()
	b, err := f.baseline()
	if err != nil {
		t.Fatal(err)
	}
	evs, err := f.events()
	if err != nil {
		t.Fatal(err)
	}
	mem := baselines.NewMemory()
	if f.History != nil {
		if err := dt.Seed(mem, b); err != nil {
			t.Fatal(err)
		}
	}
	eng := detectors.NewEngine(detectors.DefaultConfig(), mem, nil)
	res, err := eng.Process(context.Background(), evs)
	if err != nil {
		t.Fatal(err)
	}
	top := detectors.Severity(-1)
	for _, u := range res.Updates {
		t.Logf("engine: %s %s score %.3f: %s", u.Finding.Severity, u.Finding.Detector, u.Finding.Score, u.Finding.Title)
		if u.Finding.Severity > top {
			top = u.Finding.Severity
		}
	}
	if f.Engine.None && len(res.Updates) > 0 {
		t.Errorf("%s: engine: %d findings, want none", f.Description, len(res.Updates))
	}
	if s := f.Engine.MinSeverity; s != "" {
		want, _ := detectors.ParseSeverity(s)
		if top < want {
			t.Errorf("%s: engine: strongest finding %v, want at least %s", f.Description, sevName(top), want)
		}
	}
	if s := f.Engine.MaxSeverity; s != "" {
		want, _ := detectors.ParseSeverity(s)
		if top > want {
			t.Errorf("%s: engine: strongest finding %s, want at most %s", f.Description, top, want)
		}
	}
}

func sevName(s detectors.Severity) string {
	if s < 0 {
		return "none"
	}
	return s.String()
}
