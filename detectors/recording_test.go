package detectors_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/trailwatch/trailwatch/baselines"
	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/events"
)

// processSample runs the bundled sample through an engine in batches of
// 100 and returns every update, in order.
func processSample(t *testing.T, cfg *detectors.Config, rec *detectors.Recording) []detectors.Update {
	t.Helper()
	path := filepath.Join("..", "testdata", "sample", "cloudtrail.jsonl.gz")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no sample: %v", err)
	}
	rd := &events.Reader{Normalizer: &events.Normalizer{Keying: events.DefaultKeyingRules()}}
	eng := detectors.NewEngine(cfg, baselines.NewMemory(), nil)
	eng.Recording = rec
	var ups []detectors.Update
	var batch []events.Event
	flush := func() {
		if len(batch) == 0 {
			return
		}
		res, err := eng.Process(context.Background(), batch)
		if err != nil {
			t.Fatal(err)
		}
		ups = append(ups, res.Updates...)
		batch = batch[:0]
	}
	var rerr error
	for ev := range rd.Events([]string{path}, &rerr) {
		batch = append(batch, ev)
		if len(batch) == 100 {
			flush()
		}
	}
	flush()
	if rerr != nil {
		t.Fatal(rerr)
	}
	return ups
}

// TestRecordingRefold: re-folding a recording reproduces, update by update
// (finding, new/escalated/count, routed, ticket), what Process returned
// with the same config, and what a pass with another threshold, band,
// mode and routing config returns; the recording itself changes nothing.
func TestRecordingRefold(t *testing.T) {
	if testing.Short() {
		t.Skip("replays the whole sample three times")
	}
	cfg := detectors.DefaultConfig()
	rec := &detectors.Recording{MinScore: 0.05}
	recorded := processSample(t, cfg, rec)
	plain := processSample(t, cfg, nil)
	if rec.Events() == 0 || rec.Signals() == 0 {
		t.Fatalf("recorded %d events, %d signals", rec.Events(), rec.Signals())
	}

	other := detectors.DefaultConfig()
	other.Routing.SNSMinSeverity = detectors.SeverityLow
	fs := other.Detectors[detectors.IDFirstSeen]
	fs.Threshold = 0.3
	fs.Severity.High = 0.7
	other.Detectors[detectors.IDFirstSeen] = fs
	hr := other.Detectors[detectors.IDHighRiskAction]
	hr.Mode = detectors.ModeShadow
	other.Detectors[detectors.IDHighRiskAction] = hr
	otherPass := processSample(t, other, nil)

	for _, tc := range []struct {
		name string
		cfg  *detectors.Config
		want []detectors.Update
	}{
		{"same config", cfg, plain},
		{"other config", other, otherPass},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []detectors.Update
			rec.Refold(tc.cfg, func(u detectors.Update) { got = append(got, u) })
			if a, b := encodeUpdates(t, got), encodeUpdates(t, tc.want); a != b {
				t.Errorf("refold gives %d updates, the pass %d; they differ", len(got), len(tc.want))
			}
		})
	}
	if encodeUpdates(t, recorded) != encodeUpdates(t, plain) {
		t.Error("recording changed what the engine returned")
	}
	if encodeUpdates(t, otherPass) == encodeUpdates(t, plain) {
		t.Error("the other config finds the same: the comparison tests nothing")
	}
}

func encodeUpdates(t *testing.T, ups []detectors.Update) string {
	t.Helper()
	b, err := json.Marshal(ups)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
