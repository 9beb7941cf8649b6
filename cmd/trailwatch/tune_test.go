package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/config"
	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/events"
	"gopkg.in/yaml.v3"
)

// recordSample records the bundled sample with the default config, as tune
// does, keeping every signal scoring at least minScore.
func recordSample(t *testing.T, minScore float64) *detectors.Recording {
	t.Helper()
	cfg := config.Default()
	rd := &events.Reader{Normalizer: &events.Normalizer{Keying: cfg.Keying}, Window: 16384}
	rec, _, _, err := recordArchive(context.Background(), rd, []string{samplePath}, cfg, 100, minScore)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestTuneMatchesReplay: a sweep point's findings are exactly what a plain
// replay with that config prints, through the real replay command with
// --config: three points tune generates (a threshold, the severity bands,
// the routing minimum), written out as thresholds.yaml, and a config that
// turns a detector to shadow, one off and adds a suppression. Each changes
// the findings, so the comparison is not vacuous.
func TestTuneMatchesReplay(t *testing.T) {
	rec := recordSample(t, 0.01)
	base, _, err := replay(t, "--quiet", "--config", sampleConfig, samplePath)
	if err != nil {
		t.Fatal(err)
	}
	type point struct {
		name   string
		yaml   string
		shadow bool
	}
	var points []point
	want := map[string]bool{"first-seen threshold 0.4": true, "severity bands +0.10": true, "routing minimum LOW": true}
	for _, sp := range sweepConfigs(config.Default(), 10) {
		if !want[sp.point.Name] {
			continue
		}
		delete(want, sp.point.Name)
		doc, err := yaml.Marshal(struct {
			Version   int                                 `yaml:"version"`
			Routing   detectors.Routing                   `yaml:"routing"`
			Detectors map[string]detectors.DetectorConfig `yaml:"detectors"`
		}{1, sp.cfg.Routing, sp.cfg.Detectors})
		if err != nil {
			t.Fatal(err)
		}
		points = append(points, point{sp.point.Name, string(doc), false})
	}
	if len(want) > 0 {
		t.Fatalf("the sweep lacks the points %v", want)
	}
	points = append(points, point{"high-risk shadow, unusual-hour off, suppression, routing INFO", `version: 1
routing: {sns_min_severity: INFO, ticket_min_severity: HIGH}
detectors:
  high-risk-action: {mode: shadow, threshold: 0.1, severity: {low: 0.25, medium: 0.55, high: 0.75, critical: 0.93}}
  unusual-hour: {mode: off, threshold: 0.15, severity: {low: 0.25, medium: 0.55, high: 0.75, critical: 0.93}}
suppressions:
  - name: deploy-role
    principal: "*github-actions-deploy*"
    reason: CI deploys from changing runners
    expires: "2099-12-31"
`, true})
	seen := map[string]string{"the default config": base}
	for _, p := range points {
		t.Run(p.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "thresholds.yaml")
			if err := os.WriteFile(path, []byte(p.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"--quiet", "--config", path, samplePath}
			if p.shadow {
				args = append([]string{"--include-shadow"}, args...)
			}
			want, stderr, err := replay(t, args...)
			if err != nil {
				t.Fatalf("replay: %v\n%s", err, stderr)
			}
			cfg, _, err := config.Load(path, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := writeFindings(&got, selectFindings(refold(rec, cfg), cfg.Routing.SNSMinSeverity, p.shadow), "json"); err != nil {
				t.Fatal(err)
			}
			if got.String() != want {
				t.Errorf("sweep point differs from replay:\n%s", diffLines(want, got.String()))
			}
			for name, out := range seen {
				if out == want {
					t.Errorf("the config finds the same as %s: the point does not test a change", name)
				}
			}
			seen[p.name] = want
		})
	}
}

// TestTuneBadInput: an input of malformed records and nothing else still
// gives a complete report, with no findings and every plot.
func TestTuneBadInput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(in, []byte("garbage{\n{\"eventTime\":\"not a time\"}\n\x00\x01\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	if err := run([]string{"tune", "--progress", "never", "--points", "1", "--out", dir, in}, nil, &bytes.Buffer{}, &stderr); err != nil {
		t.Fatalf("tune: %v\n%s", err, stderr.String())
	}
	var rep tuneReport
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Current == nil || rep.Current.Findings != 0 || rep.Events != 0 {
		t.Errorf("report of an input without events: %+v", rep.Current)
	}
	html, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(html), "<svg"); got != 15 {
		t.Errorf("report.html has %d SVG plots, want 15", got)
	}
}

// TestTuneSample runs tune on the bundled sample with its labels, under the
// sample organization's configuration (its named CI network): both
// reports are written, the current point equals replay, every labelled
// attack is caught and no benign case alerted, and the sweep moves.
func TestTuneSample(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	err := run([]string{"tune", "--progress", "never", "--config", sampleConfig, "--labels", labelsPath, "--out", dir, "--points", "3", samplePath}, nil, &stdout, &stderr)
	if err != nil {
		t.Fatalf("tune: %v\n%s", err, stderr.String())
	}
	base, _, err := replay(t, "--quiet", "--config", sampleConfig, samplePath)
	if err != nil {
		t.Fatal(err)
	}
	var rep tuneReport
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(base, "\n"); rep.Current == nil || rep.Current.Findings != n {
		t.Fatalf("current point: %+v, want %d findings as replay prints", rep.Current, n)
	}
	if c := rep.Current; c.Attacks != 10 || c.AttacksCaught != 10 || c.Benign != 8 || c.BenignAlerted != 0 {
		t.Errorf("labels at the current config: %d/%d attacks caught, %d/%d benign alerted; want 10/10 and 0/8",
			c.AttacksCaught, c.Attacks, c.BenignAlerted, c.Benign)
	}
	// 6 detectors x 3 thresholds, 4 band shifts, 4 other routing minimums.
	if len(rep.Points) != 26 {
		t.Errorf("%d sweep points, want 26", len(rep.Points))
	}
	var lowered, raised *tunePoint
	for _, p := range rep.Points {
		switch p.Name {
		case "routing minimum LOW":
			lowered = p
		case "routing minimum CRITICAL":
			raised = p
		}
	}
	if lowered == nil || lowered.Findings <= rep.Current.Findings || lowered.AppearedN != lowered.Findings-rep.Current.Findings {
		t.Errorf("routing LOW: %+v; want more findings than the current %d, the difference appearing", lowered, rep.Current.Findings)
	}
	if raised == nil || raised.Findings >= rep.Current.Findings || raised.DisappearedN == 0 {
		t.Errorf("routing CRITICAL: %+v; want fewer findings, some disappearing", raised)
	}
	if len(rep.Days) == 0 || len(rep.TopPrincipals) == 0 || rep.ScoreHistograms[detectors.IDFirstSeen] == nil {
		t.Errorf("report lacks days, top principals or score histograms")
	}
	html, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(html), `<figure class="plot"`); got != 15 {
		t.Errorf("report.html has %d plots, want 15 (per day, 6 volume, 6 score, principals, calibration)", got)
	}
	// The calibration the report shows is the sample's: every judged
	// bucket within a factor of two, as TestCalibrationOnSample requires.
	judged := 0
	for _, c := range rep.Calibration {
		if !c.Judged {
			continue
		}
		judged++
		if c.NewValues > 0 && (c.Predicted/c.Observed > 2 || c.Predicted/c.Observed < 0.5) {
			t.Errorf("calibration bucket %+v: predicted not within a factor of two of observed", c)
		}
	}
	if judged < 3 {
		t.Errorf("report.json has %d judged calibration buckets: %+v", judged, rep.Calibration)
	}
	for _, banned := range []string{"http://", "https://"} {
		for _, m := range regexp.MustCompile(`(src|href)="`+banned).FindAllString(string(html), -1) {
			t.Errorf("report.html loads %s: it must open without a network", m)
		}
	}
}

// TestLoadLabels: the labels file format and its errors.
func TestLoadLabels(t *testing.T) {
	f := func(sev detectors.Severity, key string, ids ...string) *detectors.Finding {
		return &detectors.Finding{Severity: sev, DedupeKey: key, EventIDs: ids}
	}
	tests := []struct {
		name    string
		json    string
		wantErr string
		finding *detectors.Finding
		match   bool
	}{
		{"attack by event", `[{"name":"a","kind":"attack","event_ids":["e1"],"expect":"HIGH+"}]`, "", f(detectors.SeverityHigh, "k", "e0", "e1"), true},
		{"attack below expect", `[{"name":"a","kind":"malicious","event_ids":["e1"],"expect":"HIGH+"}]`, "", f(detectors.SeverityMedium, "k", "e1"), false},
		{"attack by dedupe key", `[{"name":"a","kind":"attack","dedupe_keys":["rate|p|api"]}]`, "", f(detectors.SeverityLow, "rate|p|api", "e9"), true},
		{"other event", `[{"name":"a","kind":"attack","event_ids":["e1"]}]`, "", f(detectors.SeverityCritical, "k", "e2"), false},
		{"benign at most LOW, LOW finding", `[{"name":"b","kind":"benign","event_ids":["e1"],"expect":"LOW-"}]`, "", f(detectors.SeverityLow, "k", "e1"), false},
		{"benign at most LOW, MEDIUM finding", `[{"name":"b","kind":"benign","event_ids":["e1"],"expect":"LOW-"}]`, "", f(detectors.SeverityMedium, "k", "e1"), true},
		{"bad kind", `[{"name":"x","kind":"maybe","event_ids":["e1"]}]`, `kind "maybe"`, nil, false},
		{"nothing to match", `[{"name":"x","kind":"attack"}]`, "needs event_ids or dedupe_keys", nil, false},
		{"bad expect", `[{"name":"x","kind":"attack","event_ids":["e"],"expect":"SEVERE+"}]`, "expect", nil, false},
		{"not JSON", `{`, "labels", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "labels.json")
			if err := os.WriteFile(path, []byte(tt.json), 0o600); err != nil {
				t.Fatal(err)
			}
			ls, err := loadLabels(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := ls[0].matches(tt.finding); got != tt.match {
				t.Errorf("matches = %v, want %v", got, tt.match)
			}
		})
	}
	if _, err := loadLabels(labelsPath); err != nil {
		t.Errorf("the sample's labels: %v", err)
	}
}

const chromium = "/usr/bin/chromium"

// TestTuneReportInBrowser opens report.html in headless Chromium (the
// Debian package chromium) with no network: every plot must render with a
// size and drawn content, and a screenshot must not be blank.
func TestTuneReportInBrowser(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("%s absent (install the Debian package chromium): the report's rendering in a browser is not checked", chromium)
	}
	dir := t.TempDir()
	var stderr bytes.Buffer
	if err := run([]string{"tune", "--progress", "never", "--labels", labelsPath, "--out", dir, "--points", "2", samplePath}, nil, &bytes.Buffer{}, &stderr); err != nil {
		t.Fatalf("tune: %v\n%s", err, stderr.String())
	}
	page := "file://" + filepath.Join(dir, "report.html")
	html, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	plots := strings.Count(string(html), `<figure class="plot"`)

	dom := headless(t, "--dump-dom", page)
	if got := strings.Count(dom, `data-rendered="yes"`); got != plots || plots == 0 {
		t.Errorf("%d of %d plots rendered with a size and drawn content (%d not)", got, plots, strings.Count(dom, `data-rendered="no"`))
	}
	shot := filepath.Join(dir, "report.png")
	headless(t, "--hide-scrollbars", "--window-size=1400,2400", "--screenshot="+shot, page)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	colors := map[uint32]bool{}
	inked := 0
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y += 2 {
		for x := bounds.Min.X; x < bounds.Max.X; x += 2 {
			r, g, b, _ := img.At(x, y).RGBA()
			colors[(r>>8)<<16|(g>>8)<<8|b>>8] = true
			if r < 0xf000 || g < 0xf000 || b < 0xf000 {
				inked++
			}
		}
	}
	total := (bounds.Dx() / 2) * (bounds.Dy() / 2)
	if len(colors) < 20 || inked < total/50 {
		t.Errorf("screenshot looks blank: %d colours, %d of %d sampled pixels not white", len(colors), inked, total)
	}
}

// headless runs Chromium headless on a page, without network access
// beyond what a file:// page asks (none), and returns its standard output.
func headless(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, chromium, append(base, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, errb.String())
	}
	return out.String()
}
