package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/trailwatch/trailwatch/events"
	"github.com/trailwatch/trailwatch/internal/emf"
	"github.com/trailwatch/trailwatch/internal/lambdaenv"
	"github.com/trailwatch/trailwatch/internal/testenv"
)

const (
	bucket = "trailwatch-ip-ranges-test"
	key    = "ip-ranges.json.gz"
)

// awsServer stands in for ip-ranges.amazonaws.com: a TLS server on
// loopback that serves doc at /ip-ranges.json (or answers status).
type awsServer struct {
	srv    *httptest.Server
	mu     sync.Mutex
	doc    []byte
	status int
	// redirect, when set, answers 302 to it.
	redirect string
	hits     atomic.Int32
}

func newAWSServer(t *testing.T, doc []byte) *awsServer {
	a := &awsServer{doc: doc}
	a.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.hits.Add(1)
		a.mu.Lock()
		defer a.mu.Unlock()
		switch {
		case a.redirect != "":
			http.Redirect(w, r, a.redirect, http.StatusFound)
		case a.status != 0:
			w.WriteHeader(a.status)
		case r.URL.Path != "/ip-ranges.json":
			http.NotFound(w, r)
		default:
			w.Header().Set("Content-Type", "application/json")
			w.Write(a.doc)
		}
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *awsServer) set(doc []byte, status int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.doc, a.status = doc, status
}

// client is the production fetch client (no redirects) whose connections
// to ip-ranges.amazonaws.com:443 reach the test server, trusting its
// certificate (issued for example.com).
func (a *awsServer) client() *http.Client {
	c := newFetchClient()
	pool := x509.NewCertPool()
	pool.AddCert(a.srv.Certificate())
	tr := a.srv.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.RootCAs = pool
	tr.TLSClientConfig.ServerName = "example.com"
	addr := a.srv.Listener.Addr().String()
	tr.DialContext = func(ctx context.Context, network, hostport string) (net.Conn, error) {
		if hostport != RangesHost+":443" {
			return nil, fmt.Errorf("test dialer: refusing %s", hostport)
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	c.Transport = tr
	return c
}

type fixture struct {
	h   *handler
	aws *awsServer
	s3  *testenv.S3Server
	out *bytes.Buffer
}

func newFixture(t *testing.T, doc []byte) *fixture {
	t.Helper()
	s3srv := testenv.S3(t, bucket)
	a := newAWSServer(t, doc)
	out := &bytes.Buffer{}
	return &fixture{
		h: &handler{
			store: testenv.S3Client(s3srv.URL), bucket: bucket, key: key,
			fetch: a.client(), respond: http.DefaultClient,
			minPrefixes: 5,
			log:         lambdaenv.Logger(out, slog.LevelDebug), metrics: &emf.Writer{W: out},
		},
		aws: a, s3: s3srv, out: out,
	}
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// snsEvent is the recorded notification with message fields replaced.
func snsEvent(t *testing.T, mutate func(n map[string]string)) []byte {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(readFile(t, "sns-ip-space-changed.json"), &ev); err != nil {
		t.Fatal(err)
	}
	sns := ev["Records"].([]any)[0].(map[string]any)["Sns"].(map[string]any)
	var n map[string]string
	if err := json.Unmarshal([]byte(sns["Message"].(string)), &n); err != nil {
		t.Fatal(err)
	}
	mutate(n)
	msg, _ := json.Marshal(n)
	sns["Message"] = string(msg)
	out, _ := json.Marshal(ev)
	return out
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

func (f *fixture) invoke(payload []byte) error {
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-test"})
	_, err := lambda.NewHandler(f.h.Handle).Invoke(ctx, payload)
	return err
}

// stored returns the stored ranges and the object's metadata, or nil.
func (f *fixture) stored(t *testing.T) (*events.IPRanges, map[string]string) {
	t.Helper()
	out, err := testenv.S3Client(f.s3.URL).GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		if strings.Contains(err.Error(), "NoSuchKey") {
			return nil, nil
		}
		t.Fatalf("get stored copy: %v", err)
	}
	defer out.Body.Close()
	raw, _ := io.ReadAll(out.Body)
	if len(raw) < 2 || raw[0] != 0x1f || raw[1] != 0x8b {
		t.Errorf("stored copy is not gzip'd")
	}
	r, err := events.ReadIPRanges(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("stored copy does not parse: %v", err)
	}
	return r, out.Metadata
}

func TestNotificationStoresRanges(t *testing.T) {
	doc := readFile(t, "ip-ranges-v2.json")
	f := newFixture(t, doc)
	if err := f.invoke(snsEvent(t, func(n map[string]string) { n["md5"] = md5hex(doc) })); err != nil {
		t.Fatalf("invoke: %v\n%s", err, f.out)
	}
	r, meta := f.stored(t)
	if r == nil || r.SyncToken() != 1700086400 || r.Len() != 6 {
		t.Fatalf("stored %v (%d prefixes), want syncToken 1700086400 with 6 prefixes", r.SyncToken(), r.Len())
	}
	if meta["synctoken"] != "1700086400" || meta["md5"] != md5hex(doc) || meta["create-date"] != "2026-11-02-00-00-00" {
		t.Errorf("metadata %v", meta)
	}
	// The same notification again: already stored, nothing downloaded.
	hits := f.aws.hits.Load()
	puts := f.s3.Requests(http.MethodPut)
	if err := f.invoke(snsEvent(t, func(n map[string]string) { n["md5"] = md5hex(doc) })); err != nil {
		t.Fatal(err)
	}
	if f.aws.hits.Load() != hits || f.s3.Requests(http.MethodPut) != puts {
		t.Errorf("a repeated notification downloaded (%d→%d) or wrote (%d→%d)", hits, f.aws.hits.Load(), puts, f.s3.Requests(http.MethodPut))
	}
	if strings.Contains(f.out.String(), "IPRangesUpdateFailures") {
		t.Errorf("failure counted:\n%s", f.out)
	}
}

// TestRejectedUpdatesKeepTheStoredCopy: every refusal leaves the stored
// copy as it was, returns an error (so Lambda retries) and counts the
// failure metric.
func TestRejectedUpdatesKeepTheStoredCopy(t *testing.T) {
	v1, v2 := readFile(t, "ip-ranges-v1.json"), readFile(t, "ip-ranges-v2.json")
	truncated := readFile(t, "ip-ranges-truncated.json")
	tests := []struct {
		name     string
		serve    []byte
		status   int
		redirect string
		notice   func(n map[string]string)
		payload  []byte
		want     string
	}{
		{name: "md5 differs from the notice", serve: v2, notice: func(n map[string]string) { n["md5"] = md5hex(v1) }, want: "md5"},
		{name: "plain http URL", serve: v2, notice: func(n map[string]string) { n["url"] = "http://ip-ranges.amazonaws.com/ip-ranges.json" }, want: "only https"},
		{name: "another host", serve: v2, notice: func(n map[string]string) { n["url"] = "https://ip-ranges.amazonaws.com.example.net/ip-ranges.json" }, want: "only https"},
		{name: "credentials in the URL", serve: v2, notice: func(n map[string]string) { n["url"] = "https://x@ip-ranges.amazonaws.com/ip-ranges.json" }, want: "only https"},
		{name: "another port", serve: v2, notice: func(n map[string]string) { n["url"] = "https://ip-ranges.amazonaws.com:8443/ip-ranges.json" }, want: "only https"},
		{name: "implausibly few prefixes", serve: truncated, notice: func(n map[string]string) { n["md5"] = md5hex(truncated); n["synctoken"] = "1700172800" }, want: "implausibly few"},
		{name: "document older than the notice", serve: v2, notice: func(n map[string]string) { n["md5"] = md5hex(v2); n["synctoken"] = "1700172800" }, want: "older than the announced"},
		{name: "server error", status: http.StatusInternalServerError, notice: func(map[string]string) {}, want: "HTTP 500"},
		{name: "redirect elsewhere", redirect: "https://evil.example.net/ip-ranges.json", notice: func(map[string]string) {}, want: "HTTP 302"},
		{name: "not JSON", serve: []byte("<html>maintenance</html>"), notice: func(n map[string]string) { delete(n, "md5") }, want: "parse"},
		{name: "md5 not a digest", serve: v2, notice: func(n map[string]string) { n["md5"] = "zz" }, want: "not an MD5"},
		{name: "synctoken not a time", serve: v2, notice: func(n map[string]string) { n["synctoken"] = "-5" }, want: "not a Unix time"},
		{name: "another topic", payload: []byte(strings.Replace(string(readFile(t, "sns-ip-space-changed.json")),
			`"TopicArn": "arn:aws:sns:us-east-1:806199016981:AmazonIpSpaceChanged"`, `"TopicArn": "arn:aws:sns:us-east-1:999999999999:AmazonIpSpaceChanged"`, 1)), want: "from topic"},
		{name: "not an invocation the function knows", payload: []byte(`{"hello":"world"}`), want: "unrecognized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, v1)
			// Seed: v1 stored by a scheduled run.
			if err := f.invoke(readFile(t, "scheduled-event.json")); err != nil {
				t.Fatalf("seed: %v\n%s", err, f.out)
			}
			f.out.Reset()
			f.aws.set(tt.serve, tt.status)
			f.aws.redirect = tt.redirect
			payload := tt.payload
			if payload == nil {
				payload = snsEvent(t, tt.notice)
			}
			err := f.invoke(payload)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one about %q", err, tt.want)
			}
			if r, _ := f.stored(t); r == nil || r.SyncToken() != 1700000000 {
				t.Errorf("stored copy changed to %v", r.SyncToken())
			}
			if tt.payload == nil && !strings.Contains(f.out.String(), `"IPRangesUpdateFailures"`) {
				t.Errorf("no failure metric:\n%s", f.out)
			}
		})
	}
}

// TestFirstUpdateWithoutListBucket: the deployed function may not list the
// bucket, so S3 answers 403 for the missing object; the first update still
// stores it, and a later one replaces it only through its ETag.
func TestFirstUpdateWithoutListBucket(t *testing.T) {
	v1, v2 := readFile(t, "ip-ranges-v1.json"), readFile(t, "ip-ranges-v2.json")
	f := newFixture(t, v1)
	f.s3.HideMissing.Store(true)
	if err := f.invoke(readFile(t, "scheduled-event.json")); err != nil {
		t.Fatalf("first update: %v\n%s", err, f.out)
	}
	if r, _ := f.stored(t); r == nil || r.SyncToken() != 1700000000 {
		t.Fatalf("first update stored %v", r)
	}
	f.aws.set(v2, 0)
	if err := f.invoke(readFile(t, "scheduled-event.json")); err != nil {
		t.Fatalf("second update: %v\n%s", err, f.out)
	}
	if r, _ := f.stored(t); r.SyncToken() != 1700086400 {
		t.Errorf("second update stored %d", r.SyncToken())
	}
}

// TestOversizedDocumentRefused: a download past MaxDocumentBytes is cut
// off and refused.
func TestOversizedDocumentRefused(t *testing.T) {
	huge := append([]byte(`{"syncToken":"1800000000","prefixes":[`), bytes.Repeat([]byte(" "), MaxDocumentBytes)...)
	f := newFixture(t, huge)
	err := f.invoke(readFile(t, "scheduled-event.json"))
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("error %v, want larger than", err)
	}
	if r, _ := f.stored(t); r != nil {
		t.Error("an oversized document was stored")
	}
}

// TestOlderPublicationIsNotStored: a scheduled run that finds an older
// file than the stored one (a stale edge) writes nothing and is no error.
func TestOlderPublicationIsNotStored(t *testing.T) {
	v1, v2 := readFile(t, "ip-ranges-v1.json"), readFile(t, "ip-ranges-v2.json")
	f := newFixture(t, v2)
	if err := f.invoke(readFile(t, "scheduled-event.json")); err != nil {
		t.Fatal(err)
	}
	f.aws.set(v1, 0)
	puts := f.s3.Requests(http.MethodPut)
	if err := f.invoke(readFile(t, "scheduled-event.json")); err != nil {
		t.Fatalf("older publication: %v", err)
	}
	if r, _ := f.stored(t); r.SyncToken() != 1700086400 || f.s3.Requests(http.MethodPut) != puts {
		t.Errorf("stored %d after %d puts, want 1700086400 untouched", r.SyncToken(), f.s3.Requests(http.MethodPut)-puts)
	}
}

// racingStore writes a newer copy just before the handler's first write,
// as a concurrent invocation would.
type racingStore struct {
	objectStore
	newer []byte
	once  sync.Once
}

func (r *racingStore) PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	var err error
	r.once.Do(func() {
		_, err = r.objectStore.PutObject(ctx, &s3.PutObjectInput{
			Bucket: in.Bucket, Key: in.Key, Body: bytes.NewReader(r.newer),
			Metadata: map[string]string{"synctoken": "1700172800"},
		})
	})
	if err != nil {
		return nil, err
	}
	return r.objectStore.PutObject(ctx, in, optFns...)
}

func TestConcurrentNewerWriteIsNotOverwritten(t *testing.T) {
	v1, v2 := readFile(t, "ip-ranges-v1.json"), readFile(t, "ip-ranges-v2.json")
	f := newFixture(t, v1)
	if err := f.invoke(readFile(t, "scheduled-event.json")); err != nil {
		t.Fatal(err)
	}
	newer, err := gzipBytes([]byte(strings.Replace(string(v2), `"syncToken": "1700086400"`, `"syncToken": "1700172800"`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	f.h.store = &racingStore{objectStore: f.h.store, newer: newer}
	f.aws.set(v2, 0)
	if err := f.invoke(readFile(t, "scheduled-event.json")); err != nil {
		t.Fatalf("invoke: %v\n%s", err, f.out)
	}
	if r, _ := f.stored(t); r.SyncToken() != 1700172800 {
		t.Errorf("stored %d, want the concurrent newer 1700172800 kept", r.SyncToken())
	}
}

// cfnReceiver records CloudFormation responses.
type cfnReceiver struct {
	mu    sync.Mutex
	resps []map[string]any
}

func (c *cfnReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m map[string]any
	if r.Method != http.MethodPut || json.NewDecoder(r.Body).Decode(&m) != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.resps = append(c.resps, m)
	c.mu.Unlock()
}

func TestDeploymentUpdatesAndNeverFailsTheStack(t *testing.T) {
	v1 := readFile(t, "ip-ranges-v1.json")
	recv := &cfnReceiver{}
	cfnSrv := httptest.NewServer(recv)
	t.Cleanup(cfnSrv.Close)
	event := func(requestType string) []byte {
		return []byte(strings.NewReplacer("RESPONSE_URL", cfnSrv.URL+"/signed", `"Create"`, `"`+requestType+`"`).
			Replace(string(readFile(t, "custom-resource-create.json"))))
	}
	tests := []struct {
		name        string
		request     string
		down        bool
		wantStored  bool
		wantReason  string
		wantFetches int32
	}{
		{name: "create stores the ranges", request: "Create", wantStored: true, wantFetches: 1},
		{name: "update with AWS unreachable still succeeds", request: "Update", down: true, wantReason: "not updated now", wantFetches: 1},
		{name: "delete does nothing", request: "Delete", wantFetches: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, v1)
			if tt.down {
				f.aws.set(nil, http.StatusServiceUnavailable)
			}
			n := len(recv.resps)
			if err := f.invoke(event(tt.request)); err != nil {
				t.Fatalf("invoke: %v", err)
			}
			recv.mu.Lock()
			got := recv.resps[n:]
			recv.mu.Unlock()
			if len(got) != 1 || got[0]["Status"] != "SUCCESS" || got[0]["PhysicalResourceId"] != physicalID ||
				got[0]["RequestId"] != "c2d3e4f5-0000-4000-8000-000000000001" || got[0]["LogicalResourceId"] != "IPRangesInitialUpdate" {
				t.Fatalf("responses %v", got)
			}
			if reason, _ := got[0]["Reason"].(string); !strings.Contains(reason, tt.wantReason) {
				t.Errorf("reason %q, want %q", reason, tt.wantReason)
			}
			if r, _ := f.stored(t); (r != nil) != tt.wantStored {
				t.Errorf("stored %v, want %v", r != nil, tt.wantStored)
			}
			if f.aws.hits.Load() != tt.wantFetches {
				t.Errorf("%d fetches, want %d", f.aws.hits.Load(), tt.wantFetches)
			}
			if tt.down != strings.Contains(f.out.String(), `"IPRangesUpdateFailures"`) {
				t.Errorf("failure metric present %v, want %v", !tt.down, tt.down)
			}
		})
	}
}

// TestProductionMinimumRefusesTheFixture: the small fixture is accepted
// above only because the tests lower the minimum; the deployed minimum
// refuses such a list.
func TestProductionMinimumRefusesTheFixture(t *testing.T) {
	f := newFixture(t, readFile(t, "ip-ranges-v1.json"))
	f.h.minPrefixes = MinPrefixes
	err := f.invoke(readFile(t, "scheduled-event.json"))
	if err == nil || !strings.Contains(err.Error(), "implausibly few") {
		t.Fatalf("error %v", err)
	}
}

// TestSnapshotIsAccepted runs the deployed minimum over AWS's real file
// when the shared reference data is beside the checkout.
func TestSnapshotIsAccepted(t *testing.T) {
	const path = "../../../shared/data/aws-ip-ranges.json.gz"
	gz, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("AWS ip-ranges snapshot not present (%s): it lives in the shared reference data beside a developer checkout", path)
	}
	r, err := events.ReadIPRanges(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	if r.Len() < MinPrefixes {
		t.Fatalf("the real file has %d prefixes, below MinPrefixes %d", r.Len(), MinPrefixes)
	}
}

func TestValidateEnv(t *testing.T) {
	tests := []struct {
		e       env
		wantErr string
	}{
		{env{Bucket: "b-ok", Key: "ip-ranges.json.gz"}, ""},
		{env{Key: "k"}, "IP_RANGES_BUCKET"},
		{env{Bucket: "b-ok"}, "IP_RANGES_KEY"},
		{env{Bucket: "b-ok", Key: "k", LogLevel: "LOUD"}, "LOG_LEVEL"},
	}
	for _, tt := range tests {
		_, err := tt.e.validate()
		if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%+v: error %v, want %q", tt.e, err, tt.wantErr)
		}
	}
}
