package detectors_test

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/trailwatch/trailwatch/detectors"
)

// TestDecodeModelV1Migrates: a hot part written by model version 1 (a
// fixed ring of 32 event IDs behind a position byte) is migrated, not
// reset: everything it held is kept, its ring read oldest first, and it is
// written back as the current version.
func TestDecodeModelV1Migrates(t *testing.T) {
	b := aliceHistory().Baseline()
	b.RecentIDs, b.Sessions = nil, nil
	v2, cold := olderLayout(t, b)
	if v2[len(v2)-2] != 0 || v2[len(v2)-1] != 0 {
		t.Fatalf("unexpected layout of the version 2 hot part: ends % x", v2[len(v2)-2:])
	}
	// Version 1: the same fields, then the ring position, 32 slots, and
	// the (empty) sessions.
	v1 := append([]byte(nil), v2[:len(v2)-2]...)
	v1[1] = 1
	v1 = append(v1, 3) // the next slot to write: slot 3 holds the oldest
	for i := range 32 {
		var h uint32
		if i < 3 || i >= 30 {
			h = uint32(100 + i) // slots 30, 31, 0, 1, 2 used, 3..29 empty
		}
		v1 = binary.LittleEndian.AppendUint32(v1, h)
	}
	v1 = append(v1, 0)
	got, err := detectors.DecodeBaseline(v1, cold)
	if err != nil {
		t.Fatalf("decode version 1: %v", err)
	}
	if want := "[130 131 100 101 102]"; fmt.Sprint(got.RecentIDs) != want {
		t.Errorf("recent IDs %v, want %s (oldest first)", got.RecentIDs, want)
	}
	if got.Events != b.Events || got.Hours != b.Hours || got.LastSeen != b.LastSeen || len(got.Dims[0].Values) != len(b.Dims[0].Values) {
		t.Error("migration lost part of the baseline")
	}
	if enc := got.EncodeHot(); enc[1] != detectors.ModelVersion {
		t.Errorf("migrated baseline is written as version %d", enc[1])
	}
}

// olderLayout returns b's hot and cold parts as model version 2 wrote them
// (no per-dimension event counts or risk start in the hot part, five
// dimensions in the cold part), from the current encoding of b with those
// emptied, checking that the current layout is what it expects.
func olderLayout(t *testing.T, b *detectors.Baseline) (hot, cold []byte) {
	t.Helper()
	b.DimEvents, b.RiskSince = [detectors.NumDims]uint32{}, 0
	b.Dims[detectors.DimResource] = detectors.ValueSet{Values: map[string]*detectors.Value{}}
	b.Dims[detectors.DimRisk] = detectors.ValueSet{Values: map[string]*detectors.Value{}}
	h := b.EncodeHot()
	tail := int(detectors.NumDims) + 1 // a zero byte per count and the risk start
	if h[1] != detectors.ModelVersion || len(h) < tail+2 {
		t.Fatalf("unexpected layout of the current hot part: % x", h[:2])
	}
	for _, x := range h[len(h)-tail:] {
		if x != 0 {
			t.Fatalf("unexpected layout of the current hot part: ends % x", h[len(h)-tail:])
		}
	}
	hot = append([]byte(nil), h[:len(h)-tail]...)
	hot[1] = 2
	c := b.EncodeCold()
	// The two new dimensions, empty: no sightings, no values.
	if c[1] != detectors.ModelVersion || string(c[len(c)-4:]) != "\x00\x00\x00\x00" {
		t.Fatalf("unexpected layout of the current cold part: % x ... % x", c[:2], c[len(c)-4:])
	}
	cold = append([]byte(nil), c[:len(c)-4]...)
	cold[1] = 2
	return hot, cold
}

// TestDecodeModelV2Migrates: a baseline written by model version 2 (five
// dimensions, no event counts per dimension) is migrated: its values are
// kept, each dimension's event count starts at its sightings (so the first
// novelty estimate is the one version 2 made, never more confident), and
// the risks before its last day are judged by the API history (RiskSince).
func TestDecodeModelV2Migrates(t *testing.T) {
	b := aliceHistory().Baseline()
	hot, cold := olderLayout(t, b)
	got, err := detectors.DecodeBaseline(hot, cold)
	if err != nil {
		t.Fatalf("decode version 2: %v", err)
	}
	for d := detectors.Dim(0); d < detectors.NumDims; d++ {
		if len(got.Dims[d].Values) != len(b.Dims[d].Values) {
			t.Errorf("%s: %d values, want %d", d, len(got.Dims[d].Values), len(b.Dims[d].Values))
		}
		if got.DimEvents[d] != b.Dims[d].Sightings {
			t.Errorf("%s: %d events, want its %d sightings", d, got.DimEvents[d], b.Dims[d].Sightings)
		}
	}
	if got.RiskSince != b.LastDay+1 {
		t.Errorf("risk history starts on day %d, want %d (the day after the last)", got.RiskSince, b.LastDay+1)
	}
	p, _, _ := got.NewValueProbability(detectors.DimAPI)
	if p <= 0 || p >= 0.05 {
		t.Errorf("first estimate after migration %v: want the older model's small chance", p)
	}
	again, err := detectors.DecodeBaseline(got.EncodeHot(), got.EncodeCold())
	if err != nil || again.RiskSince != got.RiskSince || again.DimEvents != got.DimEvents {
		t.Errorf("migrated baseline does not round-trip: %v", err)
	}
}

// TestPackedNetworkKeys: an IPv4 /24 network value is stored in 4 bytes and
// comes back as the same key; any other key (IPv6, AWS networks, a
// non-canonical form) is stored as written. Every kind round-trips.
func TestPackedNetworkKeys(t *testing.T) {
	keys := []string{"203.0.113.0/24", "0.0.0.0/24", "255.255.255.0/24", "2001:db8:1::/48", "aws/us-east-1",
		"net/github-actions", "010.0.0.0/24", "1.2.3.0/25", "1.2.3.4/24", "256.1.1.0/24", "other:x.0/24"}
	b := detectors.NewBaseline("111122223333:role/r")
	for i, k := range keys {
		b.Dims[detectors.DimNetwork].Values[k] = &detectors.Value{First: int32(20000 + i), Last: int32(20000 + i), Days: 1, Bits: 1}
	}
	cold := b.EncodeCold()
	got, err := detectors.DecodeBaseline(b.EncodeHot(), cold)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if v := got.Dims[detectors.DimNetwork].Values[k]; v == nil || *v != *b.Dims[detectors.DimNetwork].Values[k] {
			t.Errorf("%q: %+v after a round trip", k, v)
		}
	}
	if n := len(got.Dims[detectors.DimNetwork].Values); n != len(keys) {
		t.Errorf("%d values after a round trip, want %d", n, len(keys))
	}
	one := detectors.NewBaseline("k")
	one.Dims[detectors.DimNetwork].Values["203.0.113.0/24"] = &detectors.Value{First: 1, Last: 1, Days: 1, Bits: 1}
	two := detectors.NewBaseline("k")
	two.Dims[detectors.DimNetwork].Values["203.0.113.0/25"] = &detectors.Value{First: 1, Last: 1, Days: 1, Bits: 1}
	if a, b := len(one.EncodeCold()), len(two.EncodeCold()); b-a != 11 {
		t.Errorf("a /24 takes %d bytes less than the same key unpacked, want 11 (4 instead of 15)", b-a)
	}
}
