package detectors

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/trailwatch/trailwatch/events"
)

// maxCases bounds the findings remembered per principal for dedupe.
const maxCases = 12

// maxSubjects bounds the signals one finding remembers.
const maxSubjects = 24

// Case is a finding in progress: the signals of one principal that fold
// together, and what was already routed. It is persisted with the
// principal's state so that dedupe holds across processes.
type Case struct {
	Finding Finding      `json:"finding"`
	Mode    Mode         `json:"mode"`
	Signals []CaseSignal `json:"signals"`
	Opened  int64        `json:"opened"`
	Last    int64        `json:"last"`
	// Routed is the highest severity already routed, or -1.
	Routed int `json:"routed"`
}

// CaseSignal is the strongest signal seen for one subject.
type CaseSignal struct {
	Detector string         `json:"detector"`
	Subject  string         `json:"subject"`
	Group    string         `json:"group"`
	Score    float64        `json:"score"`
	Floor    Severity       `json:"floor"`
	Title    string         `json:"title"`
	Reason   string         `json:"reason"`
	Evidence map[string]any `json:"evidence,omitempty"`
}

// caseSignal is what a case keeps of a signal (not the risk it teaches the
// baseline, Signal.Learn).
func caseSignal(s Signal) CaseSignal {
	return CaseSignal{Detector: s.Detector, Subject: s.Subject, Group: s.Group, Score: s.Score,
		Floor: s.Floor, Title: s.Title, Reason: s.Reason, Evidence: s.Evidence}
}

// fold adds an event's signals to the principal's cases and returns the
// cases that changed.
//
// A signal whose subject a recent case (within the dedupe window) already
// holds only counts the event there. Other signals join the case still
// open (within the case window of its last signal), or open a new one. The
// case's score combines its signals: the strongest per group (signals of a
// group are not independent evidence), then a noisy-OR across groups, so
// several weak signals make one stronger finding rather than many weak
// ones.
func (e *Engine) fold(st *State, ev *events.Event, sigs []Signal, mode Mode) []*Case {
	cfg := e.Config
	t := ev.Time.Unix()
	var open *Case
	var fresh []Signal
	var folded *Case
	for _, s := range sigs {
		if cs := st.caseWithSubject(s.Subject, mode, t, cfg.Windows.Dedupe); cs != nil {
			// A repeat of what the case reported: count it, and let a
			// stronger signal (60 denials rather than 5) raise the score.
			folded = cs
			if cs.addSignal(s) {
				cs.rescore(cfg, ev.Principal)
			}
			continue
		}
		fresh = append(fresh, s)
	}
	if len(fresh) == 0 {
		if folded == nil {
			return nil
		}
		folded.ensureFinding(cfg)
		folded.addEvent(ev, t)
		st.CasesDirty = true
		return []*Case{folded}
	}
	open = st.openCase(mode, t, cfg.Windows.Case)
	if open == nil {
		open = &Case{Mode: mode, Opened: t, Last: t, Routed: -1}
		top := strongest(fresh)
		open.Finding = Finding{
			Detector:     top.Detector,
			Mode:         mode,
			Principal:    ev.Principal,
			PrincipalARN: ev.PrincipalARN,
			AccountID:    ev.Account,
			Region:       ev.Region,
			DedupeKey:    top.Detector + "|" + ev.Principal + "|" + top.Subject,
		}
		open.Finding.ID = CaseID(open.Finding.DedupeKey, t)
		st.Cases = append(st.Cases, open)
	}
	for _, s := range fresh {
		open.addSignal(s)
	}
	open.addEvent(ev, t)
	open.rescore(cfg, ev.Principal)
	st.CasesDirty = true
	if folded != nil && folded != open {
		folded.addEvent(ev, t)
		return []*Case{open, folded}
	}
	return []*Case{open}
}

func strongest(sigs []Signal) Signal {
	best := sigs[0]
	for _, s := range sigs[1:] {
		if s.Score > best.Score {
			best = s
		}
	}
	return best
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

func (st *State) caseWithSubject(subject string, mode Mode, t int64, window time.Duration) *Case {
	for _, cs := range st.Cases {
		if cs.Mode != mode || abs64(t-cs.Last) > int64(window/time.Second) {
			continue
		}
		for _, s := range cs.Signals {
			if s.Subject == subject {
				return cs
			}
		}
	}
	return nil
}

func (st *State) openCase(mode Mode, t int64, window time.Duration) *Case {
	var best *Case
	for _, cs := range st.Cases {
		if cs.Mode != mode || abs64(t-cs.Last) > int64(window/time.Second) || len(cs.Signals) >= maxSubjects {
			continue
		}
		if best == nil || cs.Last > best.Last {
			best = cs
		}
	}
	return best
}

// pruneCases forgets cases older than the dedupe window and keeps at most
// maxCases, dropping the oldest.
func (st *State) pruneCases(now int64, window time.Duration) {
	kept := st.Cases[:0]
	for _, cs := range st.Cases {
		if now-cs.Last <= int64(window/time.Second) {
			kept = append(kept, cs)
		} else {
			st.CasesDirty = true
		}
	}
	st.Cases = kept
	if len(st.Cases) > maxCases {
		sort.SliceStable(st.Cases, func(i, j int) bool { return st.Cases[i].Last > st.Cases[j].Last })
		st.Cases = st.Cases[:maxCases]
		st.CasesDirty = true
	}
}

// addSignal records a signal and reports whether it changed the case.
func (cs *Case) addSignal(s Signal) bool {
	for i := range cs.Signals {
		if cs.Signals[i].Subject == s.Subject {
			if s.Score > cs.Signals[i].Score {
				cs.Signals[i] = caseSignal(s)
				return true
			}
			return false
		}
	}
	cs.Signals = append(cs.Signals, caseSignal(s))
	return true
}

// ensureFinding rebuilds the derived parts of a finding loaded from a
// store (EncodeCases leaves them out).
func (cs *Case) ensureFinding(cfg *Config) {
	if cs.Finding.Reasons == nil && len(cs.Signals) > 0 {
		cs.rescore(cfg, cs.Finding.Principal)
	}
}

func (cs *Case) addEvent(ev *events.Event, t int64) {
	for _, id := range cs.Finding.EventIDs {
		if id == ev.ID {
			return // a redelivered event is not counted twice
		}
	}
	cs.Finding.AddEvent(ev.ID, ev.API, ev.Time)
	if t > cs.Last {
		cs.Last = t
	}
}

// rescore recomputes the finding's score, severity, title, reasons and
// evidence from its signals.
func (cs *Case) rescore(cfg *Config, principal string) {
	groups := map[string]float64{}
	floor := SeverityInfo
	for _, s := range cs.Signals {
		if s.Score > groups[s.Group] {
			groups[s.Group] = s.Score
		}
		if s.Floor > floor {
			floor = s.Floor
		}
	}
	miss := 1.0
	for _, g := range groups {
		miss *= 1 - clamp01(g)
	}
	score := 1 - miss
	sigs := append([]CaseSignal(nil), cs.Signals...)
	sort.SliceStable(sigs, func(i, j int) bool { return sigs[i].Score > sigs[j].Score })
	top := sigs[0]
	f := &cs.Finding
	// The lead signal names the detector and the dedupe key; the ID, the
	// case's identity, stays what it was when the case opened.
	f.Detector = top.Detector
	f.DedupeKey = top.Detector + "|" + principal + "|" + top.Subject
	f.Score = math.Round(score*1000) / 1000
	sev := cfg.Detector(top.Detector).Severity.Severity(score)
	if floor > sev {
		sev = floor
	}
	f.Severity = sev
	name := DisplayName(principal)
	f.Title = truncateRunes(caseTitle(name, sigs), maxTitleRunes)
	f.Reasons = reasons(sigs, name)
	f.NextSteps = runbook(top, name)
	if len(f.EventIDs) > 0 {
		f.ConsoleURL = ConsoleURL(f.Region, f.EventIDs[0])
	}
	var details []any
	for _, s := range sigs {
		d := map[string]any{"detector": s.Detector, "subject": s.Subject, "score": round4(s.Score)}
		for k, v := range s.Evidence {
			d[k] = v
		}
		details = append(details, d)
	}
	f.Evidence = map[string]any{
		"combined_score": f.Score,
		"signals":        details,
	}
	if len(sigs) > 1 {
		f.Evidence["combination"] = fmt.Sprintf("noisy-OR over %d independent groups of %d signals", len(groups), len(sigs))
	}
}

// clone copies what later events change in place (the event lists). The
// reasons and evidence are rebuilt, never edited, by rescore, so they can
// be shared.
func (f Finding) clone() Finding {
	c := f
	c.EventIDs = append([]string(nil), f.EventIDs...)
	c.EventNames = append([]string(nil), f.EventNames...)
	return c
}

// EncodeCases encodes the dedupe state. The finding's title, reasons and
// evidence are left out: they are derived from the signals and rebuilt on
// use, which halves what a store writes.
func EncodeCases(cases []*Case) ([]byte, error) {
	if len(cases) == 0 {
		return nil, nil
	}
	slim := make([]Case, len(cases))
	for i, cs := range cases {
		slim[i] = *cs
		slim[i].Finding.Title = ""
		slim[i].Finding.Reasons = nil
		slim[i].Finding.Evidence = nil
		slim[i].Finding.NextSteps = nil
		slim[i].Finding.ConsoleURL = ""
	}
	return json.Marshal(slim)
}

// DecodeCases decodes what EncodeCases wrote.
func DecodeCases(b []byte) ([]*Case, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var cs []*Case
	if err := json.Unmarshal(b, &cs); err != nil {
		return nil, fmt.Errorf("decode cases: %w", err)
	}
	for _, c := range cs {
		if c == nil || len(c.Signals) == 0 {
			return nil, fmt.Errorf("decode cases: a case without signals")
		}
	}
	return cs, nil
}

// reasons lists the signals' sentences, strongest first. Several new APIs
// read as one sentence, so that on-call sees the story, not a list.
func reasons(sigs []CaseSignal, name string) []string {
	const group = IDFirstSeen + "/api"
	var apis []CaseSignal
	for _, s := range sigs {
		if s.Group == group {
			apis = append(apis, s)
		}
	}
	out := make([]string, 0, len(sigs))
	for _, s := range sigs {
		if s.Group != group || len(apis) < 3 {
			out = append(out, s.Reason)
			continue
		}
		if s.Subject != apis[0].Subject {
			continue
		}
		names := make([]string, 0, len(apis))
		for _, a := range apis {
			names = append(names, strings.TrimPrefix(a.Subject, "api:"))
		}
		list := strings.Join(names, ", ")
		if len(names) > 8 {
			list = strings.Join(names[:8], ", ") + fmt.Sprintf(" and %d more", len(names)-8)
		}
		ev := apis[0].Evidence
		out = append(out, fmt.Sprintf("first time %s called %d APIs: %s (history before them: %v days, %v calls, %v distinct APIs; chance of a new one about %s)",
			name, len(apis), list, ev["history_days"], commasAny(ev["history_events"]), ev["known_values"], pct(asFloat(ev["new_value_probability"]))))
	}
	return out
}

func asFloat(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int:
		return float64(x)
	case uint64:
		return float64(x)
	}
	return 0
}

func commasAny(v any) string { return commas(int(asFloat(v))) }

// maxTitleExtras bounds the clauses a title adds to its lead signal, and
// maxTitleAPIs the first-seen APIs its API clause names.
const (
	maxTitleExtras = 2
	maxTitleAPIs   = 2
	// maxTitleRunes is the length of a title; the lead alone can be longer
	// and is then cut by rescore.
	maxTitleRunes = 200
)

// caseTitle builds a finding's title from its signals, strongest first:
// one sentence that names the principal and the lead signal, then at most
// maxTitleExtras first-seen or unusual-hour clauses, and never states a
// fact twice. A first-seen API that the lead already names becomes "for
// the first time" on the lead; other first-seen APIs share one clause
// ("with first calls to A, B and 3 more"); a first-seen value the lead's title
// already shows (a network, a region) and a second unusual-hour clause
// are left out. The reasons keep every signal.
func caseTitle(name string, sigs []CaseSignal) string {
	top := sigs[0]
	lead := top.Title
	leadAPI := signalAPI(top)
	firstTime := strings.HasSuffix(lead, "for the first time")
	var clauses []string
	var apis []string
	apiClause := -1
	seen := map[string]bool{}
	for _, s := range sigs[1:] {
		switch s.Detector {
		case IDFirstSeen:
			dim, value, _ := strings.Cut(s.Subject, ":")
			if dim == DimAPI.String() {
				if base := strings.TrimSuffix(value, " (denied)"); value == leadAPI || base == leadAPI {
					// The lead names this API: say it is a first, once.
					if value == base && !firstTime {
						lead += " for the first time"
						firstTime = true
					}
					continue
				}
				if value == "" || seen["api:"+value] {
					continue
				}
				if apiClause < 0 {
					if len(clauses) == maxTitleExtras {
						continue
					}
					apiClause = len(clauses)
					clauses = append(clauses, "")
				}
				seen["api:"+value] = true
				apis = append(apis, value)
				continue
			}
			if value == "" || seen[s.Subject] || strings.Contains(lead, value) || len(clauses) == maxTitleExtras {
				continue
			}
			seen[s.Subject] = true
			clauses = append(clauses, s.Title)
		case IDUnusualHour:
			if seen[IDUnusualHour] || len(clauses) == maxTitleExtras {
				continue
			}
			seen[IDUnusualHour] = true
			clauses = append(clauses, s.Title)
		}
	}
	title := name + " " + lead
	for i, c := range clauses {
		if i == apiClause {
			c = apiPhrase(apis, utf8.RuneCountInString(title)+2)
		}
		// A clause that would push the title past maxTitleRunes is left
		// out whole rather than cut.
		if c != "" && utf8.RuneCountInString(title)+2+utf8.RuneCountInString(c) <= maxTitleRunes {
			title += ", " + c
		}
	}
	return title
}

// apiPhrase names first-seen APIs in one clause ("with a first call to A",
// "with first calls to A, B and 3 more"), naming fewer of them when the
// clause would not fit in maxTitleRunes after used runes; "" when none fit.
func apiPhrase(apis []string, used int) string {
	n := len(apis)
	if n == 1 {
		return "with a first call to " + apis[0]
	}
	for shown := min(n, maxTitleAPIs+1); shown >= 1; shown-- {
		var c string
		switch {
		case shown == n:
			c = "with first calls to " + strings.Join(apis[:n-1], ", ") + " and " + apis[n-1]
		case shown == n-1 && shown > maxTitleAPIs:
			continue
		default:
			c = fmt.Sprintf("with first calls to %s and %d more", strings.Join(apis[:shown], ", "), n-shown)
		}
		if used+utf8.RuneCountInString(c) <= maxTitleRunes {
			return c
		}
	}
	return fmt.Sprintf("with first calls to %d APIs", n)
}

// signalAPI is the API a signal is about, or "": a high-risk action's
// (subject "action:<api>"), a first-seen API's without a "(denied)" mark,
// or the "api" in its evidence.
func signalAPI(s CaseSignal) string {
	if api, ok := strings.CutPrefix(s.Subject, "action:"); ok {
		return api
	}
	if s.Detector == IDFirstSeen {
		if api, ok := strings.CutPrefix(s.Subject, DimAPI.String()+":"); ok {
			return api
		}
	}
	if api, ok := s.Evidence["api"].(string); ok {
		return api
	}
	return ""
}
