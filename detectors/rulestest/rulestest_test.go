package rulestest_test

import (
	"context"
	"testing"

	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/detectors/rulestest"
)

// TestBuiltinRuleExamples: every built-in rule has at least one positive
// and one negative example, and every example gives what it expects.
func TestBuiltinRuleExamples(t *testing.T) {
	for _, r := range detectors.BuiltinRules() {
		if len(r.Examples.Positive) == 0 || len(r.Examples.Negative) == 0 {
			t.Errorf("%s: rule %s needs a positive and a negative example", r.Source, r.ID)
		}
	}
	res, err := rulestest.Run(context.Background(), detectors.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range res.Mismatches {
		t.Error(m)
	}
	if res.Rules < 80 || res.Examples < 2*res.Rules {
		t.Errorf("ran %d rules, %d examples; want the whole catalog", res.Rules, res.Examples)
	}
	t.Logf("%d rules, %d examples", res.Rules, res.Examples)
}
