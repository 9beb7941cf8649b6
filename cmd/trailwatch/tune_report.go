package main

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"math"
	"sort"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/events"
)

// scoreBins is the number of bins of the score distributions, over [0, 1].
const scoreBins = 20

// maxListed bounds the findings a point lists as appearing or disappearing.
const maxListed = 200

// tuneReport is report.json, and what report.html shows.
type tuneReport struct {
	Generated string   `json:"generated"`
	Config    string   `json:"config"`
	Inputs    []string `json:"inputs"`
	// Events and Signals count what the pass recorded (signals at or
	// above MinScore).
	Events   int     `json:"events"`
	Signals  int     `json:"signals"`
	MinScore float64 `json:"min_score_recorded"`
	// Detectors holds the current settings.
	Detectors  map[string]detectors.DetectorConfig `json:"detectors"`
	RoutingMin string                              `json:"routing_min_severity"`
	Days       []string                            `json:"days"`
	Current    *tunePoint                          `json:"current"`
	Points     []*tunePoint                        `json:"points"`
	// ScoreHistograms holds, per detector, the recorded signal scores in
	// scoreBins bins of equal width over [0, 1].
	ScoreHistograms map[string][]int `json:"score_histograms"`
	TopPrincipals   []principalTally `json:"top_principals"`
	// Shadow lists the shadow detectors' would-be findings with the
	// current config (the promotion report).
	Shadow []findingRef   `json:"shadow_findings"`
	Labels []labelOutcome `json:"labels,omitempty"`
	// Calibration compares the novelty estimate with what the archive's
	// mature principals did: per bucket of predicted chance of a new
	// value, over all dimensions (detectors.Calibration).
	Calibration  []calibrationRow `json:"novelty_calibration"`
	ReadSeconds  float64          `json:"read_seconds"`
	SweepSeconds float64          `json:"sweep_seconds"`

	cfg    *detectors.Config
	labels []tuneLabel
	curSet map[string]findingRef
	curLab map[string]bool
}

// tunePoint is one config of the sweep and what it yields.
type tunePoint struct {
	Name     string  `json:"name"`
	Kind     string  `json:"kind"` // current, threshold, bands, routing
	Detector string  `json:"detector,omitempty"`
	Value    float64 `json:"value"`
	Severity string  `json:"severity,omitempty"`
	Current  bool    `json:"current,omitempty"`
	// Findings counts the routed findings (what replay prints); All the
	// alert-mode findings at any severity.
	Findings       int            `json:"findings"`
	All            int            `json:"findings_any_severity"`
	ShadowFindings int            `json:"shadow_findings"`
	PerDay         map[string]int `json:"findings_per_day"`
	Appeared       []findingRef   `json:"appeared"`
	Disappeared    []findingRef   `json:"disappeared"`
	AppearedN      int            `json:"appeared_count"`
	DisappearedN   int            `json:"disappeared_count"`
	AttacksCaught  int            `json:"attacks_caught"`
	Attacks        int            `json:"attacks"`
	BenignAlerted  int            `json:"benign_alerted"`
	Benign         int            `json:"benign"`
	Caught         []string       `json:"caught,omitempty"`
	Lost           []string       `json:"lost,omitempty"`
	NewlyAlerted   []string       `json:"newly_alerted,omitempty"`
	Quieted        []string       `json:"quieted,omitempty"`

	caught map[string]bool
}

// findingRef names a finding across sweep points: its principal and first
// event (a finding's ID depends on when its case opened, which thresholds
// move).
type findingRef struct {
	Key        string    `json:"key"`
	ID         string    `json:"id"`
	Detector   string    `json:"detector"`
	Severity   string    `json:"severity"`
	Principal  string    `json:"principal"`
	Title      string    `json:"title"`
	FirstEvent time.Time `json:"first_event_time"`
}

type principalTally struct {
	Principal string `json:"principal"`
	Name      string `json:"name"`
	Findings  int    `json:"findings"`
}

// calibrationRow is one bucket of predictions.
type calibrationRow struct {
	From         float64 `json:"predicted_from"`
	To           float64 `json:"predicted_to"`
	Observations int     `json:"observations"`
	NewValues    int     `json:"new_values"`
	Predicted    float64 `json:"mean_predicted"`
	Observed     float64 `json:"observed_rate"`
	// Judged says the bucket has enough observations
	// (detectors.CalMinObservations) for its ratio to mean something.
	Judged bool `json:"judged"`
}

func (r *tuneReport) addCalibration(cal *detectors.Calibration) {
	for i, b := range cal.All {
		if b.N == 0 {
			continue
		}
		lo, hi := detectors.BucketRange(i)
		r.Calibration = append(r.Calibration, calibrationRow{From: lo, To: hi, Observations: b.N, NewValues: b.New,
			Predicted: b.Mean(), Observed: b.Rate(), Judged: b.N >= detectors.CalMinObservations})
	}
}

// calibrationPlot draws each bucket's observed rate of new values against
// its mean predicted chance, on log scales, with the diagonal and the
// factor-of-two band a calibrated estimator stays within.
func (r *tuneReport) calibrationPlot() (*plot.Plot, error) {
	p := newPlot("Novelty calibration", "mean predicted chance of a new value", "observed rate of new values")
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	lo, hi := 1e-5, 1.0
	var pts plotter.XYs
	for _, c := range r.Calibration {
		if !c.Judged || c.NewValues == 0 {
			continue
		}
		pts = append(pts, plotter.XY{X: c.Predicted, Y: c.Observed})
		lo = math.Min(lo, math.Min(c.Predicted, c.Observed)/2)
	}
	for _, f := range []float64{0.5, 1, 2} {
		l, err := plotter.NewLine(plotter.XYs{{X: lo, Y: lo * f}, {X: hi, Y: hi * f}})
		if err != nil {
			return nil, err
		}
		l.Color = colMuted
		if f == 1 {
			l.Color = colMain
		}
		p.Add(l)
	}
	if len(pts) > 0 {
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return nil, err
		}
		sc.Color = colCurrent
		p.Add(sc)
	}
	p.X.Min, p.Y.Min, p.X.Max, p.Y.Max = lo, lo, hi, hi
	return p, nil
}

type labelOutcome struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Alerted  bool   `json:"alerted"`
	Severity string `json:"best_severity,omitempty"`
	Title    string `json:"title,omitempty"`
}

func refOf(f *detectors.Finding) findingRef {
	first := ""
	if len(f.EventIDs) > 0 {
		first = f.EventIDs[0]
	}
	return findingRef{Key: f.Principal + "|" + first, ID: f.ID, Detector: f.Detector, Severity: f.Severity.String(),
		Principal: f.Principal, Title: f.Title, FirstEvent: f.FirstEventTime}
}

func newTuneReport(cfg *detectors.Config, cfgName string, inputs []string, rec *detectors.Recording, labels []tuneLabel) *tuneReport {
	r := &tuneReport{
		Generated: time.Now().UTC().Format(time.RFC3339), Config: cfgName, Inputs: inputs,
		Events: rec.Events(), Signals: rec.Signals(), MinScore: rec.MinScore,
		Detectors: map[string]detectors.DetectorConfig{}, RoutingMin: cfg.Routing.SNSMinSeverity.String(),
		ScoreHistograms: map[string][]int{}, cfg: cfg, labels: labels,
	}
	for _, id := range detectors.DetectorIDs() {
		r.Detectors[id] = cfg.Detector(id)
		r.ScoreHistograms[id] = make([]int, scoreBins)
	}
	rec.EachSignal(func(_ *events.Event, s *detectors.Signal) {
		h := r.ScoreHistograms[s.Detector]
		if h == nil {
			return
		}
		b := int(s.Score * scoreBins)
		h[min(max(b, 0), scoreBins-1)]++
	})
	return r
}

// addPoint summarizes the findings of one config. The current config comes
// first: the others are compared with it.
func (r *tuneReport) addPoint(p tunePoint, all map[string]detectors.Finding) *tunePoint {
	pt := &p
	minSev := r.cfg.Routing.SNSMinSeverity
	if p.Kind == "routing" {
		minSev, _ = detectors.ParseSeverity(p.Severity)
	}
	routed := selectFindings(all, minSev, false)
	pt.Findings = len(routed)
	pt.All = len(selectFindings(all, detectors.SeverityInfo, false))
	pt.PerDay = map[string]int{}
	set := map[string]findingRef{}
	for i := range routed {
		f := &routed[i]
		pt.PerDay[f.FirstEventTime.UTC().Format(time.DateOnly)]++
		ref := refOf(f)
		set[ref.Key] = ref
	}
	var shadow []findingRef
	for _, f := range selectFindings(all, minSev, true) {
		if f.Mode == detectors.ModeShadow {
			shadow = append(shadow, refOf(&f))
		}
	}
	pt.ShadowFindings = len(shadow)
	pt.caught = map[string]bool{}
	for i := range r.labels {
		l := &r.labels[i]
		hit := false
		for j := range routed {
			if l.matches(&routed[j]) {
				hit = true
				break
			}
		}
		pt.caught[l.Name] = hit
		if l.attack {
			pt.Attacks++
			if hit {
				pt.AttacksCaught++
				pt.Caught = append(pt.Caught, l.Name)
			}
		} else {
			pt.Benign++
			if hit {
				pt.BenignAlerted++
			}
		}
	}
	if p.Current {
		r.Current = pt
		r.curSet = set
		r.curLab = pt.caught
		r.Shadow = shadow
		r.tallyPrincipals(routed)
		r.labelOutcomes(routed)
		return pt
	}
	for k, ref := range set {
		if _, ok := r.curSet[k]; !ok {
			pt.Appeared = append(pt.Appeared, ref)
		}
	}
	for k, ref := range r.curSet {
		if _, ok := set[k]; !ok {
			pt.Disappeared = append(pt.Disappeared, ref)
		}
	}
	pt.AppearedN, pt.DisappearedN = len(pt.Appeared), len(pt.Disappeared)
	pt.Appeared, pt.Disappeared = sortRefs(pt.Appeared), sortRefs(pt.Disappeared)
	for i := range r.labels {
		l := &r.labels[i]
		now, before := pt.caught[l.Name], r.curLab[l.Name]
		switch {
		case l.attack && before && !now:
			pt.Lost = append(pt.Lost, l.Name)
		case !l.attack && now && !before:
			pt.NewlyAlerted = append(pt.NewlyAlerted, l.Name)
		case !l.attack && before && !now:
			pt.Quieted = append(pt.Quieted, l.Name)
		}
	}
	r.Points = append(r.Points, pt)
	return pt
}

func sortRefs(refs []findingRef) []findingRef {
	sort.Slice(refs, func(i, j int) bool {
		if !refs[i].FirstEvent.Equal(refs[j].FirstEvent) {
			return refs[i].FirstEvent.Before(refs[j].FirstEvent)
		}
		return refs[i].Key < refs[j].Key
	})
	if len(refs) > maxListed {
		refs = refs[:maxListed]
	}
	if refs == nil {
		refs = []findingRef{}
	}
	return refs
}

func (r *tuneReport) tallyPrincipals(routed []detectors.Finding) {
	n := map[string]int{}
	for _, f := range routed {
		n[f.Principal]++
	}
	for p, c := range n {
		r.TopPrincipals = append(r.TopPrincipals, principalTally{Principal: p, Name: detectors.DisplayName(p), Findings: c})
	}
	sort.Slice(r.TopPrincipals, func(i, j int) bool {
		a, b := r.TopPrincipals[i], r.TopPrincipals[j]
		if a.Findings != b.Findings {
			return a.Findings > b.Findings
		}
		return a.Principal < b.Principal
	})
	if len(r.TopPrincipals) > 10 {
		r.TopPrincipals = r.TopPrincipals[:10]
	}
}

func (r *tuneReport) labelOutcomes(routed []detectors.Finding) {
	for i := range r.labels {
		l := &r.labels[i]
		o := labelOutcome{Name: l.Name, Kind: l.Kind}
		best := detectors.Severity(-1)
		for j := range routed {
			f := &routed[j]
			if l.matches(f) && f.Severity > best {
				best, o.Alerted, o.Severity, o.Title = f.Severity, true, f.Severity.String(), f.Title
			}
		}
		r.Labels = append(r.Labels, o)
	}
}

// finish lists every day from the first to the last finding of any point.
func (r *tuneReport) finish() {
	var lo, hi time.Time
	for _, p := range append([]*tunePoint{r.Current}, r.Points...) {
		for d := range p.PerDay {
			t, err := time.Parse(time.DateOnly, d)
			if err != nil {
				continue
			}
			if lo.IsZero() || t.Before(lo) {
				lo = t
			}
			if t.After(hi) {
				hi = t
			}
		}
	}
	r.Days = []string{}
	for d := lo; !lo.IsZero() && !d.After(hi); d = d.AddDate(0, 0, 1) {
		r.Days = append(r.Days, d.Format(time.DateOnly))
	}
}

// Plots.

var (
	colCurrent = color.RGBA{R: 0xc0, G: 0x39, B: 0x2b, A: 0xff}
	colMain    = color.RGBA{R: 0x2c, G: 0x6f, B: 0xbb, A: 0xff}
	colMuted   = color.RGBA{R: 0xaa, G: 0xaa, B: 0xaa, A: 0xff}
	colShadow  = color.RGBA{R: 0x8e, G: 0x8e, B: 0x8e, A: 0xff}
)

// svgOf renders a plot as an SVG element (no XML prologue), for inlining.
func svgOf(p *plot.Plot, w, h vg.Length) (template.HTML, error) {
	c := vgsvg.New(w, h)
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return "", err
	}
	s := buf.String()
	if i := strings.Index(s, "<svg"); i >= 0 {
		s = s[i:]
	}
	return template.HTML(s), nil
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Add(plotter.NewGrid())
	return p
}

func vline(x, ymax float64, c color.Color) (*plotter.Line, error) {
	l, err := plotter.NewLine(plotter.XYs{{X: x, Y: 0}, {X: x, Y: ymax}})
	if err != nil {
		return nil, err
	}
	l.Color = c
	l.Width = vg.Points(1.5)
	l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	return l, nil
}

// perDayPlot draws the routed (and shadow) findings per day with the
// current config.
func (r *tuneReport) perDayPlot() (*plot.Plot, error) {
	p := newPlot("Findings per day (current config)", "day (UTC)", "findings")
	p.X.Tick.Marker = plot.TimeTicks{Format: "01-02"}
	xy := make(plotter.XYs, 0, len(r.Days))
	for _, d := range r.Days {
		t, _ := time.Parse(time.DateOnly, d)
		xy = append(xy, plotter.XY{X: float64(t.Unix()), Y: float64(r.Current.PerDay[d])})
	}
	if len(xy) == 0 {
		xy = append(xy, plotter.XY{X: float64(time.Now().Unix()), Y: 0})
	}
	l, pts, err := plotter.NewLinePoints(xy)
	if err != nil {
		return nil, err
	}
	l.Color, pts.Color = colMain, colMain
	p.Add(l, pts)
	p.Legend.Add("routed findings", l, pts)
	p.Legend.Top, p.Legend.Left = true, true
	p.Y.Min = 0
	return p, nil
}

// scorePlot draws a detector's signal score distribution with its
// threshold marked.
func (r *tuneReport) scorePlot(id string) (*plot.Plot, error) {
	p := newPlot(id+": signal scores", "score", "signals")
	h := r.ScoreHistograms[id]
	bins := make([]plotter.HistogramBin, scoreBins)
	ymax := 1.0
	for i := range bins {
		bins[i] = plotter.HistogramBin{Min: float64(i) / scoreBins, Max: float64(i+1) / scoreBins, Weight: float64(h[i])}
		ymax = max(ymax, float64(h[i]))
	}
	hist := &plotter.Histogram{Bins: bins, Width: 1.0 / scoreBins, FillColor: colMain, LineStyle: plotter.DefaultLineStyle}
	p.Add(hist)
	th, err := vline(r.Detectors[id].Threshold, ymax, colCurrent)
	if err != nil {
		return nil, err
	}
	p.Add(th)
	p.Legend.Add(fmt.Sprintf("threshold %.3g", r.Detectors[id].Threshold), th)
	p.Legend.Top = true
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, ymax*1.25
	return p, nil
}

// volumePlot draws the routed findings against a detector's threshold,
// the current setting marked.
func (r *tuneReport) volumePlot(id string) (*plot.Plot, error) {
	p := newPlot(id+": alert volume against threshold", "threshold", "routed findings")
	cur := r.Detectors[id].Threshold
	xy := plotter.XYs{{X: cur, Y: float64(r.Current.Findings)}}
	for _, pt := range r.Points {
		if pt.Kind == "threshold" && pt.Detector == id {
			xy = append(xy, plotter.XY{X: pt.Value, Y: float64(pt.Findings)})
		}
	}
	sort.Slice(xy, func(i, j int) bool { return xy[i].X < xy[j].X })
	l, pts, err := plotter.NewLinePoints(xy)
	if err != nil {
		return nil, err
	}
	l.Color, pts.Color = colMain, colMain
	p.Add(l, pts)
	ymax := 1.0
	for _, v := range xy {
		ymax = max(ymax, v.Y)
	}
	mark, err := vline(cur, ymax, colCurrent)
	if err != nil {
		return nil, err
	}
	here, err := plotter.NewScatter(plotter.XYs{{X: cur, Y: float64(r.Current.Findings)}})
	if err != nil {
		return nil, err
	}
	here.Color = colCurrent
	here.Shape = draw.CircleGlyph{}
	here.Radius = vg.Points(4)
	p.Add(mark, here)
	p.Legend.Add("routed findings", l, pts)
	p.Legend.Add(fmt.Sprintf("current %.3g", cur), mark, here)
	p.Legend.Top = true
	p.Y.Min, p.Y.Max = 0, ymax*1.4
	return p, nil
}

// principalsPlot draws the principals with the most routed findings.
func (r *tuneReport) principalsPlot() (*plot.Plot, error) {
	p := newPlot("Top principals (current config)", "routed findings", "")
	vals := plotter.Values{}
	var names []string
	// Bottom to top: the most findings last, at the top.
	for i := len(r.TopPrincipals) - 1; i >= 0; i-- {
		t := r.TopPrincipals[i]
		vals = append(vals, float64(t.Findings))
		names = append(names, t.Name)
	}
	if len(vals) == 0 {
		vals, names = plotter.Values{0}, []string{"(no findings)"}
	}
	bc, err := plotter.NewBarChart(vals, vg.Points(14))
	if err != nil {
		return nil, err
	}
	bc.Horizontal = true
	bc.Color = colMain
	p.Add(bc)
	p.NominalY(names...)
	p.X.Min = 0
	return p, nil
}

// figure is one plot of the HTML report.
type figure struct {
	ID  string
	SVG template.HTML
}

func (r *tuneReport) figures() ([]figure, error) {
	type mk struct {
		id   string
		f    func() (*plot.Plot, error)
		w, h vg.Length
	}
	list := []mk{{"per-day", r.perDayPlot, 18 * vg.Centimeter, 7 * vg.Centimeter}}
	for _, id := range detectors.DetectorIDs() {
		if r.Detectors[id].Mode == detectors.ModeOff {
			continue
		}
		list = append(list, mk{"scores-" + id, func() (*plot.Plot, error) { return r.scorePlot(id) }, 9 * vg.Centimeter, 6 * vg.Centimeter})
	}
	for _, id := range detectors.DetectorIDs() {
		if r.Detectors[id].Mode == detectors.ModeOff {
			continue
		}
		list = append(list, mk{"volume-" + id, func() (*plot.Plot, error) { return r.volumePlot(id) }, 9 * vg.Centimeter, 6 * vg.Centimeter})
	}
	list = append(list, mk{"principals", r.principalsPlot, 18 * vg.Centimeter, 8 * vg.Centimeter})
	list = append(list, mk{"calibration", r.calibrationPlot, 12 * vg.Centimeter, 10 * vg.Centimeter})
	out := make([]figure, 0, len(list))
	for _, m := range list {
		p, err := m.f()
		if err != nil {
			return nil, fmt.Errorf("plot %s: %w", m.id, err)
		}
		svg, err := svgOf(p, m.w, m.h)
		if err != nil {
			return nil, fmt.Errorf("plot %s: %w", m.id, err)
		}
		out = append(out, figure{ID: m.id, SVG: svg})
	}
	return out, nil
}

func renderTuneHTML(r *tuneReport) ([]byte, error) {
	figs, err := r.figures()
	if err != nil {
		return nil, err
	}
	byID := map[string]*figure{}
	for i := range figs {
		byID[figs[i].ID] = &figs[i]
	}
	var buf bytes.Buffer
	err = tuneTemplate.Execute(&buf, struct {
		R    *tuneReport
		Figs map[string]*figure
		IDs  []string
	}{r, byID, detectors.DetectorIDs()})
	return buf.Bytes(), err
}

var tuneTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"join": func(s []string) string { return strings.Join(s, ", ") },
	"head": func(refs []findingRef) []findingRef { return refs[:min(len(refs), 10)] },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>trailwatch tune report</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:80em}
h1,h2{font-weight:600}
table{border-collapse:collapse;margin:1em 0;font-size:90%}
td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
tr.current{background:#fdecea;font-weight:600}
.grid{display:flex;flex-wrap:wrap;gap:1em}
figure.plot{margin:0;border:1px solid #eee;padding:.25em}
.muted{color:#777}
details{margin:.2em 0}
</style></head><body>
<h1>trailwatch tune report</h1>
<p>Config: <code>{{.R.Config}}</code>. Inputs: {{range .R.Inputs}}<code>{{.}}</code> {{end}}<br>
{{.R.Events}} events, {{.R.Signals}} signals kept (score at least {{printf "%.3g" .R.MinScore}}); read once in {{printf "%.2f" .R.ReadSeconds}}s, {{len .R.Points}} sweep points re-folded in {{printf "%.2f" .R.SweepSeconds}}s. Generated {{.R.Generated}}.<br>
With the current config: <b>{{.R.Current.Findings}}</b> routed findings (severity &ge; {{.R.RoutingMin}}){{if .R.Labels}}, {{.R.Current.AttacksCaught}}/{{.R.Current.Attacks}} labelled attacks caught, {{.R.Current.BenignAlerted}}/{{.R.Current.Benign}} benign cases alerted{{end}}.</p>

<h2>Findings per day</h2>
<figure class="plot" id="fig-per-day">{{(index .Figs "per-day").SVG}}</figure>

<h2>Alert volume against threshold</h2>
<p class="muted">Routed findings when only that detector's threshold changes; the current setting is marked in red.</p>
<div class="grid">{{range .IDs}}{{with index $.Figs (printf "volume-%s" .)}}<figure class="plot" id="fig-{{.ID}}">{{.SVG}}</figure>{{end}}{{end}}</div>

<h2>Score distributions per detector</h2>
<p class="muted">Every signal the detectors raised (before thresholds), with the current threshold.</p>
<div class="grid">{{range .IDs}}{{with index $.Figs (printf "scores-%s" .)}}<figure class="plot" id="fig-{{.ID}}">{{.SVG}}</figure>{{end}}{{end}}</div>

<h2>Top principals</h2>
<figure class="plot" id="fig-principals">{{(index .Figs "principals").SVG}}</figure>

<h2>Novelty calibration</h2>
<p class="muted">For every event of a mature principal and every dimension with a value: the predicted chance of a new value against whether it was new, by bucket of prediction. A calibrated estimate stays between the grey lines (a factor of two) wherever a bucket has at least 200 observations (marked *).</p>
<figure class="plot" id="fig-calibration">{{(index .Figs "calibration").SVG}}</figure>
<table><tr><th>predicted</th><th>observations</th><th>new values</th><th>mean predicted</th><th>observed rate</th></tr>
{{range .R.Calibration}}<tr><td>[{{printf "%.2g" .From}}, {{printf "%.2g" .To}})</td><td>{{.Observations}}{{if .Judged}} *{{end}}</td><td>{{.NewValues}}</td><td>{{printf "%.3g" .Predicted}}</td><td>{{printf "%.3g" .Observed}}</td></tr>
{{end}}</table>

<h2>Sweep points</h2>
<p class="muted">Each row is exactly what <code>trailwatch replay</code> prints with that config. Appeared and disappeared compare with the current config (a finding is its principal and first event).</p>
<table><tr><th>point</th><th>routed findings</th><th>any severity</th><th>shadow</th><th>appeared</th><th>disappeared</th>{{if .R.Labels}}<th>attacks caught</th><th>lost</th><th>benign alerted</th><th>newly alerted</th>{{end}}</tr>
<tr class="current"><td>{{.R.Current.Name}}</td><td>{{.R.Current.Findings}}</td><td>{{.R.Current.All}}</td><td>{{.R.Current.ShadowFindings}}</td><td></td><td></td>{{if .R.Labels}}<td>{{.R.Current.AttacksCaught}}/{{.R.Current.Attacks}}</td><td></td><td>{{.R.Current.BenignAlerted}}/{{.R.Current.Benign}}</td><td></td>{{end}}</tr>
{{range .R.Points}}<tr><td>{{.Name}}</td><td>{{.Findings}}</td><td>{{.All}}</td><td>{{.ShadowFindings}}</td>
<td>{{.AppearedN}}{{if .Appeared}}<details><summary>show</summary>{{range head .Appeared}}{{.Severity}} {{.Title}}<br>{{end}}</details>{{end}}</td>
<td>{{.DisappearedN}}{{if .Disappeared}}<details><summary>show</summary>{{range head .Disappeared}}{{.Severity}} {{.Title}}<br>{{end}}</details>{{end}}</td>
{{if $.R.Labels}}<td>{{.AttacksCaught}}/{{.Attacks}}</td><td>{{join .Lost}}</td><td>{{.BenignAlerted}}/{{.Benign}}</td><td>{{join .NewlyAlerted}}</td>{{end}}</tr>
{{end}}</table>

{{if .R.Labels}}<h2>Labelled cases (current config)</h2>
<table><tr><th>case</th><th>kind</th><th>routed finding</th></tr>
{{range .R.Labels}}<tr><td>{{.Name}}</td><td>{{.Kind}}</td><td>{{if .Alerted}}{{.Severity}}: {{.Title}}{{else}}<span class="muted">none</span>{{end}}</td></tr>
{{end}}</table>{{end}}

<h2>Shadow detectors (promotion report)</h2>
{{if .R.Shadow}}<p>What the detectors in shadow mode would have routed had they been in alert mode.</p>
<table><tr><th>first event</th><th>detector</th><th>severity</th><th>title</th></tr>
{{range .R.Shadow}}<tr><td>{{.FirstEvent.Format "2006-01-02 15:04"}}</td><td>{{.Detector}}</td><td>{{.Severity}}</td><td>{{.Title}}</td></tr>
{{end}}</table>{{else}}<p class="muted">No would-be findings: no detector in shadow mode raised one at or above the routing minimum.</p>{{end}}

<h2>Current settings</h2>
<table><tr><th>detector</th><th>mode</th><th>threshold</th><th>bands (low / medium / high / critical)</th></tr>
{{range $id := .IDs}}{{with index $.R.Detectors $id}}<tr><td>{{$id}}</td><td>{{.Mode}}</td><td>{{.Threshold}}</td><td>{{.Severity.Low}} / {{.Severity.Medium}} / {{.Severity.High}} / {{.Severity.Critical}}</td></tr>{{end}}{{end}}
</table>
<script>
// Marks each plot rendered when it has a size and drawn content (checked by the tests in a headless browser).
for (const s of document.querySelectorAll('figure.plot svg')) {
  const b = s.getBoundingClientRect();
  s.setAttribute('data-rendered', b.width > 0 && b.height > 0 && s.querySelectorAll('path,text').length > 0 ? 'yes' : 'no');
}
</script>
</body></html>
`))
