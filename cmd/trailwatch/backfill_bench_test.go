package main

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/trailwatch/trailwatch/internal/archivetest"
	"github.com/trailwatch/trailwatch/internal/testenv"
)

// benchArchive is the sample laid out as an organization trail's archive,
// once per process and file window: in a bucket of an in-process S3 API
// server (gofakes3 on loopback) and in a local directory.
type benchArchive struct {
	once    sync.Once
	url     string
	dir     string
	records int
	files   int
	err     error
}

var benchArchives = map[time.Duration]*benchArchive{5 * time.Minute: {}, time.Hour: {}}

func archiveForBench(b *testing.B, window time.Duration) (url, dir string, records, files int) {
	a := benchArchives[window]
	a.once.Do(func() {
		recs, err := archivetest.ReadJSONL(samplePath)
		if err != nil {
			a.err = err
			return
		}
		fs, err := archivetest.LayoutEvery(recs, window)
		if err != nil {
			a.err = err
			return
		}
		srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
		c := testenv.S3Client(srv.URL)
		if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("org-trail")}); err != nil {
			a.err = err
			return
		}
		if err := archivetest.Upload(context.Background(), c, "org-trail", fs); err != nil {
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
		a.url, a.records, a.files = srv.URL, len(recs), len(fs)
	})
	if a.err != nil {
		b.Fatalf("archive: %v", a.err)
	}
	return a.url, a.dir, a.records, a.files
}

// BenchmarkArchiveRead replays the sample's archive in the organization
// trail layout from local files and from the S3 API server, with the memory
// store: what reading S3 costs against local files. The sample is sparse
// (about 3 records per 5-minute file, 9,500 files), so per-request costs
// dominate; hourly files (about 13 records each) are closer to a busy
// account's. Run with -cpu 1 and without.
func BenchmarkArchiveRead(b *testing.B) {
	for _, w := range []struct {
		name   string
		window time.Duration
	}{{"5min-files", 5 * time.Minute}, {"hourly-files", time.Hour}} {
		url, dir, records, files := archiveForBench(b, w.window)
		for _, c := range []struct{ name, path string }{
			{"local", dir},
			{"s3", "s3://org-trail/AWSLogs/"},
		} {
			b.Run(w.name+"/"+c.name, func(b *testing.B) {
				b.Setenv("AWS_ACCESS_KEY_ID", "")
				b.Setenv("AWS_PROFILE", "")
				for i := 0; i < b.N; i++ {
					if err := run([]string{"replay", "--quiet", "--progress", "never", "--s3-endpoint", url, c.path}, nil, io.Discard, io.Discard); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
				b.ReportMetric(float64(files)*float64(b.N)/b.Elapsed().Seconds(), "files/s")
			})
		}
	}
}

// BenchmarkBackfillS3 warms an empty dynalite table from the sample's
// archive on the S3 API server (the whole month): selected events applied
// per second, DynamoDB writes included.
func BenchmarkBackfillS3(b *testing.B) {
	url, _, _, _ := archiveForBench(b, 5*time.Minute)
	ep := testenv.Dynalite(b)
	b.Setenv("AWS_ACCESS_KEY_ID", "")
	b.Setenv("AWS_PROFILE", "")
	var applied int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var o backfillOptions
		fs := backfillFlags(&o, io.Discard)
		paths, err := parseInterleaved(fs, []string{"--endpoint", ep, "--table", fmt.Sprintf("tw-bench-%d-%d", b.N, i), "--create-table",
			"--s3-endpoint", url, "--progress", "never", "--quiet", "--since", "2026-10-01", "--until", "2026-11-30", "s3://org-trail"})
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
