package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/trailwatch/trailwatch/events"
	"github.com/trailwatch/trailwatch/internal/emf"
	"github.com/trailwatch/trailwatch/internal/testenv"
)

const (
	rangesBucket = "trailwatch-ip-ranges-test"
	rangesKey    = "ip-ranges.json.gz"
)

// onlyInNewer is an address inside a prefix that only the newer fixture
// lists (18.200.0.0/16, eu-west-1).
var onlyInNewer = netip.MustParseAddr("18.200.7.9")

func gzipFile(t testing.TB, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(raw)
	zw.Close()
	return buf.Bytes()
}

func putObject(t testing.TB, endpoint, bucket string, body []byte) {
	t.Helper()
	if _, err := testenv.S3Client(endpoint).PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(rangesKey), Body: bytes.NewReader(body),
	}); err != nil {
		t.Fatalf("put ranges: %v", err)
	}
}

// TestRangesSource drives the source against an S3 server (gofakes3) step
// by step with a test clock: bundled ranges first, the bucket copy after a
// check, conditional GETs, and every failure keeping the last good ranges.
func TestRangesSource(t *testing.T) {
	bundled, err := events.LoadIPRangesFile("../../events/testdata/ip-ranges-small.json")
	if err != nil {
		t.Fatal(err)
	}
	srv := testenv.S3(t, rangesBucket)
	// As deployed: no s3:ListBucket, so a missing object is a 403.
	srv.HideMissing.Store(true)
	out := &syncBuffer{}
	clock := time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)
	src := newRangesSource(testenv.S3Client(srv.URL), rangesBucket, rangesKey, 10*time.Minute, bundled,
		slog.New(slog.NewJSONHandler(out, nil)), &emf.Writer{W: out})
	src.now = func() time.Time { return clock }
	ctx := context.Background()
	failures := func() int { return strings.Count(out.String(), `"IPRangesRefreshFailures":1`) }

	steps := []struct {
		name         string
		before       func()
		advance      time.Duration
		wantSync     int64
		wantNewer    bool // onlyInNewer classified as AWS's
		wantGETs     int64
		wantFailures int
	}{
		{name: "cold start, bucket empty: bundled ranges, one failure", wantSync: 1700000000, wantGETs: 1, wantFailures: 1},
		{name: "within the TTL: no request", before: func() { putObject(t, srv.URL, rangesBucket, gzipFile(t, "testdata/ip-ranges-newer.json")) },
			advance: 9 * time.Minute, wantSync: 1700000000, wantGETs: 1, wantFailures: 1},
		{name: "TTL over: the newer bucket copy replaces the bundled ranges", advance: 2 * time.Minute,
			wantSync: 1700086400, wantNewer: true, wantGETs: 2, wantFailures: 1},
		{name: "unchanged: a conditional GET, 304, same ranges", advance: 11 * time.Minute,
			wantSync: 1700086400, wantNewer: true, wantGETs: 3, wantFailures: 1},
		// The SDK tries a 503 three times.
		{name: "S3 unreachable: last good kept, failure counted", before: func() { srv.Down.Store(true) }, advance: 11 * time.Minute,
			wantSync: 1700086400, wantNewer: true, wantGETs: 6, wantFailures: 2},
		{name: "corrupt object: last good kept, failure counted",
			before: func() { srv.Down.Store(false); putObject(t, srv.URL, rangesBucket, []byte("\x1f\x8bnot really gzip")) }, advance: 11 * time.Minute,
			wantSync: 1700086400, wantNewer: true, wantGETs: 7, wantFailures: 3},
		{name: "older object: ignored, not a failure",
			before: func() { putObject(t, srv.URL, rangesBucket, gzipFile(t, "../../events/testdata/ip-ranges-small.json")) }, advance: 11 * time.Minute,
			wantSync: 1700086400, wantNewer: true, wantGETs: 8, wantFailures: 3},
	}
	var prev *events.IPRanges
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		clock = clock.Add(st.advance)
		r := src.Current(ctx)
		_, newer := r.Lookup(onlyInNewer)
		if r.SyncToken() != st.wantSync || newer != st.wantNewer {
			t.Errorf("%s: syncToken %d, %s inside AWS %v; want %d, %v", st.name, r.SyncToken(), onlyInNewer, newer, st.wantSync, st.wantNewer)
		}
		if got := srv.Requests(http.MethodGet); got != st.wantGETs {
			t.Errorf("%s: %d GETs so far, want %d", st.name, got, st.wantGETs)
		}
		if got := failures(); got != st.wantFailures {
			t.Errorf("%s: %d failures counted, want %d\n%s", st.name, got, st.wantFailures, out)
		}
		if st.name == "unchanged: a conditional GET, 304, same ranges" && r != prev {
			t.Errorf("%s: the unchanged object was parsed again", st.name)
		}
		prev = r
	}
}

// TestRangesSourceConcurrentInvokes: invokes running at once (as with
// AWS_LAMBDA_MAX_CONCURRENCY) all get ranges, and only one of them checks
// the bucket per TTL. Run with -race.
func TestRangesSourceConcurrentInvokes(t *testing.T) {
	srv := testenv.S3(t, rangesBucket)
	putObject(t, srv.URL, rangesBucket, gzipFile(t, "testdata/ip-ranges-newer.json"))
	src := newRangesSource(testenv.S3Client(srv.URL), rangesBucket, rangesKey, time.Hour, nil,
		slog.New(slog.NewJSONHandler(&syncBuffer{}, nil)), nil)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				src.Current(context.Background()).Lookup(onlyInNewer)
			}
		}()
	}
	wg.Wait()
	if got := srv.Requests(http.MethodGet); got != 1 {
		t.Errorf("%d GETs within one TTL, want 1", got)
	}
	if _, ok := src.Current(context.Background()).Lookup(onlyInNewer); !ok {
		t.Error("the bucket copy was not installed")
	}
}

// TestRangesSourceWithoutBucket: no bucket configured, the bundled ranges
// only; a nil source classifies nothing.
func TestRangesSourceWithoutBucket(t *testing.T) {
	bundled, err := events.LoadIPRangesFile("../../events/testdata/ip-ranges-small.json")
	if err != nil {
		t.Fatal(err)
	}
	src := newRangesSource(nil, "", "", defaultRangesTTL, bundled, slog.Default(), nil)
	if src.Current(context.Background()) != bundled {
		t.Error("bundled ranges not handed out")
	}
	var none *rangesSource
	if none.Current(context.Background()) != nil {
		t.Error("nil source handed out ranges")
	}
}

func TestBundledPath(t *testing.T) {
	exe := func() (string, error) { return "/var/task/bootstrap", nil }
	tests := []struct{ in, want string }{
		{"ip-ranges.json.gz", "/var/task/ip-ranges.json.gz"},
		{"data/ip-ranges.json", "/var/task/data/ip-ranges.json"},
		{"/opt/ranges/ip-ranges.json.gz", "/opt/ranges/ip-ranges.json.gz"},
		{"", ""},
	}
	for _, tt := range tests {
		if got, err := bundledPath(tt.in, exe); err != nil || got != tt.want {
			t.Errorf("bundledPath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	// Beside this test binary: the relative name resolves next to it.
	dir := t.TempDir()
	gz := filepath.Join(dir, "ip-ranges.json.gz")
	if err := os.WriteFile(gz, gzipFile(t, "../../events/testdata/ip-ranges-small.json"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := bundledPath("ip-ranges.json.gz", func() (string, error) { return filepath.Join(dir, "bootstrap"), nil })
	if err != nil {
		t.Fatal(err)
	}
	if r, err := events.LoadIPRangesFile(p); err != nil || r.SyncToken() != 1700000000 {
		t.Errorf("load %s: %v", p, err)
	}
}

func TestValidateRangesSettings(t *testing.T) {
	base := env{Table: "trailwatch-baselines", TopicARN: "arn:aws:sns:us-east-1:111122223333:findings"}
	tests := []struct {
		name    string
		mutate  func(e *env)
		wantErr string
		check   func(s settings) bool
	}{
		{name: "no bucket: bundled only", mutate: func(e *env) {}, check: func(s settings) bool { return s.rangesBucket == "" && !s.s3PathStyle }},
		{name: "bucket and key, default TTL", mutate: func(e *env) { e.RangesBucket, e.RangesKey = "trailwatch-ranges", "ip-ranges.json.gz" },
			check: func(s settings) bool { return s.rangesBucket == "trailwatch-ranges" && s.rangesTTL == defaultRangesTTL }},
		{name: "TTL", mutate: func(e *env) { e.RangesBucket, e.RangesKey, e.RangesTTL = "trailwatch-ranges", "k", "90s" },
			check: func(s settings) bool { return s.rangesTTL == 90*time.Second }},
		{name: "local endpoint: path style", mutate: func(e *env) {
			e.RangesBucket, e.RangesKey, e.S3Endpoint = "trailwatch-ranges", "k", "http://127.0.0.1:9000"
		}, check: func(s settings) bool { return s.s3PathStyle }},
		{name: "key without bucket", mutate: func(e *env) { e.RangesKey = "k" }, wantErr: "need IP_RANGES_BUCKET"},
		{name: "bucket without key", mutate: func(e *env) { e.RangesBucket = "trailwatch-ranges" }, wantErr: "IP_RANGES_KEY"},
		{name: "bucket ARN instead of name", mutate: func(e *env) { e.RangesBucket, e.RangesKey = "arn:aws:s3:::b", "k" }, wantErr: "IP_RANGES_BUCKET"},
		{name: "bad TTL", mutate: func(e *env) { e.RangesBucket, e.RangesKey, e.RangesTTL = "trailwatch-ranges", "k", "soon" }, wantErr: "IP_RANGES_TTL"},
	}
	for _, tt := range tests {
		e := base
		tt.mutate(&e)
		s, err := e.validate()
		switch {
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.wantErr)
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.wantErr == "" && !tt.check(s):
			t.Errorf("%s: settings %+v", tt.name, s)
		}
	}
}
