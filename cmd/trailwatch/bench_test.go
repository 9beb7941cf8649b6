package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/trailwatch/trailwatch/sample"
)

const samplePath = "../../testdata/sample/cloudtrail.jsonl.gz"

var (
	sampleOnce  sync.Once
	sampleLines []byte
	sampleCount int
)

// sampleJSONL returns the bundled sample, decompressed, and its record count.
func sampleJSONL(tb testing.TB) ([]byte, int) {
	sampleOnce.Do(func() {
		f, err := os.Open(samplePath)
		if err != nil {
			return
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			return
		}
		sampleLines, _ = io.ReadAll(zr)
		sampleCount = bytes.Count(sampleLines, []byte("\n"))
	})
	if sampleLines == nil {
		tb.Fatalf("cannot read %s", samplePath)
	}
	return sampleLines, sampleCount
}

// BenchmarkReplay measures trailwatch replay end to end with the memory
// store on the bundled sample (decompressed, from a file).
func BenchmarkReplay(b *testing.B) {
	data, n := sampleJSONL(b)
	path := filepath.Join(b.TempDir(), "sample.jsonl")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := run([]string{"replay", "--quiet", "--progress", "never", path}, nil, io.Discard, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkNaiveDecode is the yardstick: decoding the same records with
// encoding/json into map[string]any, nothing else.
func BenchmarkNaiveDecode(b *testing.B) {
	data, n := sampleJSONL(b)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkReplayMillion replays 1,000,000 generated events of 1,000
// principals with the built trailwatch binary, one core, and reports its
// throughput and peak resident memory: memory must grow with principals,
// not events.
func BenchmarkReplayMillion(b *testing.B) {
	dir := b.TempDir()
	load := filepath.Join(dir, "load.jsonl")
	f, err := os.Create(load)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	const events, principals = 1_000_000, 1_000
	if err := sample.GenerateLoad(w, 7, events, principals); err != nil {
		b.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	bin := filepath.Join(dir, "trailwatch")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	b.ResetTimer()
	var maxRSS int64
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(bin, "replay", "--quiet", "--progress", "never", load)
		cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
		cmd.Stdout = io.Discard
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			b.Fatalf("replay: %v\n%s", err, stderr.String())
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru.Maxrss > maxRSS {
			maxRSS = ru.Maxrss // kilobytes on Linux
		}
	}
	b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(maxRSS)/1024, "peak-RSS-MB")
}
