package events_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/events"
	"github.com/trailwatch/trailwatch/internal/archivetest"
	"github.com/trailwatch/trailwatch/internal/testenv"
)

// sampleArchive lays the bundled sample out as an organization trail's
// archive, in a bucket of an in-process S3 API server and in a local
// directory.
func sampleArchive(t *testing.T) (srv *testenv.S3Server, dir string, files []archivetest.File) {
	t.Helper()
	recs, err := archivetest.ReadJSONL(filepath.Join("..", "testdata", "sample", "cloudtrail.jsonl.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if files, err = archivetest.Layout(recs); err != nil {
		t.Fatal(err)
	}
	srv = testenv.S3(t, "org-trail")
	if err := archivetest.Upload(context.Background(), testenv.S3Client(srv.URL), "org-trail", files); err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	if err := archivetest.WriteDir(dir, files); err != nil {
		t.Fatal(err)
	}
	return srv, dir, files
}

// TestS3Archive reads the sample from S3 (whole bucket, a prefix, a day
// range) and checks that the events and their order equal those of the
// local copy and of the original JSON Lines file; with --since/--until the
// S3 reader lists and fetches only the day directories of the range.
func TestS3Archive(t *testing.T) {
	srv, dir, files := sampleArchive(t)
	jsonl := filepath.Join("..", "testdata", "sample", "cloudtrail.jsonl.gz")
	newReader := func() *events.Reader {
		return &events.Reader{Normalizer: &events.Normalizer{}, S3: testenv.S3Client(srv.URL)}
	}
	whole := ids(readAll(t, newReader(), jsonl))
	if len(whole) < 1000 {
		t.Fatalf("sample gave %d events", len(whole))
	}
	since := time.Date(2026, 10, 12, 0, 0, 0, 0, time.UTC)
	until := time.Date(2026, 10, 19, 12, 0, 0, 0, time.UTC)
	var ranged []string
	for _, ev := range readAll(t, newReader(), jsonl) {
		if !ev.Time.Before(since) && ev.Time.Before(until) {
			ranged = append(ranged, ev.ID)
		}
	}
	if len(ranged) == 0 || len(ranged) == len(whole) {
		t.Fatalf("range holds %d of %d events: pick another", len(ranged), len(whole))
	}
	acct := strings.Split(files[0].Key, "/")[2]
	cases := []struct {
		name         string
		path         string
		since, until time.Time
		want         []string
	}{
		{"bucket", "s3://org-trail", time.Time{}, time.Time{}, whole},
		{"AWSLogs prefix", "s3://org-trail/AWSLogs/", time.Time{}, time.Time{}, whole},
		{"local copy", dir, time.Time{}, time.Time{}, whole},
		{"bucket, range", "s3://org-trail", since, until, ranged},
		{"org prefix, range", "s3://org-trail/AWSLogs/" + archivetest.OrgID + "/", since, until, ranged},
		{"local copy, range", dir, since, until, ranged},
		{"JSON Lines, range", jsonl, since, until, ranged},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rd := newReader()
			rd.Since, rd.Until = c.since, c.until
			gets := srv.Requests("GET")
			got := ids(readAll(t, rd, c.path))
			if !slices.Equal(got, c.want) {
				t.Fatalf("%d events, want %d (first difference at %d)", len(got), len(c.want), firstDiff(got, c.want))
			}
			if strings.HasPrefix(c.path, "s3://") && !c.since.IsZero() {
				// Days by key: the range's 8 days and the day after,
				// not the whole month.
				n := rd.Stats.Files.Load()
				if n == 0 || n >= int64(len(files))/2 {
					t.Errorf("read %d of %d files for a range of 8 days", n, len(files))
				}
				if srv.Requests("GET")-gets > 2*n+200 {
					t.Errorf("%d requests for %d files", srv.Requests("GET")-gets, n)
				}
			}
		})
	}
	t.Run("one account", func(t *testing.T) {
		rd := newReader()
		got := readAll(t, rd, "s3://org-trail/AWSLogs/"+archivetest.OrgID+"/"+acct+"/")
		if len(got) == 0 || len(got) >= len(whole) {
			t.Fatalf("%d events of account %s, of %d", len(got), acct, len(whole))
		}
	})
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestS3Unreachable: a bucket that stops answering mid-run ends the run
// with an error instead of yielding a sequence with holes; a benign twin
// (the server back up) reads everything.
func TestS3Unreachable(t *testing.T) {
	srv, _, _ := sampleArchive(t)
	rd := &events.Reader{Normalizer: &events.Normalizer{}, S3: testenv.S3Client(srv.URL), Parallel: 2}
	var err error
	n := 0
	for range rd.Events([]string{"s3://org-trail"}, &err) {
		if n++; n == 100 {
			srv.Down.Store(true)
		}
	}
	if err == nil {
		t.Fatalf("read %d events from a server that went down, no error", n)
	}
	srv.Down.Store(false)
	rd = &events.Reader{Normalizer: &events.Normalizer{}, S3: testenv.S3Client(srv.URL)}
	if got := readAll(t, rd, "s3://org-trail"); len(got) <= n {
		t.Fatalf("server up: %d events", len(got))
	}
	if _, err := events.ParseS3("s3://"); err == nil {
		t.Error("s3:// without a bucket parsed")
	}
}
