package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/events"
)

// stratusTechnique is one entry of testdata/stratus/techniques.yaml.
type stratusTechnique struct {
	ID        string   `yaml:"id"`
	Tactic    string   `yaml:"tactic"`
	Expect    string   `yaml:"expect"`
	FlaggedBy []string `yaml:"flagged_by"`
	Reason    string   `yaml:"reason"`
	Gap       string   `yaml:"gap"`
}

const notSelected = "not-selected"

// stratusTactics orders the table and says what each tactic requires cold:
// MEDIUM for the tactics that do lasting harm, LOW for the others.
var stratusTactics = []struct {
	name    string
	title   string
	require detectors.Severity
}{
	{"initial-access", "Initial access", detectors.SeverityLow},
	{"execution", "Execution", detectors.SeverityLow},
	{"persistence", "Persistence", detectors.SeverityMedium},
	{"privilege-escalation", "Privilege escalation", detectors.SeverityLow},
	{"defense-evasion", "Defense evasion", detectors.SeverityMedium},
	{"credential-access", "Credential access", detectors.SeverityLow},
	{"discovery", "Discovery", detectors.SeverityLow},
	{"lateral-movement", "Lateral movement", detectors.SeverityLow},
	{"exfiltration", "Exfiltration", detectors.SeverityMedium},
	{"impact", "Impact", detectors.SeverityMedium},
}

// stratusResult is what a cold replay of one technique produced.
type stratusResult struct {
	tech     stratusTechnique
	records  int
	selected int
	severity detectors.Severity // strongest finding; meaningful when findings > 0
	findings int
	flagged  []string // high-risk-action/<rule> and detector ids of the signals
}

// TestStratusCoverage replays each Stratus Red Team AWS technique's
// fixture cold (a fresh in-memory store, the default config, the
// production selection) through `trailwatch replay` itself, and checks the
// manifest's claims: a technique with a selected event is flagged at its
// expected severity or above, by what the manifest names; a high-impact
// tactic reaches MEDIUM unless a gap is stated, and a stated gap that has
// closed fails; a not-selected technique has no selected event and no
// finding. It writes docs/coverage.md from the results with -update and
// otherwise fails when the file differs.
func TestStratusCoverage(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "stratus")
	techs := loadStratusManifest(t, filepath.Join(dir, "techniques.yaml"))
	checkManifestMatchesFixtures(t, dir, techs)

	var results []stratusResult
	for _, tech := range techs {
		t.Run(tech.ID, func(t *testing.T) {
			res := replayStratus(t, filepath.Join(dir, tech.ID+".jsonl"))
			res.tech = tech
			results = append(results, res)
			checkStratusResult(t, res)
		})
	}
	if t.Failed() {
		return
	}
	doc := renderCoverage(results)
	golden := filepath.Join("..", "..", "docs", "coverage.md")
	if *update {
		if err := os.WriteFile(golden, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/trailwatch -run TestStratusCoverage -update)", err)
	}
	if string(want) != doc {
		t.Errorf("docs/coverage.md is stale: run go test ./cmd/trailwatch -run TestStratusCoverage -update\n--- got\n%s", doc)
	}
}

func loadStratusManifest(t *testing.T, path string) []stratusTechnique {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Techniques []stratusTechnique `yaml:"techniques"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	seen := map[string]bool{}
	for _, tech := range m.Techniques {
		if seen[tech.ID] {
			t.Errorf("%s: listed twice", tech.ID)
		}
		seen[tech.ID] = true
		if !strings.HasPrefix(tech.ID, "aws."+tech.Tactic+".") {
			t.Errorf("%s: tactic %q is not the one its id names", tech.ID, tech.Tactic)
		}
		if _, ok := tacticRequirement(tech.Tactic); !ok {
			t.Errorf("%s: unknown tactic %q", tech.ID, tech.Tactic)
		}
		if tech.Expect == notSelected {
			if tech.Reason == "" || len(tech.FlaggedBy) > 0 || tech.Gap != "" {
				t.Errorf("%s: a not-selected technique needs a reason, and no flagged_by or gap", tech.ID)
			}
			continue
		}
		if _, err := detectors.ParseSeverity(tech.Expect); err != nil {
			t.Errorf("%s: expect: %v", tech.ID, err)
		}
		if len(tech.FlaggedBy) == 0 {
			t.Errorf("%s: flagged_by names nothing", tech.ID)
		}
	}
	if len(m.Techniques) < 40 {
		t.Fatalf("%d techniques in the manifest", len(m.Techniques))
	}
	return m.Techniques
}

// checkManifestMatchesFixtures: one fixture per technique, and no other.
func checkManifestMatchesFixtures(t *testing.T, dir string, techs []stratusTechnique) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, f := range files {
		have[strings.TrimSuffix(filepath.Base(f), ".jsonl")] = true
	}
	for _, tech := range techs {
		if !have[tech.ID] {
			t.Errorf("%s: no fixture %s.jsonl", tech.ID, tech.ID)
		}
		delete(have, tech.ID)
	}
	for id := range have {
		t.Errorf("fixture %s.jsonl is not in techniques.yaml", id)
	}
}

func tacticRequirement(tactic string) (detectors.Severity, bool) {
	for _, tc := range stratusTactics {
		if tc.name == tactic {
			return tc.require, true
		}
	}
	return 0, false
}

// replayStratus counts the fixture's records and those the production
// selection keeps, and replays it with `trailwatch replay --min-severity
// INFO` (the embedded defaults and a fresh memory store).
func replayStratus(t *testing.T, path string) stratusResult {
	t.Helper()
	var res stratusResult
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := events.Decoder{Record: func(r *events.Record) {
		res.records++
		if events.Selected(r) {
			res.selected++
		}
	}}
	if err := d.Decode(f); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	if res.records == 0 {
		t.Fatalf("%s: no records", path)
	}
	var out, errOut bytes.Buffer
	if err := runReplay([]string{"--min-severity", "INFO", "--progress", "never", "--quiet", path}, nil, &out, &errOut); err != nil {
		t.Fatalf("replay %s: %v\n%s", path, err, errOut.String())
	}
	flagged := map[string]bool{}
	for _, line := range bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var fd detectors.Finding
		if err := json.Unmarshal(line, &fd); err != nil {
			t.Fatalf("finding: %v: %s", err, line)
		}
		res.findings++
		if res.findings == 1 || fd.Severity > res.severity {
			res.severity = fd.Severity
		}
		sigs, _ := fd.Evidence["signals"].([]any)
		for _, s := range sigs {
			m, _ := s.(map[string]any)
			det, _ := m["detector"].(string)
			if rule, _ := m["rule"].(string); det == detectors.IDHighRiskAction && rule != "" {
				flagged[det+"/"+rule] = true
			} else if det != "" {
				flagged[det] = true
			}
		}
	}
	for k := range flagged {
		res.flagged = append(res.flagged, k)
	}
	sort.Strings(res.flagged)
	return res
}

func checkStratusResult(t *testing.T, res stratusResult) {
	t.Helper()
	tech := res.tech
	if tech.Expect == notSelected {
		if res.selected != 0 || res.findings != 0 {
			t.Errorf("listed not-selected, but %d of %d records are selected and %d findings came out (%v)", res.selected, res.records, res.findings, res.flagged)
		}
		return
	}
	if res.selected == 0 {
		t.Fatalf("no record of the fixture is selected: list it as not-selected with a reason")
	}
	want, _ := detectors.ParseSeverity(tech.Expect)
	if res.findings == 0 {
		t.Fatalf("%d selected events, no finding; want %s", res.selected, want)
	}
	if res.severity < want {
		t.Errorf("strongest finding %s, want at least %s (flagged by %v)", res.severity, want, res.flagged)
	}
	for _, f := range tech.FlaggedBy {
		if !slices.Contains(res.flagged, f) {
			t.Errorf("not flagged by %s (flagged by %v)", f, res.flagged)
		}
	}
	require, _ := tacticRequirement(tech.Tactic)
	switch {
	case want < require && tech.Gap == "":
		t.Errorf("expect %s is below what tactic %s requires (%s): close the gap or state it (gap:)", want, tech.Tactic, require)
	case tech.Gap != "" && res.severity >= require:
		t.Errorf("the stated gap is closed (%s reaches %s): raise expect and drop gap", res.severity, require)
	case tech.Gap != "" && want >= require:
		t.Errorf("gap stated but expect %s already meets %s", want, require)
	}
}

// renderCoverage writes docs/coverage.md.
func renderCoverage(results []stratusResult) string {
	byTactic := map[string][]stratusResult{}
	counts := map[string]int{}
	for _, r := range results {
		byTactic[r.tech.Tactic] = append(byTactic[r.tech.Tactic], r)
		switch {
		case r.tech.Expect == notSelected:
			counts["not selected"]++
		default:
			counts[r.severity.String()]++
		}
	}
	var b strings.Builder
	b.WriteString(`# Coverage of known AWS attack techniques

<!-- Generated by cmd/trailwatch/stratus_test.go from testdata/stratus: do not edit.
     Regenerate with: go test ./cmd/trailwatch -run TestStratusCoverage -update -->

Each [Stratus Red Team](https://github.com/DataDog/stratus-red-team) AWS
technique has a fixture of the CloudTrail records it produces
(` + "`testdata/stratus/<id>.jsonl`" + `, written for Trailwatch from Stratus's
documentation and detonation logs) and an entry in
` + "`testdata/stratus/techniques.yaml`" + `. The test replays each one **cold**: a
fresh in-memory baseline store, the embedded default configuration, and the
production selection (mutating calls, console sign-ins, calls denied for
authorization), through the code of ` + "`trailwatch replay`" + `. Severity is that of
the technique's strongest finding. With the default routing, MEDIUM and above
reach SNS and HIGH and above open a ticket; a warm baseline changes novelty,
and a principal that did the same risky action before scores less.

The whole corpus, one principal per technique:

` + "```sh\ngo run ./cmd/trailwatch replay --min-severity INFO testdata/stratus/*.jsonl\ngo test ./cmd/trailwatch -run TestStratusCoverage -count=1\n```" + `

`)
	var tally []string
	for _, k := range []string{"CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO", "not selected"} {
		if counts[k] > 0 {
			tally = append(tally, fmt.Sprintf("%d %s", counts[k], k))
		}
	}
	fmt.Fprintf(&b, "%d techniques, by the severity of their strongest finding cold: %s.\n", len(results), strings.Join(tally, ", "))
	b.WriteString("\nPersistence, defense evasion, exfiltration and impact must reach MEDIUM cold, the other tactics LOW; a shortfall is listed as a gap, with its reason.\n")
	for _, tc := range stratusTactics {
		rs := byTactic[tc.name]
		if len(rs) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n## %s\n\n| technique | cold severity | flagged by | notes |\n|---|---|---|---|\n", tc.title)
		for _, r := range rs {
			sev := r.severity.String()
			flagged := strings.Join(r.tech.FlaggedBy, ", ")
			if extra := extraFlags(r); len(extra) > 0 {
				flagged += " (also " + strings.Join(extra, ", ") + ")"
			}
			notes := r.tech.Reason
			if r.tech.Expect == notSelected {
				sev, flagged = "not selected", "—"
				notes = fmt.Sprintf("%s (%d records, none selected)", r.tech.Reason, r.records)
			}
			if r.tech.Gap != "" {
				sev += " (gap)"
				notes = strings.TrimPrefix(notes+"; gap: "+r.tech.Gap, "; ")
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", strings.TrimPrefix(r.tech.ID, "aws."), sev, backticks(flagged), notes)
		}
	}
	b.WriteString(deniedSection)
	return b.String()
}

// extraFlags are the signals that flagged a technique beyond those the
// manifest names.
func extraFlags(r stratusResult) []string {
	var out []string
	for _, f := range r.flagged {
		if !slices.Contains(r.tech.FlaggedBy, f) {
			out = append(out, f)
		}
	}
	return out
}

func backticks(s string) string {
	if s == "—" {
		return s
	}
	parts := strings.SplitN(s, " (also ", 2)
	items := strings.Split(parts[0], ", ")
	for i := range items {
		items[i] = "`" + items[i] + "`"
	}
	out := strings.Join(items, ", ")
	if len(parts) == 2 {
		also := strings.Split(strings.TrimSuffix(parts[1], ")"), ", ")
		for i := range also {
			also[i] = "`" + also[i] + "`"
		}
		out += " (also " + strings.Join(also, ", ") + ")"
	}
	return out
}

const deniedSection = `
## Denied attempts at top-tier actions

A failed call scores 40% of its rule's base score. A call denied for
authorization at a top-tier rule (one whose floor is HIGH or above: leaving
the organization, stopping or deleting a trail, deleting a GuardDuty
detector, disabling Security Hub), by a principal that never took that risk,
keeps a floor of MEDIUM: the attempt is routed with the default SNS minimum
(detectors/highrisk.go; TestDeniedTopTierAttempts). Other failures (not
found, validation) and denied attempts at lesser rules keep no floor:
creating an access key for another user (base 0.75) scores 0.30, LOW, when
denied. A burst of five or more denied calls in ten minutes is the
error-burst detector's, which works cold.
`

// TestDeniedTopTierAttempts: a denied attempt at a top-tier action (a rule
// whose floor is HIGH or above) is itself a finding on-call sees
// (testdata/denied/top-tier.jsonl: one principal per attempt, replayed
// cold): MEDIUM, routed with the default routing. A denied attempt of a
// lesser rule (an access key for another user) stays LOW.
func TestDeniedTopTierAttempts(t *testing.T) {
	tests := []struct {
		principal, rule string
		want            detectors.Severity
	}{
		{"111122223333:user/probe-01", "organizations-leave-organization", detectors.SeverityMedium},
		{"111122223333:user/probe-02", "cloudtrail-stop-logging", detectors.SeverityMedium},
		{"111122223333:user/probe-03", "cloudtrail-delete-trail", detectors.SeverityMedium},
		{"111122223333:user/probe-04", "guardduty-delete-detector", detectors.SeverityMedium},
		{"111122223333:user/probe-05", "securityhub-disable-security-hub", detectors.SeverityMedium},
		{"111122223333:user/probe-06", "config-stop-configuration-recorder", detectors.SeverityMedium},
		{"111122223333:user/probe-07", "ec2-delete-flow-logs", detectors.SeverityMedium},
		{"111122223333:user/probe-08", "iam-create-access-key", detectors.SeverityLow},
	}
	var out, errOut bytes.Buffer
	path := filepath.Join("..", "..", "testdata", "denied", "top-tier.jsonl")
	if err := runReplay([]string{"--min-severity", "INFO", "--progress", "never", "--quiet", path}, nil, &out, &errOut); err != nil {
		t.Fatalf("replay: %v\n%s", err, errOut.String())
	}
	got := map[string]detectors.Finding{}
	for _, line := range bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n")) {
		var f detectors.Finding
		if err := json.Unmarshal(line, &f); err != nil {
			t.Fatalf("finding: %v: %s", err, line)
		}
		got[f.Principal] = f
	}
	if len(got) != len(tests) {
		t.Errorf("%d findings, want one per attempt (%d)", len(got), len(tests))
	}
	routing := detectors.DefaultConfig().Routing.SNSMinSeverity
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			f, ok := got[tt.principal]
			if !ok {
				t.Fatalf("no finding for %s", tt.principal)
			}
			if f.Detector != detectors.IDHighRiskAction || f.Severity != tt.want {
				t.Errorf("%s %s (score %.3f), want high-risk-action %s", f.Detector, f.Severity, f.Score, tt.want)
			}
			sigs, _ := f.Evidence["signals"].([]any)
			if len(sigs) == 0 || sigs[0].(map[string]any)["rule"] != tt.rule || sigs[0].(map[string]any)["failed"] != true {
				t.Errorf("signals %v, want the failed call judged by %s", sigs, tt.rule)
			}
			if routed := f.Severity >= routing; routed != (tt.want >= routing) {
				t.Errorf("routed = %v with the default routing (SNS from %s)", routed, routing)
			}
		})
	}
}
