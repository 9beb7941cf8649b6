package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/trailwatch/trailwatch/detectors"
)

var now = time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)

func TestDefault(t *testing.T) {
	cfg := Default()
	if cfg.Routing.SNSMinSeverity != detectors.SeverityMedium || len(cfg.Detectors) != len(detectors.DetectorIDs()) {
		t.Errorf("default config: %+v", cfg)
	}
	if cfg.Forget != 90*24*time.Hour || cfg.Learning.MinEvents != 30 {
		t.Errorf("learning/forgetting: %v %+v", cfg.Forget, cfg.Learning)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name      string
		doc       string
		wantLines []string // each problem's "line N" in order
		wantMsg   string
		warn      bool
	}{
		{name: "minimal", doc: "version: 1\n"},
		{name: "unknown top-level key", doc: "version: 1\nthreshholds: {}\n", wantLines: []string{"line 1"}, wantMsg: "threshholds"},
		{name: "bad mode and threshold", doc: "version: 1\ndetectors:\n  rate:\n    mode: loud\n    threshold: 2\n", wantLines: []string{"line 4", "line 5"}, wantMsg: "alert"},
		{name: "unknown detector", doc: "version: 1\ndetectors:\n  ratez:\n    mode: alert\n", wantLines: []string{"line 3"}, wantMsg: "unknown detector"},
		{name: "bands must rise", doc: "version: 1\ndetectors:\n  rate:\n    severity: {low: 0.9, medium: 0.5}\n", wantLines: []string{"line 4"}, wantMsg: "bands must rise"},
		{name: "suppression without reason", doc: "version: 1\nsuppressions:\n  - principal: \"*:role/ci\"\n    expires: 2027-01-01\n", wantLines: []string{"line 3"}, wantMsg: "reason"},
		{name: "suppression matching everything", doc: "version: 1\nsuppressions:\n  - reason: too broad\n    expires: 2027-01-01\n", wantLines: []string{"line 3"}},
		{name: "bad CIDR", doc: "version: 1\nsuppressions:\n  - network: 10.0.0.0/33\n    reason: office\n    expires: 2027-01-01\n", wantLines: []string{"line 3"}, wantMsg: "CIDR"},
		{name: "expired suppression is a warning", doc: "version: 1\nsuppressions:\n  - name: old\n    api: \"iam:*\"\n    reason: migration\n    expires: 2026-01-31\n", wantLines: []string{"line 3"}, wantMsg: "expired", warn: true},
		{name: "not YAML", doc: "version: [1\n", wantLines: []string{"line"}, wantMsg: "YAML"},
		{name: "empty", doc: "", wantMsg: "empty"},
		{name: "rule override and disable", doc: "version: 1\nrules:\n  - id: s3-delete-bucket\n    base_score: 0.9\n  - id: logs-delete-log-group\n    enabled: false\n"},
		{name: "rule with an unknown condition", doc: "version: 1\nrules:\n  - id: mine\n    apis: [ssm:PutParameter]\n    when:\n      - param_equals: {path: type, value: SecureString}\n      - looks_bad: true\n    category: c\n    base_score: 0.5\n", wantLines: []string{"line 7"}, wantMsg: `unknown condition "looks_bad"`},
		{name: "rule with a bad api", doc: "version: 1\nrules:\n  - id: mine\n    apis: [PutParameter]\n", wantLines: []string{"line 4"}, wantMsg: "/rules/0/apis/0"},
		{name: "rule with an unknown field", doc: "version: 1\nrules:\n  - id: mine\n    severity: HIGH\n", wantLines: []string{"line 3"}, wantMsg: "severity"},
		{name: "new rule without examples", doc: "version: 1\nrules:\n  - id: mine\n    apis: [ssm:PutParameter]\n    category: c\n    base_score: 0.5\n", wantLines: []string{"line 3"}, wantMsg: "positive and one negative example"},
		{name: "override that breaks a rule", doc: "version: 1\nrules:\n  - id: s3-delete-bucket\n    message: gone {bucket}\n", wantLines: []string{"line 3"}, wantMsg: "unknown placeholder {bucket}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, problems, err := Parse("t.yaml", []byte(tt.doc), now)
			if len(tt.wantLines) == 0 && tt.wantMsg == "" {
				if err != nil || cfg == nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if tt.warn {
				if err != nil || cfg == nil {
					t.Fatalf("a warning must leave a usable config: %v", err)
				}
			} else if err == nil {
				t.Fatal("no error")
			}
			if err != nil {
				if ce, ok := err.(*Error); ok {
					problems = ce.Problems
				}
			}
			var all []string
			for _, p := range problems {
				all = append(all, p.String())
			}
			text := strings.Join(all, "\n")
			if tt.wantMsg != "" && !strings.Contains(text, tt.wantMsg) {
				t.Errorf("problems lack %q:\n%s", tt.wantMsg, text)
			}
			for i, l := range tt.wantLines {
				if i >= len(all) || !strings.HasPrefix(all[i], l) {
					t.Errorf("problem %d should start with %q:\n%s", i, l, text)
				}
			}
		})
	}
}

func TestSuppressionsApply(t *testing.T) {
	cfg, _, err := Parse("t.yaml", []byte("version: 1\nsuppressions:\n  - name: ci\n    principal: \"111122223333:role/ci-*\"\n    api: \"ec2:*\"\n    reason: CI manages EC2\n    expires: 2027-01-31\n"), now)
	if err != nil {
		t.Fatal(err)
	}
	s := &cfg.Suppressions[0]
	if s.Expired(time.Date(2027, 1, 31, 23, 0, 0, 0, time.UTC)) || !s.Expired(time.Date(2027, 2, 1, 0, 0, 1, 0, time.UTC)) {
		t.Error("expires is not inclusive of its day")
	}
}

// TestInfraFallbackIsValid: the document the CDK app deploys when no
// thresholds file exists must be accepted by the detect function.
func TestInfraFallbackIsValid(t *testing.T) {
	src, err := os.ReadFile("../infra/internal/thresholds/thresholds.go")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)const DefaultConfig = `(.*?)`").FindSubmatch(src)
	if m == nil {
		t.Fatal("DefaultConfig not found in the CDK app")
	}
	if _, _, err := Parse("infra default", m[1], now); err != nil {
		t.Errorf("the CDK app's fallback config is rejected: %v", err)
	}
}

// TestRulesApply: rules in the config reach the detection config; without
// any, the built-in catalog is used (Rules nil).
func TestRulesApply(t *testing.T) {
	cfg, _, err := Parse("t.yaml", []byte("version: 1\nrules:\n  - id: logs-delete-log-group\n    enabled: false\n"), now)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Rules == nil {
		t.Fatal("rules not compiled")
	}
	for _, r := range cfg.Rules.Rules() {
		if r.ID == "logs-delete-log-group" && (r.On() || r.Source != "t.yaml" || r.Line != 3) {
			t.Errorf("override: on %v source %q line %d", r.On(), r.Source, r.Line)
		}
	}
	if Default().Rules != nil {
		t.Error("the default config should use the built-in catalog")
	}
}

// TestBuiltinCatalogMatchesSchema: the embedded rule files are valid
// under the schema users' rules are checked against.
func TestBuiltinCatalogMatchesSchema(t *testing.T) {
	files, err := filepath.Glob("../detectors/rules/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("catalog files: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var root yaml.Node
		if err := yaml.Unmarshal(b, &root); err != nil {
			t.Fatal(err)
		}
		doc := root.Content[0]
		doc.Content = append([]*yaml.Node{{Kind: yaml.ScalarNode, Value: "version"}, {Kind: yaml.ScalarNode, Tag: "!!int", Value: "1"}}, doc.Content...)
		for _, p := range schemaProblems(doc) {
			t.Errorf("%s: %s", f, p)
		}
	}
}

// TestSelection: selection.credential_access_reads is off by default and
// in the shipped thresholds.yaml, on when set, and a value that is not a
// boolean or an unknown selection key is refused with its line.
func TestSelection(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		want    bool
		wantErr string
	}{
		{name: "absent", doc: "version: 1\n"},
		{name: "empty", doc: "version: 1\nselection: {}\n"},
		{name: "on", doc: "version: 1\nselection:\n  credential_access_reads: true\n", want: true},
		{name: "off", doc: "version: 1\nselection:\n  credential_access_reads: false\n"},
		{name: "not a boolean", doc: "version: 1\nselection:\n  credential_access_reads: yes please\n", wantErr: "line 3"},
		{name: "unknown key", doc: "version: 1\nselection:\n  kms_decrypt: true\n", wantErr: "kms_decrypt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, err := Parse("t.yaml", []byte(tt.doc), now)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one at %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Selection.CredentialAccessReads != tt.want {
				t.Errorf("credential_access_reads = %v, want %v", cfg.Selection.CredentialAccessReads, tt.want)
			}
		})
	}
	if Default().Selection.CredentialAccessReads {
		t.Error("the shipped thresholds.yaml scores credential-access reads; it must be opt-in")
	}
}
