package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkTuneSweep20 compares a tune of 20 sweep points (--points 2: six
// detectors x 2 thresholds, 4 band shifts, 4 routing minimums), report
// included, with one replay of the same input: the archive is read once and
// only the case folding runs per point, so the tune must take at most 3x
// the replay.
func BenchmarkTuneSweep20(b *testing.B) {
	data, _ := sampleJSONL(b)
	dir := b.TempDir()
	path := filepath.Join(dir, "sample.jsonl")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		b.Fatal(err)
	}
	var replayTime, tuneTime time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if err := run([]string{"replay", "--quiet", "--progress", "never", path}, nil, io.Discard, io.Discard); err != nil {
			b.Fatal(err)
		}
		replayTime += time.Since(start)
		start = time.Now()
		var stderr bytes.Buffer
		if err := run([]string{"tune", "--progress", "never", "--points", "2", "--out", filepath.Join(dir, "report"), path}, nil, io.Discard, &stderr); err != nil {
			b.Fatal(err)
		}
		tuneTime += time.Since(start)
		if !strings.Contains(stderr.String(), " 20 sweep points ") {
			b.Fatalf("tune did not sweep 20 points: %s", stderr.String())
		}
	}
	ratio := tuneTime.Seconds() / replayTime.Seconds()
	b.ReportMetric(replayTime.Seconds()/float64(b.N), "replay-s/op")
	b.ReportMetric(tuneTime.Seconds()/float64(b.N), "tune20-s/op")
	b.ReportMetric(ratio, "tune/replay")
	if ratio > 3 {
		b.Fatalf("a 20-point tune took %.2fx one replay (%v against %v), want at most 3x", ratio, tuneTime/time.Duration(b.N), replayTime/time.Duration(b.N))
	}
}
