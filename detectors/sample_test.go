package detectors_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/trailwatch/trailwatch/baselines"
	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/events"
)

// TestSampleBaselineSizes replays the bundled sample through the engine in
// batches of 100 and reports the encoded baseline size per principal.
func TestSampleBaselineSizes(t *testing.T) {
	path := filepath.Join("..", "testdata", "sample", "cloudtrail.jsonl.gz")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no sample: %v", err)
	}
	if testing.Short() {
		t.Skip("replays the whole sample")
	}
	rd := &events.Reader{Normalizer: &events.Normalizer{Keying: events.DefaultKeyingRules()}}
	mem := baselines.NewMemory()
	eng := detectors.NewEngine(detectors.DefaultConfig(), mem, nil)
	var rerr error
	var batch []events.Event
	n := 0
	flush := func() {
		if len(batch) == 0 {
			return
		}
		res, err := eng.Process(context.Background(), batch)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Failed) > 0 {
			t.Fatalf("failed: %v", res.Failed)
		}
		batch = batch[:0]
	}
	for ev := range rd.Events([]string{path}, &rerr) {
		batch = append(batch, ev)
		n++
		if len(batch) == 100 {
			flush()
		}
	}
	flush()
	if rerr != nil {
		t.Fatal(rerr)
	}
	type size struct {
		key            string
		hot, cold, all int
	}
	var sizes []size
	mem.Each(func(st *detectors.State) {
		h, c := len(st.Baseline.EncodeHot()), len(st.Baseline.EncodeCold())
		sizes = append(sizes, size{st.Baseline.Key, h, c, h + c})
	})
	if len(sizes) == 0 {
		t.Fatal("no principals")
	}
	sort.Slice(sizes, func(i, j int) bool { return sizes[i].all < sizes[j].all })
	med := sizes[len(sizes)/2].all
	if len(sizes)%2 == 0 {
		med = (sizes[len(sizes)/2-1].all + sizes[len(sizes)/2].all) / 2
	}
	top := sizes[len(sizes)-1]
	t.Logf("%d events, %d principals: encoded baseline median %d bytes, max %d bytes (%s: hot %d + cold %d)",
		n, len(sizes), med, top.all, top.key, top.hot, top.cold)
	// Issue 11's budget: the richer baseline (resources, risks) keeps the
	// median under 1.5 KiB, measured here without AWS's ranges (every
	// Lambda address its own /24: the larger figure; with them, as the
	// deployed function runs, it is smaller).
	if med >= 1536 {
		t.Errorf("median encoded baseline %d bytes, want under 1.5 KiB", med)
	}
	if top.all >= 32*1024 {
		t.Errorf("largest baseline %s is %d bytes, want under 32 KB", top.key, top.all)
	}
}
