package detectors_test

import (
	"strings"
	"testing"

	"github.com/trailwatch/trailwatch/detectors"
	dt "github.com/trailwatch/trailwatch/detectors/detectorstest"
)

// TestRunbooks: every finding carries next steps for its lead detector or
// high-risk category, and a console link to its first event; both survive
// the store (they are rebuilt on load, not stored).
func TestRunbooks(t *testing.T) {
	cfg := detectors.DefaultConfig()
	cfg.Routing.SNSMinSeverity = detectors.SeverityLow
	e, mem := newEngine(t, cfg, aliceHistory())
	res := process(t, e, dt.Event(alice, "cloudtrail:StopLogging", at(10, 10, 0), dt.UA(dt.UABoto3), dt.ID("stop-1")))
	if len(res.Updates) != 1 {
		t.Fatalf("want one finding, got %d", len(res.Updates))
	}
	f := res.Updates[0].Finding
	if len(f.NextSteps) < 2 || !strings.Contains(f.NextSteps[0], "Restore what was turned off") {
		t.Errorf("logging tampering next steps: %q", f.NextSteps)
	}
	if want := "https://us-east-1.console.aws.amazon.com/cloudtrailv2/home?region=us-east-1#/events/stop-1"; f.ConsoleURL != want {
		t.Errorf("console URL %q, want %q", f.ConsoleURL, want)
	}
	// A first-seen finding gets its detector's steps, naming the person.
	res = process(t, e, dt.Event(alice, "ec2:DescribeInstances", at(12, 10, 0), dt.From(dt.IPForeign), dt.UA(dt.UACurl)))
	for _, u := range res.Updates {
		if u.Finding.Detector == detectors.IDFirstSeen && !strings.Contains(strings.Join(u.Finding.NextSteps, " "), "alice") {
			t.Errorf("first-seen next steps do not name the principal: %q", u.Finding.NextSteps)
		}
	}
	// Stored slim, rebuilt on load.
	var st *detectors.State
	mem.Each(func(s *detectors.State) { st = s })
	b, err := detectors.EncodeCases(st.Cases)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "next_steps") || strings.Contains(string(b), "console_url") {
		t.Error("derived runbook fields are stored")
	}
	if f.NextSteps == nil {
		t.Fatal("no next steps")
	}
}

// TestEveryCategoryHasARunbook: each built-in rule's category has its own
// next steps rather than the generic ones.
func TestEveryCategoryHasARunbook(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range detectors.BuiltinRules() {
		if seen[r.Category] {
			continue
		}
		seen[r.Category] = true
		steps := detectors.RunbookFor(detectors.IDHighRiskAction, r.Category, "alice")
		for _, st := range steps {
			if strings.Contains(st, "%") || strings.Contains(st, "{") {
				t.Errorf("category %q: unformatted step %q", r.Category, st)
			}
		}
		if len(steps) < 2 || strings.HasPrefix(steps[0], "Confirm with alice's owner that these calls") {
			t.Errorf("category %q has no runbook of its own: %q", r.Category, steps)
		}
	}
	for _, d := range detectors.DetectorIDs() {
		if steps := detectors.RunbookFor(d, "", "alice"); len(steps) < 2 {
			t.Errorf("detector %s: %q", d, steps)
		}
	}
}
