package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/baselines"
	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/events"
)

const tuneUsage = `Usage: trailwatch tune [flags] PATH...

Backtests thresholds on archived CloudTrail. The archive is read once (the
same inputs, selection and engine as replay) and every detector signal is
kept; then the case folding alone is re-run for each sweep point: each
active detector's threshold (--points values around the current one),
severity bands shifted by -0.10, -0.05, +0.05 and +0.10, and each other
routing minimum. Every point's findings are exactly what replay prints with
that config.

Writes DIR/report.html (self-contained: inline CSS and SVG plots, opens
without a network) and DIR/report.json (the same data for scripts): findings
per day, score distributions per detector, alert volume against threshold
with the current setting marked, top principals, the shadow detectors'
would-be findings, and per point the findings that appear or disappear and
the labelled cases caught or lost (--labels).

Flags:
`

type tuneOptions struct {
	configFile string
	ipRanges   string
	labels     string
	out        string
	points     int
	progress   string
	batchSize  int
	window     int
	region     string
	archive    archiveFlags
}

func tuneFlags(o *tuneOptions, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("tune", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.configFile, "config", "", "thresholds.yaml to tune from (default: the embedded defaults)")
	fs.StringVar(&o.ipRanges, "aws-ip-ranges", os.Getenv("TRAILWATCH_AWS_IP_RANGES"), "AWS ip-ranges.json, plain or gzip, to classify AWS-owned addresses (env TRAILWATCH_AWS_IP_RANGES)")
	fs.StringVar(&o.labels, "labels", "", "labels file: JSON list of cases marked attack or benign (see the README, Tuning loop)")
	fs.StringVar(&o.out, "out", "tune-report", "directory to write report.html and report.json to")
	fs.IntVar(&o.points, "points", 10, "threshold values swept per detector, around the current one")
	fs.StringVar(&o.progress, "progress", "auto", "progress on standard error: auto (when it is a terminal), always or never")
	fs.IntVar(&o.batchSize, "batch-size", 100, "events per engine batch, as the Lambda receives them from SQS")
	fs.IntVar(&o.window, "reorder-window", 16384, "events held to put records in time order across files")
	fs.StringVar(&o.region, "region", "", "AWS region for s3:// inputs (default: from the environment, else us-east-1)")
	archiveFlagSet(fs, &o.archive)
	fs.Usage = func() {
		fmt.Fprint(stderr, tuneUsage)
		fs.PrintDefaults()
		fmt.Fprint(stderr, "\nExit status: 0 on success, 1 when the run fails, 2 on wrong usage.\n")
	}
	return fs
}

func runTune(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var o tuneOptions
	fs := tuneFlags(&o, stderr)
	paths, done, err := commandArgs(fs, args, true)
	if done {
		return err
	}
	if o.points < 1 || o.points > 100 {
		return usageErr("--points must be between 1 and 100")
	}
	if err := checkBatchSize(o.batchSize); err != nil {
		return err
	}
	cfg, err := loadConfig(o.configFile, stderr)
	if err != nil {
		return err
	}
	cfgName := "embedded defaults"
	if o.configFile != "" {
		cfgName = o.configFile
	}
	var labels []tuneLabel
	if o.labels != "" {
		if labels, err = loadLabels(o.labels); err != nil {
			return err
		}
	}
	norm, err := inputNormalizer(cfg, o.ipRanges, paths)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rd := &events.Reader{Normalizer: norm, Stdin: stdin, Window: o.window}
	if err := setupArchive(ctx, rd, &o.archive, o.region, paths); err != nil {
		return err
	}
	sweep := sweepConfigs(cfg, o.points)

	start := time.Now()
	show := progressShown(o.progress, stderr)
	stopProgress := startProgress(o.progress, stderr, &rd.Stats, start)
	rec, base, cal, err := recordArchive(ctx, rd, paths, cfg, o.batchSize, minThreshold(cfg, sweep))
	stopProgress()
	if err != nil {
		return err
	}
	readTime := time.Since(start)

	sweepStart := time.Now()
	rep := newTuneReport(cfg, cfgName, paths, rec, labels)
	rep.addCalibration(cal)
	cur := refold(rec, cfg)
	if !sameFindings(cur, base) {
		// Refold shares the folding code with replay; a difference here
		// is a bug, never a tuning result.
		return errors.New("tune: re-folding the current config does not reproduce the pass's findings")
	}
	rep.addPoint(tunePoint{Name: "current config", Kind: "current", Current: true}, cur)
	for i, sp := range sweep {
		rep.addPoint(sp.point, refold(rec, sp.cfg))
		if show {
			drawBar(stderr, "sweeping", i+1, len(sweep))
		}
	}
	if show {
		fmt.Fprint(stderr, "\r\033[K")
	}
	rep.finish()
	rep.ReadSeconds = readTime.Seconds()
	rep.SweepSeconds = time.Since(sweepStart).Seconds()

	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return fmt.Errorf("tune: %w", err)
	}
	if err := writeJSONFile(filepath.Join(o.out, "report.json"), rep); err != nil {
		return err
	}
	html, err := renderTuneHTML(rep)
	if err != nil {
		return fmt.Errorf("tune: render report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(o.out, "report.html"), html, 0o644); err != nil {
		return fmt.Errorf("tune: %w", err)
	}
	fmt.Fprintf(stderr, "trailwatch tune: %d records read, %d events, %d signals kept; %d sweep points in %.2fs (reading %.2fs); %d findings routed with the current config\n",
		rd.Stats.Read.Load(), rec.Events(), rec.Signals(), len(sweep), rep.SweepSeconds, readTime.Seconds(), rep.Current.Findings)
	fmt.Fprintf(stdout, "%s\n%s\n", filepath.Join(o.out, "report.html"), filepath.Join(o.out, "report.json"))
	return nil
}

// recordArchive reads the inputs once through the engine, as replay does
// (memory store, batches of batchSize), with the signal recording on. It
// returns the recording and the findings of that pass, by ID.
func recordArchive(ctx context.Context, rd *events.Reader, paths []string, cfg *detectors.Config, batchSize int, minScore float64) (*detectors.Recording, map[string]detectors.Finding, *detectors.Calibration, error) {
	eng := detectors.NewEngine(cfg, baselines.NewMemory(), slog.New(slog.DiscardHandler))
	rec := &detectors.Recording{MinScore: minScore}
	eng.Recording = rec
	cal := &detectors.Calibration{}
	eng.Calibration = cal
	findings := map[string]detectors.Finding{}
	batch := make([]events.Event, 0, batchSize)
	var processErr error
	flush := func() bool {
		if len(batch) == 0 {
			return true
		}
		res, err := eng.Process(ctx, batch)
		batch = batch[:0]
		if err != nil {
			processErr = err
			return false
		}
		for _, u := range res.Updates {
			findings[u.Finding.ID] = u.Finding
		}
		return true
	}
	var readErr error
	for ev := range rd.EventsContext(ctx, paths, &readErr) {
		if ctx.Err() != nil {
			break
		}
		batch = append(batch, ev)
		if len(batch) == batchSize && !flush() {
			break
		}
	}
	if processErr == nil {
		flush()
	}
	switch {
	case readErr != nil:
		return nil, nil, nil, readErr
	case processErr != nil:
		return nil, nil, nil, processErr
	case ctx.Err() != nil:
		return nil, nil, nil, errors.New("interrupted")
	}
	return rec, findings, cal, nil
}

// refold returns the findings of the recorded stream under cfg, by ID,
// each in its final state: what replay with cfg collects.
func refold(rec *detectors.Recording, cfg *detectors.Config) map[string]detectors.Finding {
	out := map[string]detectors.Finding{}
	rec.Refold(cfg, func(u detectors.Update) { out[u.Finding.ID] = u.Finding })
	return out
}

// sweepPoint is one config of the sweep.
type sweepPoint struct {
	point tunePoint
	cfg   *detectors.Config
}

// bandShifts are the severity band moves swept, applied to every detector.
var bandShifts = []float64{-0.10, -0.05, 0.05, 0.10}

// sweepConfigs derives the sweep from the current config: n thresholds per
// active detector, the band shifts, and every other routing minimum.
func sweepConfigs(base *detectors.Config, n int) []sweepPoint {
	var out []sweepPoint
	for _, id := range detectors.DetectorIDs() {
		dc := base.Detector(id)
		if dc.Mode == detectors.ModeOff {
			continue
		}
		for _, th := range thresholdValues(dc.Threshold, n) {
			c := cloneConfig(base)
			d := c.Detector(id)
			d.Threshold = th
			c.Detectors[id] = d
			out = append(out, sweepPoint{tunePoint{Name: fmt.Sprintf("%s threshold %.3g", id, th), Kind: "threshold", Detector: id, Value: th}, c})
		}
	}
	for _, delta := range bandShifts {
		c := cloneConfig(base)
		for _, id := range detectors.DetectorIDs() {
			d := c.Detector(id)
			d.Severity = shiftBands(d.Severity, delta)
			c.Detectors[id] = d
		}
		out = append(out, sweepPoint{tunePoint{Name: fmt.Sprintf("severity bands %+.2f", delta), Kind: "bands", Value: delta}, c})
	}
	for sev := detectors.SeverityInfo; sev <= detectors.SeverityCritical; sev++ {
		if sev == base.Routing.SNSMinSeverity {
			continue
		}
		c := cloneConfig(base)
		c.Routing.SNSMinSeverity = sev
		out = append(out, sweepPoint{tunePoint{Name: "routing minimum " + sev.String(), Kind: "routing", Value: float64(sev), Severity: sev.String()}, c})
	}
	return out
}

// thresholdValues spreads n thresholds evenly over the current one ±0.25
// (within [0.01, 0.99]), leaving out the current value itself.
func thresholdValues(cur float64, n int) []float64 {
	lo, hi := math.Max(0.01, cur-0.25), math.Min(0.99, cur+0.25)
	var out []float64
	for i := 0; i < n; i++ {
		v := lo
		if n > 1 {
			v = lo + (hi-lo)*float64(i)/float64(n-1)
		}
		v = math.Round(v*1000) / 1000
		if v == cur {
			v = math.Round((v+(hi-lo)/float64(2*n))*1000) / 1000
		}
		out = append(out, v)
	}
	return out
}

func shiftBands(b detectors.Bands, d float64) detectors.Bands {
	c := func(x float64) float64 { return math.Round(math.Min(1, math.Max(0, x+d))*1000) / 1000 }
	return detectors.Bands{Low: c(b.Low), Medium: c(b.Medium), High: c(b.High), Critical: c(b.Critical)}
}

// cloneConfig copies what a sweep point changes: detector settings and
// routing. Everything the detectors read is shared, unchanged.
func cloneConfig(base *detectors.Config) *detectors.Config {
	c := *base
	c.Detectors = maps.Clone(base.Detectors)
	if c.Detectors == nil {
		c.Detectors = map[string]detectors.DetectorConfig{}
	}
	return &c
}

// minThreshold is the lowest threshold any config of the run uses: the
// recording keeps no signal below it.
func minThreshold(base *detectors.Config, sweep []sweepPoint) float64 {
	lo := 1.0
	for _, c := range append([]*detectors.Config{base}, sweepCfgs(sweep)...) {
		for _, id := range detectors.DetectorIDs() {
			lo = math.Min(lo, c.Detector(id).Threshold)
		}
	}
	return lo
}

func sweepCfgs(sweep []sweepPoint) []*detectors.Config {
	out := make([]*detectors.Config, len(sweep))
	for i := range sweep {
		out[i] = sweep[i].cfg
	}
	return out
}

// sameFindings reports whether two finding sets are equal, as JSON.
func sameFindings(a, b map[string]detectors.Finding) bool {
	if len(a) != len(b) {
		return false
	}
	for id, fa := range a {
		fb, ok := b[id]
		if !ok {
			return false
		}
		ja, _ := json.Marshal(fa)
		jb, _ := json.Marshal(fb)
		if string(ja) != string(jb) {
			return false
		}
	}
	return true
}

// progressShown reports whether a progress display is wanted on w.
func progressShown(mode string, w io.Writer) bool {
	if mode == "always" {
		return true
	}
	if mode != "auto" {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// drawBar draws a progress bar on one terminal line.
func drawBar(w io.Writer, what string, done, total int) {
	const width = 30
	n := width * done / max(total, 1)
	fmt.Fprintf(w, "\r\033[K%s [%s%s] %d/%d", what, strings.Repeat("#", n), strings.Repeat("-", width-n), done, total)
}

func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("tune: encode %s: %w", filepath.Base(path), err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("tune: %w", err)
	}
	return nil
}

// tuneLabel is one labelled case of a labels file (the format of
// testdata/sample/labels.json): a name, its kind ("attack" or "malicious",
// "benign"), the CloudTrail event IDs and/or finding dedupe keys that make
// it up, and optionally the least severity that counts as caught
// ("HIGH+") or the most it may get without counting as alerted ("LOW-");
// by default any routed finding counts.
type tuneLabel struct {
	Name        string   `json:"name"`
	Kind        string   `json:"kind"`
	Description string   `json:"description,omitempty"`
	EventIDs    []string `json:"event_ids,omitempty"`
	DedupeKeys  []string `json:"dedupe_keys,omitempty"`
	Expect      string   `json:"expect,omitempty"`

	attack bool
	// sev and atMost come from Expect: "HIGH+" counts findings of HIGH
	// and above; "LOW-" counts only findings above LOW (a benign case may
	// show as LOW or less).
	sev    detectors.Severity
	atMost bool
	ids    map[string]bool
	keys   map[string]bool
}

// loadLabels reads and checks a labels file.
func loadLabels(path string) ([]tuneLabel, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	var ls []tuneLabel
	if err := json.Unmarshal(b, &ls); err != nil {
		return nil, fmt.Errorf("labels %s: %w", path, err)
	}
	for i := range ls {
		l := &ls[i]
		switch strings.ToLower(l.Kind) {
		case "attack", "malicious":
			l.attack = true
		case "benign":
		default:
			return nil, fmt.Errorf("labels %s: case %d (%s): kind %q is not attack, malicious or benign", path, i+1, l.Name, l.Kind)
		}
		if len(l.EventIDs) == 0 && len(l.DedupeKeys) == 0 {
			return nil, fmt.Errorf("labels %s: case %d (%s): needs event_ids or dedupe_keys", path, i+1, l.Name)
		}
		if l.Expect != "" {
			if l.sev, l.atMost, err = parseExpect(l.Expect); err != nil {
				return nil, fmt.Errorf("labels %s: case %d (%s): %w", path, i+1, l.Name, err)
			}
		}
		if l.Name == "" {
			l.Name = fmt.Sprintf("case %d", i+1)
		}
		l.ids, l.keys = map[string]bool{}, map[string]bool{}
		for _, id := range l.EventIDs {
			l.ids[id] = true
		}
		for _, k := range l.DedupeKeys {
			l.keys[k] = true
		}
	}
	return ls, nil
}

// matches reports whether a routed finding covers the labelled case: it
// holds one of its events or has one of its dedupe keys, at the severity
// Expect counts.
func (l *tuneLabel) matches(f *detectors.Finding) bool {
	if (l.atMost && f.Severity <= l.sev) || (!l.atMost && f.Severity < l.sev) {
		return false
	}
	if l.keys[f.DedupeKey] {
		return true
	}
	for _, id := range f.EventIDs {
		if l.ids[id] {
			return true
		}
	}
	return false
}

// parseExpect reads a label's expect: a severity with "+" (at least) or
// "-" (at most: only findings above it count).
func parseExpect(s string) (detectors.Severity, bool, error) {
	atMost := strings.HasSuffix(s, "-")
	sev, err := detectors.ParseSeverity(strings.TrimRight(s, "+-"))
	if err != nil {
		return 0, false, fmt.Errorf("expect %q: %w", s, err)
	}
	return sev, atMost, nil
}
