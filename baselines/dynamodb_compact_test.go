package baselines

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/trailwatch/trailwatch/detectors"
)

// TestCompactCold: a cold part near DynamoDB's 400 KB item limit (which the
// model's caps make unreachable with real CloudTrail values, so the values
// here are artificially long and random) is compacted under the limit by
// dropping the values unseen the longest, with a logged warning.
func TestCompactCold(t *testing.T) {
	var logs bytes.Buffer
	s := NewDynamoDB(nil, "tw-test", slog.New(slog.NewJSONHandler(&logs, nil)))
	b := detectors.NewBaseline("111122223333:role/huge")
	rng := rand.New(rand.NewPCG(1, 2))
	for d := range b.Dims {
		for i := 0; i < 24; i++ {
			// Random, so DEFLATE cannot shrink them.
			var sb strings.Builder
			for sb.Len() < 8000 {
				fmt.Fprintf(&sb, "%016x", rng.Uint64())
			}
			b.Dims[d].Values[sb.String()] = &detectors.Value{First: int32(20000 + i), Last: int32(20000 + i), Days: 1, Bits: 1}
		}
	}
	if n := len(pack(b.EncodeCold())); n <= compactLimit {
		t.Fatalf("setup: cold part only %d bytes", n)
	}
	cold := s.compactCold(b)
	if len(cold) > compactLimit {
		t.Errorf("compacted cold part is %d bytes, over %d", len(cold), compactLimit)
	}
	// The newest values survive, the oldest go.
	for d := range b.Dims {
		for _, v := range b.Dims[d].Values {
			if v.Last < 20000+5 {
				t.Errorf("%s: a value last seen on day %d survived while newer ones were dropped", detectors.Dim(d), v.Last)
			}
		}
	}
	if !strings.Contains(logs.String(), "baseline compacted") {
		t.Errorf("no warning logged: %s", logs.String())
	}
	if _, err := detectors.DecodeBaseline(b.EncodeHot(), unpackOrSame(t, cold)); err != nil {
		t.Errorf("compacted baseline does not decode: %v", err)
	}
}

func unpackOrSame(t *testing.T, b []byte) []byte {
	t.Helper()
	out, err := unpack(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
