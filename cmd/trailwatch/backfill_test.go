package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/trailwatch/trailwatch/baselines"
	"github.com/trailwatch/trailwatch/internal/archivetest"
	"github.com/trailwatch/trailwatch/internal/testenv"
)

// The sample spans 2026-10-05 .. 2026-11-04 (31 days); the warm start
// learns from its first 80% (25 days).
const (
	warmSince = "2026-10-05"
	warmUntil = "2026-10-29"
)

// archiveServer serves the bundled sample as an organization trail's
// archive in bucket org-trail of an in-process S3 API server.
func archiveServer(tb testing.TB) (*testenv.S3Server, []archivetest.File) {
	tb.Helper()
	recs, err := archivetest.ReadJSONL(samplePath)
	if err != nil {
		tb.Fatal(err)
	}
	files, err := archivetest.Layout(recs)
	if err != nil {
		tb.Fatal(err)
	}
	srv := testenv.S3(tb, "org-trail")
	if err := archivetest.Upload(context.Background(), testenv.S3Client(srv.URL), "org-trail", files); err != nil {
		tb.Fatal(err)
	}
	return srv, files
}

// tableItems is the table's state, item by item, less what differs between
// runs that hold the same baselines: the attributes every write changes
// (version, writer token) and the names of spilled parts (a random nonce
// per write). A HOT item's references to its spilled parts are replaced by
// their content; spilled parts no HOT item refers to (older writes' parts,
// left to expire) are left out.
func tableItems(t *testing.T, endpoint, table string) map[string]string {
	t.Helper()
	c := baselines.NewDynamoDBClient(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")}, endpoint)
	items := map[string]map[string]types.AttributeValue{}
	var start map[string]types.AttributeValue
	for {
		page, err := c.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(table), ExclusiveStartKey: start})
		if err != nil {
			t.Fatalf("scan %s: %v", table, err)
		}
		for _, it := range page.Items {
			items[it["pk"].(*types.AttributeValueMemberS).Value+" "+it["sk"].(*types.AttributeValueMemberS).Value] = it
		}
		if len(page.LastEvaluatedKey) == 0 {
			break
		}
		start = page.LastEvaluatedKey
	}
	render := func(it map[string]types.AttributeValue, pk string) string {
		names := make([]string, 0, len(it))
		for k := range it {
			if k != "version" && k != "writer" && k != "pk" && k != "sk" {
				names = append(names, k)
			}
		}
		sort.Strings(names)
		var b strings.Builder
		for _, k := range names {
			switch v := it[k].(type) {
			case *types.AttributeValueMemberB:
				fmt.Fprintf(&b, "%s=%x;", k, v.Value)
			case *types.AttributeValueMemberS:
				if strings.HasSuffix(k, "_ref") && v.Value != "" {
					part, ok := items[pk+" "+v.Value]
					if !ok {
						t.Fatalf("%s: %s refers to %s, missing", pk, k, v.Value)
					}
					fmt.Fprintf(&b, "%s=>{data=%x expires_at=%v};", k, part["data"].(*types.AttributeValueMemberB).Value, part["expires_at"])
					continue
				}
				fmt.Fprintf(&b, "%s=%s;", k, v.Value)
			case *types.AttributeValueMemberN:
				fmt.Fprintf(&b, "%s=%s;", k, v.Value)
			default:
				fmt.Fprintf(&b, "%s=%T;", k, v)
			}
		}
		return b.String()
	}
	out := map[string]string{}
	for k, it := range items {
		pk, sk, _ := strings.Cut(k, " ")
		if strings.HasPrefix(pk, "P#") && sk != "HOT" {
			continue
		}
		out[k] = render(it, pk)
	}
	return out
}

func diffItems(t *testing.T, got, want map[string]string) {
	t.Helper()
	n := 0
	for k, w := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("item %s missing", k)
			n++
		} else if g != w {
			t.Errorf("item %s differs:\n got  %.300s\n want %.300s", k, g, w)
			n++
		}
		if n > 5 {
			t.FailNow()
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("extra item %s", k)
		}
	}
}

// dynamoProxy forwards to dynalite and calls onPut after each PutItem of
// a principal's item it passed on (to interrupt a run between two
// principals' writes, before the batch's checkpoint).
func dynamoProxy(t *testing.T, target string, onPut func(n int64)) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	var puts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rp.ServeHTTP(w, r)
		if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".PutItem") && bytes.Contains(body, []byte(`"P#`)) {
			onPut(puts.Add(1))
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func backfillArgs(ep, table string, s3 *testenv.S3Server, extra ...string) []string {
	args := []string{"--endpoint", ep, "--table", table, "--create-table", "--s3-endpoint", s3.URL,
		"--progress", "never", "--since", warmSince, "--until", warmUntil}
	return append(append(args, extra...), "s3://org-trail/AWSLogs/")
}

// runBackfillArgs runs a backfill with ctx, as the command does.
func runBackfillArgs(ctx context.Context, args []string, afterBatch func(int64)) (*backfillResult, string, error) {
	var o backfillOptions
	var stderr bytes.Buffer
	fs := backfillFlags(&o, &stderr)
	paths, err := parseInterleaved(fs, args)
	if err != nil {
		return nil, "", err
	}
	o.afterBatch = afterBatch
	res, err := backfill(ctx, &o, paths, &stderr)
	return res, stderr.String(), err
}

// TestBackfillResume: the warm start of the sample's first 80% from the S3
// archive, interrupted halfway (between two batches, and in the middle of
// a batch after some of its principals were saved) and run again, leaves
// exactly the items, compared one by one, of one uninterrupted run. A
// completed backfill run again does nothing; the table's state then
// refuses an earlier or overlapping range (benign twin: the next range
// is accepted).
func TestBackfillResume(t *testing.T) {
	if testing.Short() {
		t.Skip("backfills the sample into dynalite")
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_PROFILE", "")
	ctx := context.Background()
	s3srv, _ := archiveServer(t)
	ep := testenv.Dynalite(t)

	// One uninterrupted run, counting its principals' writes.
	var fullPuts atomic.Int64
	counted := dynamoProxy(t, ep, func(n int64) { fullPuts.Store(n) })
	full, summary, err := runBackfillArgs(ctx, backfillArgs(counted, "tw-full", s3srv), nil)
	if err != nil {
		t.Fatalf("backfill: %v\n%s", err, summary)
	}
	if !full.Done || full.Applied < 1000 || full.Principals == 0 {
		t.Fatalf("backfill result %+v\n%s", full, summary)
	}
	for _, want := range []string{"complete", "events applied:    " + fmt.Sprint(full.Applied), "dynamodb capacity:", "findings routed:   none"} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}
	t.Logf("uninterrupted:\n%s", summary)
	want := tableItems(t, ep, "tw-full")

	t.Run("interrupted between batches", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		half := full.Applied / 2
		first, _, err := runBackfillArgs(cctx, backfillArgs(ep, "tw-cut", s3srv), func(n int64) {
			if n >= half {
				cancel()
			}
		})
		if err == nil || first.Done || first.Applied < half || first.Applied >= full.Applied {
			t.Fatalf("interrupted run: %+v, %v", first, err)
		}
		again, summary, err := runBackfillArgs(ctx, backfillArgs(ep, "tw-cut", s3srv), nil)
		if err != nil {
			t.Fatalf("resumed run: %v\n%s", err, summary)
		}
		if again.Resumed != first.Applied || again.Applied != full.Applied {
			t.Errorf("resumed run %+v after %+v, want %d in all", again, first, full.Applied)
		}
		diffItems(t, tableItems(t, ep, "tw-cut"), want)
	})

	for _, cut := range []struct {
		name string
		puts int64
	}{
		{"interrupted within the first batch", 2},
		{"interrupted within a batch halfway", fullPuts.Load() / 2},
	} {
		t.Run(cut.name, func(t *testing.T) {
			// Cancel right after a principal's write: the batch in
			// flight has some principals saved and no checkpoint.
			cctx, cancel := context.WithCancel(ctx)
			defer cancel()
			proxy := dynamoProxy(t, ep, func(n int64) {
				if n == cut.puts {
					cancel()
				}
			})
			table := fmt.Sprintf("tw-cut-%d", cut.puts)
			first, _, err := runBackfillArgs(cctx, backfillArgs(proxy, table, s3srv), nil)
			if err == nil || first.Done || first.Applied >= full.Applied {
				t.Fatalf("interrupted run: %+v, %v", first, err)
			}
			again, summary, err := runBackfillArgs(ctx, backfillArgs(ep, table, s3srv), nil)
			if err != nil {
				t.Fatalf("resumed run: %v\n%s", err, summary)
			}
			if again.Resumed != first.Applied || again.Applied != full.Applied {
				t.Errorf("resumed run %+v after %+v, want %d in all", again, first, full.Applied)
			}
			diffItems(t, tableItems(t, ep, table), want)
		})
	}

	t.Run("completed run again", func(t *testing.T) {
		res, summary, err := runBackfillArgs(ctx, backfillArgs(ep, "tw-full", s3srv), nil)
		if err != nil || !res.Done || !strings.Contains(summary, "already complete") {
			t.Fatalf("%+v %v\n%s", res, err, summary)
		}
		diffItems(t, tableItems(t, ep, "tw-full"), want)
	})

	for _, c := range []struct {
		name, since, until string
		refused            string
	}{
		{"earlier range", "2026-10-05", "2026-10-10", "after --until"},
		{"overlapping range", "2026-10-20", "2026-11-01", "counted twice"},
		{"next range", "2026-10-30", "2026-11-04", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := []string{"--endpoint", ep, "--table", "tw-full", "--s3-endpoint", s3srv.URL, "--progress", "never",
				"--since", c.since, "--until", c.until, "s3://org-trail"}
			res, summary, err := runBackfillArgs(ctx, args, nil)
			if c.refused == "" {
				if err != nil || !res.Done || res.Applied == 0 {
					t.Fatalf("next range: %+v %v\n%s", res, err, summary)
				}
				return
			}
			var ns *newerStateError
			if !errors.As(err, &ns) || !strings.Contains(err.Error(), c.refused) || !strings.Contains(err.Error(), "--allow-newer-state") {
				t.Fatalf("want a refusal mentioning %q, got %v", c.refused, err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("refusal is not one line: %q", err)
			}
		})
	}
}

// TestBackfillUsage: a backfill without a range, or with a batch larger
// than the baselines remember, is refused before touching anything.
func TestBackfillUsage(t *testing.T) {
	for _, args := range [][]string{
		{"backfill", "s3://b"},
		{"backfill", "--since", "2026-10-05", "s3://b"},
		{"backfill", "--since", "2026-10-05", "--until", "2026-10-01", "s3://b"},
		{"backfill", "--since", "2026-10-05", "--until", "2026-10-06", "--batch-size", "100000", "s3://b"},
		{"backfill", "--since", "2026-10-05", "--until", "2026-10-06"},
	} {
		err := run(args, nil, io.Discard, io.Discard)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 2 {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}

// TestReplayS3: replay of the archive in S3 prints exactly the findings of
// replay of the original file, whole and with --since/--until (benign
// twin: the range changes the findings, so the flags are not ignored).
func TestReplayS3(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads and replays the sample")
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_PROFILE", "")
	s3srv, _ := archiveServer(t)
	replay := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		args = append([]string{"replay", "--quiet", "--progress", "never", "--s3-endpoint", s3srv.URL}, args...)
		if err := run(args, nil, &out, &errOut); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errOut.String())
		}
		return out.String()
	}
	whole := replay(samplePath)
	if whole == "" {
		t.Fatal("no findings on the sample")
	}
	if got := replay("s3://org-trail"); got != whole {
		t.Errorf("replay from S3 differs from the file:\n%s\nwant\n%s", got, whole)
	}
	ranged := replay("--since", "2026-10-12", "--until", "2026-10-25", samplePath)
	if ranged == whole {
		t.Error("--since/--until did not change the findings")
	}
	if got := replay("--since", "2026-10-12", "--until", "2026-10-25", "s3://org-trail/AWSLogs/"); got != ranged {
		t.Errorf("ranged replay from S3 differs from the file's:\n%s\nwant\n%s", got, ranged)
	}
}
