package config

import (
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/detectors"
)

func TestCompare(t *testing.T) {
	rule := detectors.BuiltinRules()[0].ID
	tests := []struct {
		name     string
		old, new string
		want     []string // substrings, one per change, in order
	}{
		{"numbers only", "version: 1\n", "version: 1\ndetectors:\n  rate:\n    threshold: 0.6\nwindows:\n  case_minutes: 30\n", nil},
		{"tickets later", "version: 1\n", "version: 1\nrouting:\n  ticket_min_severity: CRITICAL\n", []string{"routing: tickets now start at CRITICAL instead of HIGH"}},
		{"tickets earlier", "version: 1\n", "version: 1\nrouting:\n  ticket_min_severity: MEDIUM\n", []string{"routing: tickets now start at MEDIUM instead of HIGH: more findings"}},
		{"per-session role removed", "version: 1\n", "version: 1\nkeying:\n  per_session_roles: []\n", []string{`keying: roles matching "AWSReservedSSO_*" are no longer keyed per session`}},
		{"learning raised", "version: 1\n", "version: 1\nlearning:\n  min_days: 14\n", []string{"learning: learning raised"}},
		{"detector off", "version: 1\n", "version: 1\ndetectors:\n  credential-pinning:\n    mode: \"off\"\n", []string{"detector: credential-pinning turned off"}},
		{"credential reads on", "version: 1\n", "version: 1\nselection:\n  credential_access_reads: true\n", []string{"selection: selection.credential_access_reads turned on"}},
		{"credential reads off", "version: 1\nselection:\n  credential_access_reads: true\n", "version: 1\n", []string{"selection: selection.credential_access_reads turned off"}},
		{"rule disabled", "version: 1\n", "version: 1\nrules:\n  - id: " + rule + "\n    enabled: false\n", []string{"rule: high-risk rule " + rule + " is disabled"}},
		{"same suppression kept", "version: 1\nsuppressions:\n  - name: a\n    principal: \"*:role/ci\"\n    reason: ci noise\n    expires: 2099-01-01\n",
			"version: 1\nsuppressions:\n  - name: a\n    principal: \"*:role/ci\"\n    reason: ci noise\n    expires: 2099-01-01\n", nil},
	}
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, _, err := Parse("old.yaml", []byte(tt.old), now)
			if err != nil {
				t.Fatal(err)
			}
			cur, _, err := Parse("new.yaml", []byte(tt.new), now)
			if err != nil {
				t.Fatal(err)
			}
			changes := Compare(old, cur)
			if len(changes) != len(tt.want) {
				t.Fatalf("changes %v, want %d", changes, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(changes[i].String(), w) {
					t.Errorf("change %d = %q, want %q", i, changes[i], w)
				}
			}
		})
	}
}
