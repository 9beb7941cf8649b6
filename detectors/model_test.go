package detectors_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/detectors"
	dt "github.com/trailwatch/trailwatch/detectors/detectorstest"
	"github.com/trailwatch/trailwatch/events"
)

func trainedBaselines() []*detectors.Baseline {
	ci := dt.History{Profile: dt.CI, Principal: "111122223333:role/github-deploy", End: historyEnd, Days: 60, PerDay: 60}
	denied := aliceHistory()
	denied.DeniedPerWindow = 3
	return []*detectors.Baseline{aliceHistory().Baseline(), fnHistory().Baseline(), ci.Baseline(), denied.Baseline(), detectors.NewBaseline("111122223333:user/empty")}
}

func TestBaselineRoundTrip(t *testing.T) {
	for _, b := range trainedBaselines() {
		hot, cold := b.EncodeHot(), b.EncodeCold()
		got, err := detectors.DecodeBaseline(hot, cold)
		if err != nil {
			t.Fatalf("%s: %v", b.Key, err)
		}
		if h2, c2 := got.EncodeHot(), got.EncodeCold(); !bytes.Equal(h2, hot) || !bytes.Equal(c2, cold) {
			t.Errorf("%s: re-encoding differs (hot %d/%d, cold %d/%d bytes)", b.Key, len(h2), len(hot), len(c2), len(cold))
		}
		if got.Key != b.Key || got.Events != b.Events || got.Hours != b.Hours || len(got.Sessions) != len(b.Sessions) ||
			got.MutRate != b.MutRate || got.DenyRate != b.DenyRate {
			t.Errorf("%s: decoded hot part differs", b.Key)
		}
		for d := detectors.Dim(0); d < detectors.NumDims; d++ {
			if len(got.Dims[d].Values) != len(b.Dims[d].Values) {
				t.Errorf("%s: %s has %d values, want %d", b.Key, d, len(got.Dims[d].Values), len(b.Dims[d].Values))
			}
			for k, v := range b.Dims[d].Values {
				if g := got.Dims[d].Values[k]; g == nil || *g != *v {
					t.Errorf("%s: %s %q = %+v, want %+v", b.Key, d, k, g, v)
				}
			}
		}
		// The hot part alone gives empty value sets.
		hotOnly, err := detectors.DecodeBaseline(hot, nil)
		if err != nil || len(hotOnly.Dims[detectors.DimAPI].Values) != 0 || hotOnly.Events != b.Events {
			t.Errorf("%s: hot part alone: %v", b.Key, err)
		}
		t.Logf("%s: hot %d bytes, cold %d bytes", b.Key, len(hot), len(cold))
	}
}

func TestDecodeBaselineCorrupt(t *testing.T) {
	b := fnHistory().Baseline()
	hot, cold := b.EncodeHot(), b.EncodeCold()
	for n := 0; n < len(hot); n++ {
		if _, err := detectors.DecodeBaseline(hot[:n], cold); err == nil {
			t.Fatalf("hot part truncated to %d of %d bytes decoded without error", n, len(hot))
		}
	}
	for n := 1; n < len(cold); n++ {
		if _, err := detectors.DecodeBaseline(hot, cold[:n]); err == nil {
			t.Fatalf("cold part truncated to %d of %d bytes decoded without error", n, len(cold))
		}
	}
	if _, err := detectors.DecodeBaseline(cold, hot); err == nil {
		t.Error("swapped parts decoded")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		junk := make([]byte, rng.IntN(200))
		for j := range junk {
			junk[j] = byte(rng.Uint32())
		}
		if i%2 == 0 && len(junk) > 0 {
			junk[0] = 'H'
		}
		_, _ = detectors.DecodeBaseline(junk, junk) // must not panic
		// Flip bytes of a valid encoding.
		h := append([]byte(nil), hot...)
		c := append([]byte(nil), cold...)
		h[rng.IntN(len(h))] ^= byte(1 + rng.IntN(255))
		c[rng.IntN(len(c))] ^= byte(1 + rng.IntN(255))
		_, _ = detectors.DecodeBaseline(h, c)
	}
}

func TestDecodeBaselineModelVersion(t *testing.T) {
	b := aliceHistory().Baseline()
	hot, cold := b.EncodeHot(), b.EncodeCold()
	// The model version is the byte after the tag (one uvarint byte).
	// Version 1 is migrated (TestDecodeModelV1Migrates); 0 is older than
	// any migration.
	version := func(p []byte, v int) []byte {
		q := append([]byte{p[0]}, byte(v))
		return append(q, p[2:]...)
	}
	tests := []struct {
		name      string
		hot, cold []byte
		want      error // what errors.Is must match
		notWant   error // what it must not match
	}{
		{"older hot part resets", version(hot, 0), cold, detectors.ErrModelVersion, detectors.ErrNewerModel},
		{"older cold part resets", hot, version(cold, 0), detectors.ErrModelVersion, detectors.ErrNewerModel},
		{"newer hot part is refused", version(hot, detectors.ModelVersion+1), cold, detectors.ErrNewerModel, detectors.ErrModelVersion},
		{"newer cold part is refused", hot, version(cold, detectors.ModelVersion+1), detectors.ErrNewerModel, detectors.ErrModelVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := detectors.DecodeBaseline(tt.hot, tt.cold)
			if !errors.Is(err, tt.want) || errors.Is(err, tt.notWant) {
				t.Errorf("DecodeBaseline: %v; want %v, not %v", err, tt.want, tt.notWant)
			}
			var mv *detectors.ModelVersionError
			if !errors.As(err, &mv) || mv.Current != detectors.ModelVersion {
				t.Errorf("DecodeBaseline: %v is not a *ModelVersionError naming the current version", err)
			}
		})
	}
}

func FuzzDecodeBaseline(f *testing.F) {
	for _, b := range trainedBaselines()[:2] {
		f.Add(b.EncodeHot(), b.EncodeCold())
	}
	f.Add([]byte("H"), []byte(nil))
	f.Fuzz(func(t *testing.T, hot, cold []byte) {
		b, err := detectors.DecodeBaseline(hot, cold)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to a stable form.
		h1, c1 := b.EncodeHot(), b.EncodeCold()
		b2, err := detectors.DecodeBaseline(h1, c1)
		if err != nil {
			t.Fatalf("re-encoded baseline does not decode: %v", err)
		}
		if h2, c2 := b2.EncodeHot(), b2.EncodeCold(); !bytes.Equal(h1, h2) || !bytes.Equal(c1, c2) {
			t.Fatal("encoding is not stable")
		}
		// And a decoded baseline can keep learning.
		ev := dt.Event("111122223333:user/x", "s3:ListBuckets", time.Unix(b.LastSeen, 0).Add(time.Hour))
		b2.Observe(&ev, dt.Forget)
	})
}

// TestWriteFuzzSeeds regenerates testdata/fuzz/FuzzDecodeBaseline when
// TRAILWATCH_WRITE_FUZZ_SEEDS is set.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("TRAILWATCH_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set TRAILWATCH_WRITE_FUZZ_SEEDS to regenerate the fuzz corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeBaseline")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bs := trainedBaselines()
	hot, cold := bs[1].EncodeHot(), bs[1].EncodeCold()
	seeds := map[string][2][]byte{
		"alice":          {bs[0].EncodeHot(), bs[0].EncodeCold()},
		"function":       {hot, cold},
		"empty":          {bs[4].EncodeHot(), bs[4].EncodeCold()},
		"hot-only":       {hot, nil},
		"truncated-hot":  {hot[:len(hot)/2], cold},
		"truncated-cold": {hot, cold[:len(cold)/2]},
		"swapped":        {cold, hot},
		"garbage":        {[]byte("H\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"), []byte("C\x01\x80")},
		"huge-hour-run":  {[]byte("H\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xa8\x01"), nil},
	}
	for name, s := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n[]byte(%q)\n", s[0], s[1])
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBaselineBounded: a principal calling 10,000 distinct APIs from
// 100,000 distinct addresses with 1,000 user agents over 90 days still
// encodes under 32 KB.
func TestBaselineBounded(t *testing.T) {
	const n = 100_000
	b := detectors.NewBaseline("111122223333:role/chaos")
	start := historyEnd.Add(-90 * 24 * time.Hour)
	for i := 0; i < n; i++ {
		tm := start.Add(time.Duration(i) * 90 * 24 * time.Hour / n)
		ip := fmt.Sprintf("%d.%d.%d.%d", 11+i/65536%200, i/256%256, i%256, 1+i%250)
		ev := dt.Event(b.Key, fmt.Sprintf("svc%d:Action%d", i%97, i%10_000), tm,
			dt.From(ip), dt.UA(fmt.Sprintf("tool%d/1.%d", i%1000, i%7)),
			dt.Key(fmt.Sprintf("AKIA%016d", i%500)), dt.Region(fmt.Sprintf("region-%d", i%40)))
		if i%3 == 0 {
			ev.ErrorCode, ev.ErrClass = "AccessDenied", events.ErrDenied
		}
		b.Observe(&ev, dt.Forget)
	}
	hot, cold := len(b.EncodeHot()), len(b.EncodeCold())
	t.Logf("worst case after %d events: hot %d bytes + cold %d bytes = %d bytes; values: api %d, network %d, user_agent %d, region %d, access_key %d",
		n, hot, cold, hot+cold, len(b.Dims[detectors.DimAPI].Values), len(b.Dims[detectors.DimNetwork].Values),
		len(b.Dims[detectors.DimUserAgent].Values), len(b.Dims[detectors.DimRegion].Values), len(b.Dims[detectors.DimAccessKey].Values))
	if hot+cold >= 32*1024 {
		t.Errorf("encoded baseline is %d bytes, want under 32 KB", hot+cold)
	}
	if _, err := detectors.DecodeBaseline(b.EncodeHot(), b.EncodeCold()); err != nil {
		t.Errorf("bounded baseline does not decode: %v", err)
	}
}

func TestBaselineForgets(t *testing.T) {
	b := detectors.NewBaseline(alice)
	day0 := historyEnd
	old := dt.Event(alice, "ec2:DescribeInstances", day0.Add(10*time.Hour), dt.From(dt.IPHome), dt.UA(dt.UABoto3))
	b.Observe(&old, dt.Forget)
	// Daily activity of other kinds keeps the principal alive.
	for d := 1; d <= 90; d++ {
		ev := dt.Event(alice, "s3:ListBuckets", day0.Add(time.Duration(d)*24*time.Hour+10*time.Hour))
		b.Observe(&ev, dt.Forget)
	}
	for _, c := range []struct {
		d detectors.Dim
		v string
	}{{detectors.DimAPI, "ec2:DescribeInstances"}, {detectors.DimNetwork, "203.0.113.0/24"}, {detectors.DimUserAgent, "Boto3"}} {
		if _, ok := b.Has(c.d, c.v); !ok {
			t.Errorf("%s %s forgotten after 90 days", c.d, c.v)
		}
	}
	ev := dt.Event(alice, "s3:ListBuckets", day0.Add(91*24*time.Hour+10*time.Hour))
	b.Observe(&ev, dt.Forget)
	for _, c := range []struct {
		d detectors.Dim
		v string
	}{{detectors.DimAPI, "ec2:DescribeInstances"}, {detectors.DimNetwork, "203.0.113.0/24"}, {detectors.DimUserAgent, "Boto3"}} {
		if _, ok := b.Has(c.d, c.v); ok {
			t.Errorf("%s %s still remembered after 91 days unseen", c.d, c.v)
		}
	}
	if _, ok := b.Has(detectors.DimAPI, "s3:ListBuckets"); !ok {
		t.Error("a value seen today was forgotten")
	}
}

type valueSnap map[string]detectors.Value

func snapshot(b *detectors.Baseline) [detectors.NumDims]valueSnap {
	var out [detectors.NumDims]valueSnap
	for d := range b.Dims {
		out[d] = valueSnap{}
		for k, v := range b.Dims[d].Values {
			out[d][k] = *v
		}
	}
	return out
}

// TestBaselineOrderTolerant: the same events, shuffled and partly
// duplicated, give the same counts and the same remembered values.
func TestBaselineOrderTolerant(t *testing.T) {
	h := aliceHistory()
	h.Days = 30
	evs := h.Events()
	inOrder := dt.Train(detectors.NewBaseline(alice), evs)

	t.Run("shuffled within each day", func(t *testing.T) {
		sh := append([]events.Event(nil), evs...)
		rng := rand.New(rand.NewPCG(3, 4))
		sort.SliceStable(sh, func(i, j int) bool {
			return sh[i].Time.Truncate(24 * time.Hour).Before(sh[j].Time.Truncate(24 * time.Hour))
		})
		for lo := 0; lo < len(sh); {
			hi := lo
			for hi < len(sh) && sh[hi].Time.Truncate(24*time.Hour).Equal(sh[lo].Time.Truncate(24*time.Hour)) {
				hi++
			}
			rng.Shuffle(hi-lo, func(i, j int) { sh[lo+i], sh[lo+j] = sh[lo+j], sh[lo+i] })
			lo = hi
		}
		b := dt.Train(detectors.NewBaseline(alice), sh)
		compareBaselines(t, inOrder, b, true)
	})
	t.Run("shuffled across days", func(t *testing.T) {
		sh := append([]events.Event(nil), evs...)
		rand.New(rand.NewPCG(5, 6)).Shuffle(len(sh), func(i, j int) { sh[i], sh[j] = sh[j], sh[i] })
		b := dt.Train(detectors.NewBaseline(alice), sh)
		compareBaselines(t, inOrder, b, false)
	})
	t.Run("shuffled across days, day counts", func(t *testing.T) {
		sh := append([]events.Event(nil), evs...)
		rand.New(rand.NewPCG(5, 6)).Shuffle(len(sh), func(i, j int) { sh[i], sh[j] = sh[j], sh[i] })
		b := dt.Train(detectors.NewBaseline(alice), sh)
		compareBaselines(t, inOrder, b, true)
		if b.ActiveDays != inOrder.ActiveDays {
			t.Errorf("ActiveDays %d, in order %d", b.ActiveDays, inOrder.ActiveDays)
		}
	})
	t.Run("duplicates within a day", func(t *testing.T) {
		var dup []events.Event
		for _, ev := range evs {
			dup = append(dup, ev, ev)
		}
		b := dt.Train(detectors.NewBaseline(alice), dup)
		a, c := snapshot(inOrder), snapshot(b)
		for d := range a {
			if fmt.Sprint(a[d]) != fmt.Sprint(c[d]) {
				t.Errorf("%s: duplicated events change the value set", detectors.Dim(d))
			}
		}
	})
}

func compareBaselines(t *testing.T, want, got *detectors.Baseline, days bool) {
	t.Helper()
	if got.Events != want.Events || got.Mutating != want.Mutating || got.FirstSeen != want.FirstSeen || got.LastSeen != want.LastSeen {
		t.Errorf("counters differ: events %d/%d mutating %d/%d", got.Events, want.Events, got.Mutating, want.Mutating)
	}
	a, c := snapshot(want), snapshot(got)
	for d := range a {
		if len(a[d]) != len(c[d]) {
			t.Errorf("%s: %d values, in order %d", detectors.Dim(d), len(c[d]), len(a[d]))
		}
		for k, v := range a[d] {
			g, ok := c[d][k]
			switch {
			case !ok:
				t.Errorf("%s %q missing", detectors.Dim(d), k)
			case g.First != v.First || g.Last != v.Last:
				t.Errorf("%s %q first/last %d/%d, in order %d/%d", detectors.Dim(d), k, g.First, g.Last, v.First, v.Last)
			case days && g.Days != v.Days:
				t.Errorf("%s %q seen on %d days, in order %d", detectors.Dim(d), k, g.Days, v.Days)
			}
		}
		if days && got.Dims[d].Sightings != want.Dims[d].Sightings {
			t.Errorf("%s: %d sightings, in order %d", detectors.Dim(d), got.Dims[d].Sightings, want.Dims[d].Sightings)
		}
	}
}

func TestPoissonTail(t *testing.T) {
	cases := []struct {
		k      int
		lambda float64
		want   float64
	}{
		{10, 2, 4.6494e-5},
		{1, 1, 1 - math.Exp(-1)},
		{0, 3, 1},
		{3, 10, 1 - math.Exp(-10)*(1+10+50)},
		{5, 1, 3.6599e-3},
		{20, 3, 8.3144e-11},
	}
	for _, c := range cases {
		got := detectors.PoissonTail(c.k, c.lambda)
		if math.Abs(got-c.want) > 1e-3*c.want {
			t.Errorf("P(X>=%d | %g) = %.6g, want %.6g", c.k, c.lambda, got, c.want)
		}
	}
	for _, lambda := range []float64{0.3, 1, 5, 45, 300} {
		prev := 1.0
		for k := 0; k <= 2*int(lambda)+60; k++ {
			p := detectors.PoissonTail(k, lambda)
			if p > prev+1e-12 || p < 0 || p > 1 || math.IsNaN(p) {
				t.Fatalf("λ=%g: P(X>=%d) = %g after %g: not a falling probability", lambda, k, p, prev)
			}
			prev = p
		}
	}
	if p := detectors.PoissonTail(1000, 2); p < 0 || math.IsNaN(p) {
		t.Errorf("far tail: %g", p)
	}
}
