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
	v2 := b.EncodeHot()
	if v2[1] != detectors.ModelVersion || v2[len(v2)-2] != 0 || v2[len(v2)-1] != 0 {
		t.Fatalf("unexpected layout of the current hot part: % x ... % x", v2[:2], v2[len(v2)-2:])
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
	got, err := detectors.DecodeBaseline(v1, b.EncodeCold())
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
