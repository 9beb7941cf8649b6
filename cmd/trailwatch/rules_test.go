package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trailwatch/trailwatch/detectors"
)

const (
	customRuleConfig = "../../testdata/rules/custom-rule.yaml"
	customRuleEvents = "../../testdata/rules/custom-rule.jsonl"
)

// TestReplayCustomRule: a rule given only by config fires in replay on
// the record it is about and stays quiet on its twin; without the config
// the same input gives nothing (no built-in rule covers it).
func TestReplayCustomRule(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string // event IDs of the findings
	}{
		{"with the rule", []string{"--config", customRuleConfig, customRuleEvents}, []string{"0f5a1c2e-custom-rule-positive"}},
		{"built-in catalog only", []string{customRuleEvents}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, stderr, err := replay(t, tc.args...)
			if err != nil {
				t.Fatalf("replay: %v\n%s", err, stderr)
			}
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				if line == "" {
					continue
				}
				var f detectors.Finding
				if err := json.Unmarshal([]byte(line), &f); err != nil {
					t.Fatal(err)
				}
				got = append(got, f.EventIDs...)
				if f.Detector != detectors.IDHighRiskAction || f.Severity != detectors.SeverityHigh || !strings.Contains(f.Title, "wrote production secret /prod/payments/api-key") {
					t.Errorf("finding: %s %s %q", f.Detector, f.Severity, f.Title)
				}
				sigs, _ := f.Evidence["signals"].([]any)
				if len(sigs) == 0 || sigs[0].(map[string]any)["rule"] != "ssm-put-production-secret" {
					t.Errorf("evidence does not name the rule: %v", f.Evidence)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("findings about %v, want %v", got, tc.want)
			}
		})
	}
}

// TestRuleTestCommand: `trailwatch test` passes on the built-in catalog
// and the example rule files, and fails with one line per mismatch (and
// with the problems of an unusable file).
func TestRuleTestCommand(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.yaml")
	// The rule's negative example is one it fires on, and its positive
	// one one it does not.
	doc, err := os.ReadFile(customRuleConfig)
	if err != nil {
		t.Fatal(err)
	}
	swapped := strings.NewReplacer("/prod/db/password", "/dev/PLACEHOLDER", "/dev/db/password", "/prod/db/password").Replace(string(doc))
	swapped = strings.ReplaceAll(swapped, "/dev/PLACEHOLDER", "/dev/db/password")
	os.WriteFile(broken, []byte(swapped), 0o600)
	invalid := filepath.Join(dir, "invalid.yaml")
	os.WriteFile(invalid, []byte("version: 1\nrules:\n  - id: mine\n    apis: [ssm:PutParameter]\n    when:\n      - is_bad: true\n    category: c\n    base_score: 0.5\n"), 0o600)

	tests := []struct {
		name     string
		args     []string
		wantErr  bool
		wantOut  []string
		wantLine int // lines on stdout
	}{
		{"built-in catalog", nil, false, nil, 0},
		{"example rule files", []string{"../../config/examples"}, false, nil, 0},
		{"custom rule", []string{customRuleConfig}, false, nil, 0},
		{"mismatches", []string{broken}, true, []string{
			"broken.yaml:18: rule ssm-put-production-secret: positive example 1: did not fire (no high-risk signal)",
			"broken.yaml:22: rule ssm-put-production-secret: negative example 1: fired"}, 2},
		{"unusable file", []string{invalid}, true, []string{`invalid.yaml: line 6: rule mine: unknown condition "is_bad"`}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := run(append([]string{"test"}, tt.args...), nil, &out, &errb)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v\n%s%s", err, tt.wantErr, out.String(), errb.String())
			}
			if err != nil {
				if ee, ok := err.(*exitError); !ok || ee.code != 1 {
					t.Errorf("exit status: %v", err)
				}
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if out.Len() == 0 {
				lines = nil
			}
			if len(lines) != tt.wantLine {
				t.Errorf("%d lines on stdout, want %d:\n%s", len(lines), tt.wantLine, out.String())
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
			if !strings.Contains(errb.String(), "rules,") {
				t.Errorf("no summary on stderr: %s", errb.String())
			}
		})
	}
}
