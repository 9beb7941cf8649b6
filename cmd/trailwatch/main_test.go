package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trailwatch/trailwatch/detectors"
)

var update = flag.Bool("update", false, "rewrite golden files")

const (
	goldenPath = "../../testdata/golden/replay-sample.jsonl"
	labelsPath = "../../testdata/sample/labels.json"
	ipRanges   = "../../../shared/data/aws-ip-ranges.json.gz"
)

func replay(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = run(append([]string{"replay", "--progress", "never"}, args...), strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), err
}

// TestGoldenSample pins the findings of the bundled sample, exactly as
// production would have routed them. Refresh with: go test ./cmd/trailwatch -run Golden -update
func TestGoldenSample(t *testing.T) {
	out, stderr, err := replay(t, samplePath)
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, stderr)
	}
	if *update {
		if err := os.WriteFile(goldenPath, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if out != string(want) {
		t.Errorf("findings differ from %s (run with -update after checking the change):\n%s", goldenPath, diffLines(string(want), out))
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !json.Valid([]byte(line)) {
			t.Fatalf("stdout line is not JSON: %q", line)
		}
	}
	for _, want := range []string{"records read:      34656", "events selected:", "findings printed:", "throughput:"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("summary lacks %q:\n%s", want, stderr)
		}
	}
}

type label struct {
	Name     string   `json:"name"`
	Kind     string   `json:"kind"`
	EventIDs []string `json:"event_ids"`
	Needs    []string `json:"needs"`
}

// sampleConfig is the sample organization's configuration: the defaults
// and its named provider networks.
const sampleConfig = "../../testdata/sample/thresholds.yaml"

// TestSampleLabels: every injected attack yields a HIGH or CRITICAL
// finding; every benign surprise yields nothing above LOW. With and
// without AWS's ip-ranges, under the sample organization's configuration
// (its CI provider's network named); and under the bare defaults, where
// the labels that need the named networks are not judged (stolen CI
// credentials used off-provider are one more runner address without
// them) but every benign surprise must still stay quiet.
func TestSampleLabels(t *testing.T) {
	var labels []label
	b, err := os.ReadFile(labelsPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &labels); err != nil {
		t.Fatal(err)
	}
	variants := map[string][]string{
		"without ip-ranges":                {"--config", sampleConfig},
		"defaults only, without ip-ranges": nil,
	}
	if _, err := os.Stat(ipRanges); err == nil {
		variants["with ip-ranges"] = []string{"--config", sampleConfig, "--aws-ip-ranges", ipRanges}
	} else {
		t.Logf("AWS ip-ranges snapshot absent (%s): checking without it only", ipRanges)
	}
	for name, extra := range variants {
		withNetworks := slices.Contains(extra, sampleConfig)
		t.Run(name, func(t *testing.T) {
			out, stderr, err := replay(t, append(extra, "--min-severity", "INFO", samplePath)...)
			if err != nil {
				t.Fatalf("replay: %v\n%s", err, stderr)
			}
			var findings []detectors.Finding
			sc := bufio.NewScanner(strings.NewReader(out))
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				var f detectors.Finding
				if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
					t.Fatal(err)
				}
				findings = append(findings, f)
			}
			for _, l := range labels {
				ids := map[string]bool{}
				for _, id := range l.EventIDs {
					ids[id] = true
				}
				best := detectors.Severity(-1)
				var bestTitle string
				for _, f := range findings {
					for _, id := range f.EventIDs {
						if ids[id] && f.Severity > best {
							best, bestTitle = f.Severity, f.Title
						}
					}
				}
				switch l.Kind {
				case "attack":
					if slices.Contains(l.Needs, "networks") && !withNetworks {
						t.Logf("attack %s: best finding %v without the named networks (not judged)", l.Name, best)
						continue
					}
					if best < detectors.SeverityHigh {
						t.Errorf("attack %s: best finding %v, want HIGH or CRITICAL", l.Name, best)
					}
				case "benign":
					if best > detectors.SeverityLow {
						t.Errorf("benign %s: finding %v (%s), want at most LOW", l.Name, best, bestTitle)
					}
				}
			}
		})
	}
}

func TestReplayErrorsAndSkips(t *testing.T) {
	dir := t.TempDir()
	good := `{"eventTime":"2026-10-05T14:00:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser","readOnly":false,"eventType":"AwsApiCall","eventID":"e1","recipientAccountId":"111122223333","userIdentity":{"type":"Root","accountId":"111122223333"}}`
	huge := `{"eventTime":"2026-10-05T14:00:01Z","eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy","readOnly":false,"eventID":"e9","userIdentity":{"type":"Root","accountId":"111122223333"},"requestParameters":{"bucketPolicy":"` + strings.Repeat("x", 5<<20) + `"}}`
	noTime := strings.Replace(good, `"eventTime":"2026-10-05T14:00:00Z",`, "", 1)
	// A forged far-future event: skipped by the engine, counted, never
	// scored (its root call would be a finding).
	future := strings.NewReplacer(`"eventTime":"2026-10-05T14:00:00Z"`, `"eventTime":"2099-01-01T00:00:00Z"`, `"e1"`, `"e-future"`).Replace(good)
	files := map[string]string{
		"a.jsonl":     good + "\n" + good[:40] + "\n" + noTime + "\n" + huge + "\n" + future + "\n",
		"bad.json.gz": "\x1f\x8b\x08\x00garbage-that-is-not-deflate",
		"image.bin":   "\x00\x01\x02\x03",
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, stderr, err := replay(t, "--min-severity", "INFO", dir)
	if err != nil {
		t.Fatalf("replay with bad records must succeed: %v\n%s", err, stderr)
	}
	if !strings.Contains(out, `"e1"`) {
		t.Errorf("the good root record gave no finding:\n%s", out)
	}
	if strings.Contains(out, "e-future") {
		t.Errorf("the future-dated record was scored:\n%s", out)
	}
	for _, reason := range []string{"malformed_json:", "missing_event_time:", "record_too_large:", "corrupt_gzip:", "not_json:", "future_event_time:"} {
		if !strings.Contains(stderr, "skipped "+reason) {
			t.Errorf("summary lacks skip %q:\n%s", reason, stderr)
		}
	}

	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantMsg  string
	}{
		{"unreadable path", []string{"replay", filepath.Join(dir, "nope.json")}, 1, "nope.json"},
		{"unknown flag", []string{"replay", "--frobnicate", dir}, 2, "frobnicate"},
		{"no paths", []string{"replay"}, 2, "PATH"},
		{"bad config", []string{"replay", "--config", filepath.Join(dir, "a.jsonl"), dir}, 1, "config"},
		{"bad severity", []string{"replay", "--min-severity", "LOUD", dir}, 2, "severity"},
		{"unknown command", []string{"frob"}, 2, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := run(tt.args, strings.NewReader(""), &out, &errb)
			if err == nil {
				t.Fatal("no error")
			}
			code := 1
			if ee, ok := err.(*exitError); ok {
				code = ee.code
			}
			if code != tt.wantCode || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("code %d err %q, want code %d containing %q", code, err, tt.wantCode, tt.wantMsg)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("reason is not one line: %q", err)
			}
			if out.Len() != 0 {
				t.Errorf("stdout not empty on error: %q", out.String())
			}
		})
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("version: 1\nsuppressions:\n  - name: old\n    principal: \"*:role/ci\"\n    reason: migration window\n    expires: 2020-01-31\n"), 0o600)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("version: 1\ndetectors:\n  rate:\n    mode: loud\n    threshold: 2\n"), 0o600)
	var out, errb bytes.Buffer
	if err := run([]string{"validate", good}, nil, &out, &errb); err != nil {
		t.Fatalf("valid file: %v", err)
	}
	if !strings.Contains(out.String(), "line 3") || !strings.Contains(out.String(), "expired") {
		t.Errorf("expired suppression not reported with its line:\n%s", out.String())
	}
	out.Reset()
	err := run([]string{"validate", bad}, nil, &out, &errb)
	if err == nil {
		t.Fatal("invalid file accepted")
	}
	if !strings.Contains(out.String(), "line 4") || !strings.Contains(out.String(), "line 5") {
		t.Errorf("problems lack line numbers:\n%s", out.String())
	}
	// Each problem is printed once (it used to come as a warning and
	// again as an error).
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	seen := map[string]bool{}
	for _, l := range lines {
		l = strings.TrimPrefix(l, bad+": warning: ")
		l = strings.TrimPrefix(l, bad+": ")
		if seen[l] {
			t.Errorf("problem printed twice: %s", l)
		}
		seen[l] = true
	}
}

// TestValidateAgainst: validate --against the deployed file warns about
// what silently resets baselines or changes routing, and says nothing for
// a change of numbers only.
func TestValidateAgainst(t *testing.T) {
	dir := t.TempDir()
	write := func(name, doc string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	deployed := write("deployed.yaml", "version: 1\n")
	numbers := write("numbers.yaml", "version: 1\ndetectors:\n  rate:\n    threshold: 0.6\n")
	risky := write("risky.yaml", `version: 1
keying:
  per_session_roles: ["AWSReservedSSO_*", "okta-*"]
routing:
  sns_min_severity: HIGH
forgetting:
  unseen_days: 30
detectors:
  first-seen:
    mode: shadow
suppressions:
  - name: ci-noise
    principal: "*:role/ci"
    reason: noisy CI
    expires: 2099-01-01
`)
	var out, errb bytes.Buffer
	if err := run([]string{"validate", "--against", deployed, numbers}, nil, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "warning") {
		t.Errorf("a threshold change alone warned:\n%s", out.String())
	}
	out.Reset()
	if err := run([]string{"validate", "--against", deployed, risky}, nil, &out, &errb); err != nil {
		t.Fatalf("risky but valid file: %v", err)
	}
	for _, want := range []string{
		`keying: roles matching "okta-*" become keyed per session`,
		"routing: routing.sns_min_severity MEDIUM -> HIGH",
		"forgetting: forgetting.unseen_days 90 -> 30",
		"detector: first-seen moved to shadow",
		`suppression: new suppression "ci-noise"`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("validate --against lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.HasSuffix(strings.TrimSpace(out.String()), risky+": ok") {
		t.Errorf("a usable file must still end with ok:\n%s", out.String())
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"version"}, nil, &out, &out); err != nil || !strings.HasPrefix(out.String(), "trailwatch ") {
		t.Errorf("version: %q %v", out.String(), err)
	}
}

// diffLines shows the first differing lines.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	n := 0
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, c string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			c = g[i]
		}
		if a != c {
			b.WriteString("- " + a + "\n+ " + c + "\n")
			if n++; n == 3 {
				break
			}
		}
	}
	return b.String()
}
