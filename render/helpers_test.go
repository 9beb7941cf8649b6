package render

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/detectors"
)

// sampleFindings are the findings of the replay golden file plus edge
// cases: empty optional fields, over-long text, many reasons and events.
func sampleFindings(t *testing.T) []detectors.Finding {
	t.Helper()
	fh, err := os.Open("../testdata/golden/replay-sample.jsonl")
	if err != nil {
		t.Fatalf("open golden findings: %v", err)
	}
	defer fh.Close()
	var out []detectors.Finding
	sc := bufio.NewScanner(fh)
	sc.Buffer(nil, 1<<22)
	for sc.Scan() {
		var f detectors.Finding
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			t.Fatalf("golden finding: %v", err)
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		t.Fatal("no golden findings")
	}
	t0 := time.Date(2026, 11, 3, 8, 0, 0, 0, time.UTC)
	long := detectors.Finding{
		ID: "tw-long", Detector: "first-seen", Severity: detectors.SeverityLow, Score: 0.31,
		Title:     strings.Repeat("a very long title with\nline breaks ", 40),
		Principal: "123456789012:user/" + strings.Repeat("x", 700), PrincipalARN: "arn:aws:iam::123456789012:user/" + strings.Repeat("x", 700),
		AccountID: "123456789012", Region: "eu-west-1", FirstEventTime: t0, LastEventTime: t0.Add(time.Hour), Count: 2000,
	}
	for i := 0; i < 60; i++ {
		long.Reasons = append(long.Reasons, strings.Repeat("reason ", 30))
		long.EventIDs = append(long.EventIDs, strings.Repeat("e", 36))
	}
	bare := detectors.Finding{ID: "tw-bare", Severity: detectors.SeverityInfo}
	root := detectors.Finding{ID: "tw-root", Detector: "high-risk-action", Severity: detectors.SeverityCritical, Title: "root signed in",
		Principal: "123456789012:root", PrincipalARN: "arn:aws:iam::123456789012:root", AccountID: "123456789012", Region: "cn-north-1",
		FirstEventTime: t0, LastEventTime: t0, Count: 1, Reasons: []string{"root signed in"}}
	return append(out, long, bare, root)
}
