//go:build unix

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/trailwatch/trailwatch/baselines"
	"github.com/trailwatch/trailwatch/config"
	"github.com/trailwatch/trailwatch/events"
	"github.com/trailwatch/trailwatch/internal/archivetest"
	"github.com/trailwatch/trailwatch/internal/testenv"
)

// The fixture: the bundled sample's first four days, for two of its three
// accounts (the third, 777788889999, appears only through its roles'
// cross-account calls into the others), in the organization trail layout.
const (
	samplePath = "../../testdata/sample/cloudtrail.jsonl.gz"
	// crossAccountPath holds mutating calls of another account's role
	// recorded in account A's trail (the sample's are read-only).
	crossAccountPath = "testdata/cross-account.jsonl"
	bucket           = "org-trail"
	acctA            = "111122223333"
	acctB            = "444455556666"
	fixtureFrom      = "2026-10-05"
	fixtureTo        = "2026-10-09" // exclusive
	rangeSince       = "2026-10-05"
	rangeUntil       = "2026-10-07" // the whole day
)

// archive lays out the fixture in an S3 API server and returns it.
func archive(t testing.TB) (*testenv.S3Server, []archivetest.File) {
	t.Helper()
	recs, err := archivetest.ReadJSONL(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	var keep []json.RawMessage
	for _, r := range recs {
		var h struct {
			Time    string `json:"eventTime"`
			Account string `json:"recipientAccountId"`
		}
		if err := json.Unmarshal(r, &h); err != nil {
			t.Fatal(err)
		}
		if h.Time >= fixtureFrom && h.Time < fixtureTo && (h.Account == acctA || h.Account == acctB) {
			keep = append(keep, r)
		}
	}
	cross, err := archivetest.ReadJSONL(crossAccountPath)
	if err != nil {
		t.Fatal(err)
	}
	keep = append(keep, cross...)
	files, err := archivetest.LayoutEvery(keep, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srv := testenv.S3(t, bucket)
	if err := archivetest.Upload(context.Background(), testenv.S3Client(srv.URL), bucket, files); err != nil {
		t.Fatal(err)
	}
	return srv, files
}

func ddbClient(endpoint string) *dynamodb.Client {
	return baselines.NewDynamoDBClient(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")}, endpoint)
}

// newHandler is the function's handler as main wires it, on local servers;
// the table is created unless it is named "-".
func newHandler(t testing.TB, s3URL, ddbEndpoint, table string) *handler {
	t.Helper()
	client := ddbClient(ddbEndpoint)
	if table != "-" {
		if err := baselines.CreateTable(context.Background(), client, table); err != nil {
			t.Fatal(err)
		}
	}
	cfg := config.Default()
	return &handler{
		archive: testenv.S3Client(s3URL), table: client, name: table, bucket: bucket,
		cfg: cfg, norm: &events.Normalizer{Keying: cfg.Keying},
		batch: defaultBatch, window: reorderWindow, parallel: 8, reserve: defaultReserve,
		log: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	}
}

// invoke runs one invocation through the Lambda handler (JSON in and
// out), with ctx's deadline as the invocation's.
func invoke(ctx context.Context, t testing.TB, h *handler, in Input) (Output, error) {
	t.Helper()
	payload, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := lambda.NewHandler(h.Handle).Invoke(ctx, payload)
	var out Output
	if err == nil {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("answer %s: %v", b, err)
		}
	}
	return out, err
}

// items is a table's items, rendered attribute by attribute, with
// everything but version, writer token and the spilled parts' random
// names (a HOT item's references are replaced by the parts' content;
// parts no HOT item refers to are left out). With raw, every attribute
// as stored.
func items(t *testing.T, endpoint, table string, raw bool) map[string]string {
	t.Helper()
	all := map[string]map[string]types.AttributeValue{}
	var start map[string]types.AttributeValue
	for {
		page, err := ddbClient(endpoint).Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(table), ExclusiveStartKey: start})
		if err != nil {
			t.Fatalf("scan %s: %v", table, err)
		}
		for _, it := range page.Items {
			all[it["pk"].(*types.AttributeValueMemberS).Value+" "+it["sk"].(*types.AttributeValueMemberS).Value] = it
		}
		if len(page.LastEvaluatedKey) == 0 {
			break
		}
		start = page.LastEvaluatedKey
	}
	render := func(it map[string]types.AttributeValue, pk string) string {
		names := make([]string, 0, len(it))
		for k := range it {
			if raw || (k != "version" && k != "writer" && k != "pk" && k != "sk") {
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
				if part, ok := all[pk+" "+v.Value]; ok && !raw && strings.HasSuffix(k, "_ref") && v.Value != "" {
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
	for k, it := range all {
		pk, sk, _ := strings.Cut(k, " ")
		if !raw && strings.HasPrefix(pk, "P#") && sk != "HOT" {
			continue
		}
		out[k] = render(it, pk)
	}
	return out
}

// only returns the items whose key starts with one of prefixes.
func only(all map[string]string, prefixes ...string) map[string]string {
	out := map[string]string{}
	for k, v := range all {
		for _, p := range prefixes {
			if strings.HasPrefix(k, p) {
				out[k] = v
			}
		}
	}
	return out
}

func diff(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	n := 0
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			t.Errorf("%s: item %s missing", what, k)
			n++
		case g != w:
			t.Errorf("%s: item %s differs:\n got  %.300s\n want %.300s", what, k, g, w)
			n++
		}
		if n > 5 {
			t.FailNow()
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: extra item %s", what, k)
		}
	}
}

// TestBackfillAccountResumes is the per-account unit of work as the state
// machine runs it: account A's backfill, invoked with deadlines so short
// that each invocation stops after a few batches, invoked again until it
// answers done, leaves exactly the items, compared one by one, of one
// uninterrupted invocation (in another table); account B's principals,
// backfilled before into the same table, are untouched, byte for byte;
// and an invocation after done applies nothing.
func TestBackfillAccountResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("backfills into dynalite")
	}
	ctx := context.Background()
	s3srv, _ := archive(t)
	ep := testenv.Dynalite(t)
	input := Input{Bucket: bucket, Prefix: "AWSLogs/", Account: acctA, Since: rangeSince, Until: rangeUntil}

	// The reference: one uninterrupted invocation.
	whole := newHandler(t, s3srv.URL, ep, "tw-whole")
	began := time.Now()
	ref, err := invoke(ctx, t, whole, input)
	took := time.Since(began)
	if err != nil || !ref.Done || ref.Applied < 500 || ref.Principals == 0 || ref.AppliedNow != ref.Applied {
		t.Fatalf("uninterrupted: %+v, %v", ref, err)
	}
	if ref.Prefix != "AWSLogs/"+archivetest.OrgID+"/"+acctA+"/" {
		t.Errorf("read prefix %s", ref.Prefix)
	}
	if cross, _ := archivetest.ReadJSONL(crossAccountPath); ref.OtherAccounts != int64(len(cross)) {
		t.Errorf("%d cross-account events skipped, want the %d of %s", ref.OtherAccounts, len(cross), crossAccountPath)
	}
	t.Logf("uninterrupted: %d events, %d files, %d principals in %v (%.0f events/s); %d other accounts' events skipped",
		ref.Applied, ref.Files, ref.Principals, took.Round(time.Millisecond), float64(ref.Applied)/took.Seconds(), ref.OtherAccounts)
	want := items(t, ep, "tw-whole", false)
	for k := range want {
		if strings.HasPrefix(k, "P#") && !strings.HasPrefix(k, "P#"+acctA+":") {
			t.Errorf("account %s's backfill wrote %s", acctA, k)
		}
	}

	// The same table holds account B, backfilled first.
	h := newHandler(t, s3srv.URL, ep, "tw-cut")
	other, err := invoke(ctx, t, h, Input{Bucket: bucket, Prefix: "AWSLogs/" + archivetest.OrgID + "/", Account: acctB, Since: rangeSince, Until: rangeUntil})
	if err != nil || !other.Done || other.Applied == 0 {
		t.Fatalf("account %s: %+v, %v", acctB, other, err)
	}
	before := only(items(t, ep, "tw-cut", true), "P#"+acctB+":", "BACKFILL#"+other.Backfill)

	// Account A with deadlines: each invocation stops after about a third
	// of the batches the uninterrupted run applied. The run's clock moves
	// one step per deadline check (after each batch), so where it stops
	// does not depend on how fast this machine is.
	h.reserve = 30 * time.Second
	const step = time.Second
	batches := (ref.Applied + int64(h.batch) - 1) / int64(h.batch)
	budget := time.Duration(max(batches/3, 1))*step + step/2
	var runs []Output
	for len(runs) < 50 {
		fake := time.Now().Add(time.Hour) // far from the real clock: the context never ends by itself
		checks := 0
		h.now = func() time.Time { checks++; return fake.Add(time.Duration(checks) * step) }
		ictx, cancel := context.WithDeadline(ctx, fake.Add(h.reserve+budget))
		out, err := invoke(ictx, t, h, input)
		cancel()
		if err != nil {
			t.Fatalf("invocation %d: %v", len(runs)+1, err)
		}
		runs = append(runs, out)
		if out.Done {
			break
		}
	}
	if len(runs) < 2 || runs[0].Done || runs[0].Applied == 0 || runs[0].Applied >= ref.Applied {
		t.Fatalf("the first invocation did not stop halfway: %+v", runs)
	}
	last := runs[len(runs)-1]
	if !last.Done || last.Applied != ref.Applied || last.Backfill != ref.Backfill {
		t.Fatalf("after %d invocations: %+v, want done with %d applied", len(runs), last, ref.Applied)
	}
	var sum int64
	for i, r := range runs {
		sum += r.AppliedNow
		if r.Applied != sum {
			t.Errorf("invocation %d: applied %d in all, the invocations' sum is %d", i+1, r.Applied, sum)
		}
	}
	t.Logf("%d invocations stopping after %d batches each: applied %v", len(runs), max(batches/3, 1), func() []int64 {
		var a []int64
		for _, r := range runs {
			a = append(a, r.AppliedNow)
		}
		return a
	}())

	got := items(t, ep, "tw-cut", false)
	diff(t, "account "+acctA, only(got, "P#"+acctA+":", "BACKFILL#"+ref.Backfill), want)
	diff(t, "account "+acctB+" (raw)", only(items(t, ep, "tw-cut", true), "P#"+acctB+":", "BACKFILL#"+other.Backfill), before)
	if len(before) < 2 {
		t.Errorf("account %s left only %d items", acctB, len(before))
	}

	again, err := invoke(ctx, t, h, input)
	if err != nil || !again.Done || again.AppliedNow != 0 || again.Applied != ref.Applied || again.Files != 0 {
		t.Errorf("after done: %+v, %v", again, err)
	}
}

// TestListAccounts: the orchestration's first step finds each account's
// directory whatever the prefix names (the archive's root, the
// organization's directory, an account's); an empty prefix of another
// layout lists nothing.
func TestListAccounts(t *testing.T) {
	s3srv, _ := archive(t)
	h := newHandler(t, s3srv.URL, "http://127.0.0.1:1", "-")
	org := "AWSLogs/" + archivetest.OrgID + "/"
	for _, c := range []struct {
		prefix string
		want   []string
	}{
		{"", []string{acctA + " " + org + acctA + "/", acctB + " " + org + acctB + "/"}},
		{"AWSLogs/", []string{acctA + " " + org + acctA + "/", acctB + " " + org + acctB + "/"}},
		{org, []string{acctA + " " + org + acctA + "/", acctB + " " + org + acctB + "/"}},
		{strings.TrimSuffix(org, "/"), []string{acctA + " " + org + acctA + "/", acctB + " " + org + acctB + "/"}},
		{org + acctB + "/CloudTrail/", []string{acctB + " " + org + acctB + "/"}},
		{"elsewhere/", nil},
	} {
		payload, _ := json.Marshal(Input{ListAccounts: true, Bucket: bucket, Prefix: c.prefix})
		b, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), payload)
		if err != nil {
			t.Errorf("%q: %v", c.prefix, err)
			continue
		}
		var out Accounts
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range out.Accounts {
			got = append(got, a.ID+" "+a.Prefix)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) || out.Accounts == nil {
			t.Errorf("%q: accounts %s (%v), want %v", c.prefix, b, got, c.want)
		}
	}
}

// TestInputErrors: inputs the function cannot run fail with InputError
// before touching the table (benign twin: the first valid input passes
// these checks and fails only at the table, which does not exist).
func TestInputErrors(t *testing.T) {
	s3srv, _ := archive(t)
	h := newHandler(t, s3srv.URL, "http://127.0.0.1:1", "-")
	ok := Input{Bucket: bucket, Prefix: "AWSLogs/", Account: acctA, Since: rangeSince, Until: rangeUntil}
	for _, c := range []struct {
		name  string
		edit  func(*Input)
		input bool // an InputError, else another error
	}{
		{"valid (table unreachable)", func(*Input) {}, false},
		{"no since", func(in *Input) { in.Since = "" }, true},
		{"until before since", func(in *Input) { in.Until = "2026-10-01" }, true},
		{"bad day", func(in *Input) { in.Since = "yesterday" }, true},
		{"another bucket", func(in *Input) { in.Bucket = "someone-elses" }, true},
		{"bad bucket", func(in *Input) { in.Bucket = "A" }, true},
		{"short account", func(in *Input) { in.Account = "1111" }, true},
		{"unknown account", func(in *Input) { in.Account = "999999999999" }, true},
		{"prefix of another account", func(in *Input) { in.Prefix = "AWSLogs/" + archivetest.OrgID + "/" + acctB + "/" }, true},
	} {
		in := ok
		c.edit(&in)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := invoke(ctx, t, h, in)
		cancel()
		var ie *InputError
		if err == nil || errors.As(err, &ie) != c.input {
			t.Errorf("%s: %v, want an InputError: %v", c.name, err, c.input)
		}
	}
}

// countEvents reads an account's directory of a local copy of the archive
// and counts the selected events of its principals in the range.
func countEvents(t *testing.T, dir, account string) int64 {
	t.Helper()
	since, _ := time.Parse("2006-01-02", rangeSince)
	until, _ := time.Parse("2006-01-02", rangeUntil)
	rd := &events.Reader{Normalizer: &events.Normalizer{Keying: config.Default().Keying}, Since: since, Until: until.AddDate(0, 0, 1)}
	var n int64
	var err error
	for ev := range rd.Events([]string{dir}, &err) {
		if strings.HasPrefix(ev.Principal, account+":") {
			n++
		}
	}
	if err != nil || n == 0 {
		t.Fatalf("count %s: %d events, %v", dir, n, err)
	}
	return n
}
