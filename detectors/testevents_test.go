package detectors_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/trailwatch/trailwatch/events"
)

// TestAdversarialTestEventsNeverTouchRealBaselines: a test event (envelope
// source trailwatch.test) about alice goes to its own baseline in the test
// namespace, and its finding says it is a test; alice's real baseline does
// not move. The benign twin, the same record delivered by CloudTrail,
// trains alice's baseline and its findings name her plainly.
func TestAdversarialTestEventsNeverTouchRealBaselines(t *testing.T) {
	data, err := os.ReadFile("../events/testdata/test-events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var recs []*events.Record
	d := events.Decoder{Record: func(r *events.Record) { recs = append(recs, r) }}
	if err := d.Decode(bytes.NewReader(data)); err != nil || len(recs) != 2 {
		t.Fatalf("%d records: %v", len(recs), err)
	}
	n := &events.Normalizer{Keying: events.DefaultKeyingRules()}
	testEv, err := n.Normalize(recs[0])
	if err != nil {
		t.Fatal(err)
	}
	realEv, err := n.Normalize(recs[1])
	if err != nil {
		t.Fatal(err)
	}
	if realEv.Principal != alice || !testEv.Test {
		t.Fatalf("fixture: real principal %q, test event %v", realEv.Principal, testEv.Test)
	}

	ctx := context.Background()
	eng, mem := newEngine(t, nil, aliceHistory())
	seen := func() uint64 {
		states, err := mem.Load(ctx, []string{alice})
		if err != nil || states[alice] == nil {
			t.Fatalf("alice's baseline: %v", err)
		}
		return states[alice].Baseline.Events
	}
	before := seen()

	res := process(t, eng, testEv)
	if len(res.Updates) == 0 {
		t.Fatal("the test event gave no finding")
	}
	for _, u := range res.Updates {
		f := u.Finding
		if !strings.HasPrefix(f.Principal, events.TestPrincipalPrefix) || !strings.HasPrefix(f.Title, "[test] ") {
			t.Errorf("test finding: principal %q title %q; want the test namespace and a [test] title", f.Principal, f.Title)
		}
	}
	if got := seen(); got != before {
		t.Errorf("the test event changed alice's real baseline: %d events, was %d", got, before)
	}

	res = process(t, eng, realEv)
	if got := seen(); got != before+1 {
		t.Errorf("CloudTrail's event: alice's baseline has %d events, want %d", got, before+1)
	}
	for _, u := range res.Updates {
		if f := u.Finding; f.Principal != alice || strings.Contains(f.Title, "[test]") {
			t.Errorf("real finding: principal %q title %q", f.Principal, f.Title)
		}
	}
}
