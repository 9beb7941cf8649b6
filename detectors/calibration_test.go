package detectors_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trailwatch/trailwatch/baselines"
	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/events"
)

// TestCalibrationOnSample replays the bundled sample and checks the novelty
// estimate against what its mature principals did: in every bucket of
// predictions with enough observations, the mean predicted chance of a new
// value is within a factor of two of the observed rate (make bench prints
// the table: BenchmarkCalibration).
func TestCalibrationOnSample(t *testing.T) {
	if testing.Short() {
		t.Skip("replays the whole sample")
	}
	cal := sampleCalibration(t)
	var sb strings.Builder
	if err := cal.WriteTable(&sb); err != nil {
		t.Fatal(err)
	}
	t.Logf("calibration on the bundled sample:\n%s", sb.String())
	judged := 0
	for _, b := range cal.All {
		if b.N >= detectors.CalMinObservations {
			judged++
		}
	}
	if judged < 3 {
		t.Errorf("only %d buckets with %d observations: the sample cannot judge calibration", judged, detectors.CalMinObservations)
	}
	for _, i := range cal.Miscalibrated() {
		lo, hi := detectors.BucketRange(i)
		b := cal.All[i]
		t.Errorf("bucket [%.2g, %.2g): %d observations, mean predicted %.3g, observed %.3g: not within a factor of two", lo, hi, b.N, b.Mean(), b.Rate())
	}
}

// BenchmarkCalibration prints the calibration table of the bundled sample.
func BenchmarkCalibration(b *testing.B) {
	var cal *detectors.Calibration
	for range b.N {
		cal = sampleCalibration(b)
	}
	var sb strings.Builder
	if err := cal.WriteTable(&sb); err != nil {
		b.Fatal(err)
	}
	b.Logf("novelty calibration on the bundled sample (predicted chance of a new value vs observed rate):\n%s", sb.String())
	if bad := cal.Miscalibrated(); len(bad) > 0 {
		b.Errorf("miscalibrated buckets: %v", bad)
	}
}

func sampleCalibration(tb testing.TB) *detectors.Calibration {
	path := filepath.Join("..", "testdata", "sample", "cloudtrail.jsonl.gz")
	if _, err := os.Stat(path); err != nil {
		tb.Skipf("no sample: %v", err)
	}
	rd := &events.Reader{Normalizer: &events.Normalizer{Keying: events.DefaultKeyingRules()}}
	eng := detectors.NewEngine(detectors.DefaultConfig(), baselines.NewMemory(), nil)
	cal := &detectors.Calibration{}
	eng.Calibration = cal
	var rerr error
	var batch []events.Event
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if _, err := eng.Process(context.Background(), batch); err != nil {
			tb.Fatal(err)
		}
		batch = batch[:0]
	}
	for ev := range rd.Events([]string{path}, &rerr) {
		batch = append(batch, ev)
		if len(batch) == 500 {
			flush()
		}
	}
	flush()
	if rerr != nil {
		tb.Fatal(rerr)
	}
	return cal
}
