package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/internal/archivetest"
	"github.com/trailwatch/trailwatch/internal/testenv"
	"github.com/trailwatch/trailwatch/sample"
)

// benchArchive is the sample laid out as an organization trail's archive
// in a local directory, once per process and file window.
type benchArchive struct {
	once    sync.Once
	dir     string
	records int
	files   int
	err     error
}

// benchArchives are the archives the benchmarks read: the sample in 5-minute
// and hourly files, and a busy account's 5-minute files (busyArchive).
var benchArchives = map[string]*benchArchive{"5min-files": {}, "hourly-files": {}, "busy-5min-files": {}}

// benchWindows are the file windows of the archives.
var benchWindows = map[string]time.Duration{"5min-files": 5 * time.Minute, "hourly-files": time.Hour, "busy-5min-files": 5 * time.Minute}

// busyEvents is the size of the busy archive: 100,000 generated events of
// 1,000 principals (sample.GenerateLoad, about 300 a minute: a busy
// organization's 5-minute files hold about 1,500 records each).
const busyEvents = 100_000

func archiveForBench(b *testing.B, name string) (dir string, records, files int) {
	a := benchArchives[name]
	window := benchWindows[name]
	a.once.Do(func() {
		src := samplePath
		if name == "busy-5min-files" {
			if src, a.err = busyArchive(); a.err != nil {
				return
			}
			defer os.Remove(src)
		}
		recs, err := archivetest.ReadJSONL(src)
		if err != nil {
			a.err = err
			return
		}
		fs, err := archivetest.LayoutEvery(recs, window)
		if err != nil {
			a.err = err
			return
		}
		if a.dir, err = os.MkdirTemp("", "trailwatch-archive-"); err != nil {
			a.err = err
			return
		}
		if err := archivetest.WriteDir(a.dir, fs); err != nil {
			a.err = err
			return
		}
		a.records, a.files = len(recs), len(fs)
	})
	if a.err != nil {
		b.Fatalf("archive: %v", a.err)
	}
	return a.dir, a.records, a.files
}

// busyArchive writes the busy archive's records as JSON Lines to a
// temporary file and returns its path.
func busyArchive() (string, error) {
	f, err := os.CreateTemp("", "trailwatch-busy-*.jsonl")
	if err != nil {
		return "", err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if err := sample.GenerateLoad(w, 11, busyEvents, 1_000); err != nil {
		f.Close()
		return "", err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return "", err
	}
	return f.Name(), f.Close()
}

// TestMain removes the benchmarks' archive directories when the package's
// tests and benchmarks are done.
func TestMain(m *testing.M) {
	code := m.Run()
	for _, a := range benchArchives {
		if a.dir != "" {
			os.RemoveAll(a.dir)
		}
	}
	os.Exit(code)
}

// s3ForBench serves the archive in dir as the bucket org-trail from an S3
// API server (gofakes3) in a process of its own, on one core's worth of
// threads (GOMAXPROCS=1), stopped when b ends. S3 is another machine:
// in-process, the server's CPU (about as much as the client's per GET)
// would be counted against the client, on one core doubly so.
func s3ForBench(b *testing.B, dir string) *testenv.S3Proc {
	return testenv.S3Process(b, "org-trail", dir, 1)
}

// cpuTime returns the CPU time (user and system) this process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// localRate holds the local sub-benchmark's records/s and CPU per record by
// file window and GOMAXPROCS, for the S3 sub-benchmark's ratios.
var localRate = map[string][2]float64{}

// BenchmarkArchiveRead replays the sample's archive in the organization
// trail layout from local files and from an S3 API server in another
// process (s3ForBench), with the memory store: what reading S3 costs
// against local files. The sample is sparse (about 3 records per 5-minute
// file, 10,900 files), so per-request costs dominate; hourly files hold
// about 16 records each, and a busy organization's 5-minute files
// (busy-5min-files, generated) about 1,500, where reading is what costs.
// Run with -cpu 1 and without.
//
// Besides records/s and files/s it reports the benchmark process's CPU per
// record (cpu-µs/record: the client's cost whatever else the machine runs)
// and, for S3, the server's (server-cpu-µs/record), S3 throughput over
// local throughput (s3/local) and local CPU per record over S3's
// (cpu-local/s3: the same ratio for a client that has its cores to
// itself). The target is s3/local >= 0.8.
func BenchmarkArchiveRead(b *testing.B) {
	for _, w := range []struct{ name string }{{"5min-files"}, {"hourly-files"}, {"busy-5min-files"}} {
		dir, records, files := archiveForBench(b, w.name)
		srv := s3ForBench(b, dir)
		for _, c := range []struct{ name, path string }{
			{"local", dir},
			{"s3", "s3://org-trail/AWSLogs/"},
		} {
			b.Run(w.name+"/"+c.name, func(b *testing.B) {
				b.Setenv("AWS_ACCESS_KEY_ID", "")
				b.Setenv("AWS_PROFILE", "")
				cpu0 := cpuTime(b)
				srv0, err := srv.CPU()
				if err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if err := run([]string{"replay", "--quiet", "--progress", "never", "--s3-endpoint", srv.URL, c.path}, nil, io.Discard, io.Discard); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				n := float64(records) * float64(b.N)
				rate := n / b.Elapsed().Seconds()
				cpu := float64((cpuTime(b) - cpu0).Microseconds()) / n
				b.ReportMetric(rate, "records/s")
				b.ReportMetric(float64(files)*float64(b.N)/b.Elapsed().Seconds(), "files/s")
				b.ReportMetric(cpu, "cpu-µs/record")
				key := fmt.Sprintf("%s/%d", w.name, runtime.GOMAXPROCS(0))
				if c.name == "local" {
					localRate[key] = [2]float64{rate, cpu}
					return
				}
				srv1, err := srv.CPU()
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64((srv1-srv0).Microseconds())/n, "server-cpu-µs/record")
				if l, ok := localRate[key]; ok {
					b.ReportMetric(rate/l[0], "s3/local")
					b.ReportMetric(l[1]/cpu, "cpu-local/s3")
				}
			})
		}
	}
}

// BenchmarkBackfillS3 warms an empty dynalite table from the sample's
// archive on the S3 API server (the whole month): selected events applied
// per second, DynamoDB writes included.
func BenchmarkBackfillS3(b *testing.B) {
	dir, _, _ := archiveForBench(b, "5min-files")
	srv := s3ForBench(b, dir)
	ep := testenv.Dynalite(b)
	b.Setenv("AWS_ACCESS_KEY_ID", "")
	b.Setenv("AWS_PROFILE", "")
	var applied int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var o backfillOptions
		fs := backfillFlags(&o, io.Discard)
		paths, err := parseInterleaved(fs, []string{"--endpoint", ep, "--table", fmt.Sprintf("tw-bench-%d-%d", b.N, i), "--create-table",
			"--s3-endpoint", srv.URL, "--progress", "never", "--quiet", "--since", "2026-10-01", "--until", "2026-11-30", "s3://org-trail"})
		if err != nil {
			b.Fatal(err)
		}
		res, err := backfill(context.Background(), &o, paths, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		applied += res.Applied
	}
	b.ReportMetric(float64(applied)/b.Elapsed().Seconds(), "events/s")
}
