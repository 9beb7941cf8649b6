package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/trailwatch/trailwatch/baselines"
	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/internal/testenv"
)

const testTrailBucket = "org-trail"

// memProgress keeps object progress in memory; forget makes it record
// nothing (an S3 ingest without progress, for the control case).
type memProgress struct {
	mu     sync.Mutex
	m      map[string]cursor
	forget bool
	puts   int
}

func (p *memProgress) Get(_ context.Context, o trailObject) (cursor, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.m[o.Bucket+"/"+o.Key+"#"+o.ETag], nil
}

func (p *memProgress) Put(_ context.Context, o trailObject, c cursor) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.puts++
	if p.forget {
		return nil
	}
	if p.m == nil {
		p.m = map[string]cursor{}
	}
	p.m[o.Bucket+"/"+o.Key+"#"+o.ETag] = c
	return nil
}

// copyStore keeps principal states encoded, as DynamoDB does, so a state
// whose save failed is not kept (baselines.Memory holds states by
// reference); fail says which Save calls fail (counted from 1).
type copyStore struct {
	mu     sync.Mutex
	states map[string][3][]byte
	n      int
	fail   func(n int) bool
}

func (s *copyStore) Load(_ context.Context, keys []string) (map[string]*detectors.State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]*detectors.State{}
	for _, k := range keys {
		enc, ok := s.states[k]
		if !ok {
			continue
		}
		b, err := detectors.DecodeBaseline(enc[0], enc[1])
		if err != nil {
			return nil, err
		}
		cases, err := detectors.DecodeCases(enc[2])
		if err != nil {
			return nil, err
		}
		out[k] = &detectors.State{Baseline: b, Cases: cases, Version: 1}
	}
	return out, nil
}

func (s *copyStore) Save(_ context.Context, st *detectors.State) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	if s.fail != nil && s.fail(s.n) {
		return errors.New("ProvisionedThroughputExceededException: injected")
	}
	cases, err := detectors.EncodeCases(st.Cases)
	if err != nil {
		return err
	}
	if s.states == nil {
		s.states = map[string][3][]byte{}
	}
	s.states[st.Baseline.Key] = [3][]byte{st.Baseline.EncodeHot(), st.Baseline.EncodeCold(), cases}
	return nil
}

// trailRecord is a mutating (or, with readOnly, read-only) CloudTrail
// record of IAM user name in account 111122223333.
func trailRecord(id string, name string, at time.Time, api string, readOnly bool) map[string]any {
	src, ev, _ := strings.Cut(api, ":")
	return map[string]any{
		"eventVersion": "1.09",
		"userIdentity": map[string]any{
			"type": "IAMUser", "principalId": "AIDA" + strings.ToUpper(name), "arn": "arn:aws:iam::111122223333:user/" + name,
			"accountId": "111122223333", "accessKeyId": "AKIA" + strings.ToUpper(name), "userName": name,
		},
		"eventTime": at.UTC().Format(time.RFC3339), "eventSource": src + ".amazonaws.com", "eventName": ev,
		"awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.10", "userAgent": "aws-cli/2.15.0 Python/3.11",
		"requestParameters": map[string]any{"resourcesSet": map[string]any{"items": []any{map[string]any{"resourceId": "i-0123456789abcdef0"}}}},
		"responseElements":  nil, "requestID": id, "eventID": id, "readOnly": readOnly, "eventType": "AwsApiCall",
		"managementEvent": true, "recipientAccountId": "111122223333", "eventCategory": "Management",
	}
}

// logFile encodes records as a CloudTrail log file: gzip of {"Records":[...]}.
func logFile(t testing.TB, recs []map[string]any) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if err := json.NewEncoder(zw).Encode(map[string]any{"Records": recs}); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// logKey is the key CloudTrail gives a log file of an organization trail.
func logKey(name string) string {
	return "AWSLogs/o-abc123/111122223333/CloudTrail/us-east-1/2026/10/05/111122223333_CloudTrail_us-east-1_20261005T0005Z_" + name + ".json.gz"
}

// notificationBody is the S3 event notification of objects created in
// bucket, keys URL-encoded as S3 encodes them.
func notificationBody(bucket string, keys ...string) string {
	var recs []any
	for _, k := range keys {
		recs = append(recs, map[string]any{
			"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventName": "ObjectCreated:Put",
			"eventTime": "2026-10-05T00:05:12.000Z",
			"s3": map[string]any{"s3SchemaVersion": "1.0", "configurationId": "TrailwatchLogFiles",
				"bucket": map[string]any{"name": bucket, "arn": "arn:aws:s3:::" + bucket},
				"object": map[string]any{"key": url.QueryEscape(k), "size": 1, "eTag": "etag-" + k}},
		})
	}
	b, _ := json.Marshal(map[string]any{"Records": recs})
	return string(b)
}

// newTrailHandler is a test handler in S3 ingest mode over an S3 server
// holding the trail bucket.
func newTrailHandler(t *testing.T, store detectors.Store, progress objectProgress) (*handler, *testenv.S3Server, *syncBuffer) {
	t.Helper()
	srv := testenv.S3(t, testTrailBucket)
	h, out := newTestHandler(store, &fakePublisher{})
	h.trail = &trailSource{client: testenv.S3Client(srv.URL), bucket: testTrailBucket, progress: progress}
	return h, srv, out
}

func putTrailObject(t *testing.T, srv *testenv.S3Server, key string, body []byte) {
	t.Helper()
	if _, err := testenv.S3Client(srv.URL).PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(testTrailBucket), Key: aws.String(key), Body: bytes.NewReader(body),
	}); err != nil {
		t.Fatal(err)
	}
}

// baselineEvents is how many events the principal's baseline counted.
func baselineEvents(t *testing.T, store detectors.Store, principal string) uint64 {
	t.Helper()
	st, err := store.Load(context.Background(), []string{principal})
	if err != nil {
		t.Fatal(err)
	}
	if st[principal] == nil {
		return 0
	}
	return st[principal].Baseline.Events
}

func failedIDs(resp lambdaevents.SQSEventResponse) string {
	var ids []string
	for _, f := range resp.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	return strings.Join(ids, ",")
}

// TestObjectsFailurePerMessage: in one batch, an object that is missing
// and one whose gzip is corrupt are returned for retry, each on its own
// message, while the good object's events are applied; the test event, a
// digest file, an object of another bucket and a body that is no S3
// notification are acknowledged without a GET. Redelivered once the
// missing object exists, the batch applies it and reads the finished
// object no more.
func TestObjectsFailurePerMessage(t *testing.T) {
	store := baselines.NewMemory()
	h, srv, out := newTrailHandler(t, store, &memProgress{})
	base := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	var good, late []map[string]any
	for i := range 5 {
		good = append(good, trailRecord(fmt.Sprintf("good-%d", i), "alice", base.Add(time.Duration(i)*time.Second), "ec2:CreateTags", false))
		late = append(late, trailRecord(fmt.Sprintf("late-%d", i), "bob", base.Add(time.Duration(i)*time.Second), "ec2:CreateTags", false))
	}
	// A read-only call and a malformed record in the good file: counted,
	// not fatal.
	good = append(good, trailRecord("good-read", "alice", base, "ec2:DescribeInstances", true), map[string]any{"eventTime": 7})
	putTrailObject(t, srv, logKey("good"), logFile(t, good))
	corrupt := logFile(t, good)
	corrupt = append(corrupt[:len(corrupt)/2:len(corrupt)/2], []byte("not the rest of the stream")...)
	putTrailObject(t, srv, logKey("corrupt"), corrupt)

	digest := strings.Replace(logKey("d"), "/CloudTrail/", "/CloudTrail-Digest/", 1)
	batch := lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{
		sqsMessage("m-good", notificationBody(testTrailBucket, logKey("good"))),
		sqsMessage("m-missing", notificationBody(testTrailBucket, logKey("late"))),
		sqsMessage("m-corrupt", notificationBody(testTrailBucket, logKey("corrupt"))),
		sqsMessage("m-test", `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-10-05T00:00:00.000Z","Bucket":"org-trail"}`),
		sqsMessage("m-digest", notificationBody(testTrailBucket, digest)),
		sqsMessage("m-other", notificationBody("someone-elses-bucket", logKey("good"))),
		sqsMessage("m-garbage", `{"detail-type":"AWS API Call via CloudTrail"`),
	}}
	resp := invoke(t, h, batch)
	if got := failedIDs(resp); got != "m-missing,m-corrupt" {
		t.Fatalf("failures %q, want m-missing,m-corrupt\n%s", got, out.String())
	}
	if gets := srv.Requests(http.MethodGet); gets != 3 {
		t.Errorf("%d GETs, want 3 (good, missing, corrupt; none for the digest, test event, other bucket)", gets)
	}
	if n := baselineEvents(t, store, "111122223333:user/alice"); n != 5 {
		t.Errorf("alice's baseline counted %d events, want the 5 selected of the good file", n)
	}
	logs := out.String()
	for _, want := range []string{`"Reason":"not_an_s3_notification"`, `"Reason":"not_a_cloudtrail_log_file"`, `"Reason":"other_bucket"`,
		`"Reason":"not_selected"`, `"Reason":"malformed_json"`, `"S3 test event acknowledged"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s", want)
		}
	}

	// The missing object arrives; the whole batch comes again.
	putTrailObject(t, srv, logKey("late"), logFile(t, late))
	putTrailObject(t, srv, logKey("corrupt"), logFile(t, late[:0]))
	gets0 := srv.Requests(http.MethodGet)
	resp = invoke(t, h, batch)
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("redelivery failures %v", resp.BatchItemFailures)
	}
	if gets := srv.Requests(http.MethodGet) - gets0; gets != 2 {
		t.Errorf("redelivery made %d GETs, want 2 (the finished good file is not read again)", gets)
	}
	if n := baselineEvents(t, store, "111122223333:user/alice"); n != 5 {
		t.Errorf("after redelivery alice's baseline counted %d events, want 5", n)
	}
	if n := baselineEvents(t, store, "111122223333:user/bob"); n != 5 {
		t.Errorf("bob's baseline counted %d events, want 5", n)
	}
}

// TestObjectRedeliveryBeyondRecentIDs: an object of 1,000 events of one
// principal, far more than a baseline remembers (RecentEventIDs), fails on
// its fourth chunk. Redelivered, it resumes at that chunk and counts every
// event once; delivered again, it changes nothing. Without the recorded
// progress (control) the same redelivery counts hundreds of events twice,
// which is what the progress is for.
func TestObjectRedeliveryBeyondRecentIDs(t *testing.T) {
	const events = 1000
	if objectChunk > detectors.RecentEventIDs {
		t.Fatalf("objectChunk %d exceeds RecentEventIDs %d: a resumed chunk would count twice", objectChunk, detectors.RecentEventIDs)
	}
	base := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
	var recs []map[string]any
	for i := range events {
		// Written out of time order, as CloudTrail files may be.
		j := (i * 7) % events
		recs = append(recs, trailRecord(fmt.Sprintf("ev-%04d", j), "carol", base.Add(time.Duration(j)*time.Second), fmt.Sprintf("ec2:CreateTags%d", j%5), false))
	}
	file := logFile(t, recs)
	const carol = "111122223333:user/carol"
	for _, tc := range []struct {
		name     string
		progress *memProgress
		want     func(n uint64) bool
	}{
		{"with progress", &memProgress{}, func(n uint64) bool { return n == events }},
		{"control without progress", &memProgress{forget: true}, func(n uint64) bool { return n > events+100 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := &copyStore{fail: func(n int) bool { return n == 4 }}
			h, srv, out := newTrailHandler(t, store, tc.progress)
			putTrailObject(t, srv, logKey("big"), file)
			batch := lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{sqsMessage("m-big", notificationBody(testTrailBucket, logKey("big")))}}
			if got := failedIDs(invoke(t, h, batch)); got != "m-big" {
				t.Fatalf("first delivery failures %q, want m-big\n%s", got, out.String())
			}
			if n := baselineEvents(t, store, carol); n != 300 {
				t.Fatalf("after the failed fourth chunk the baseline counted %d events, want 300", n)
			}
			for delivery := 2; delivery <= 3; delivery++ {
				if resp := invoke(t, h, batch); len(resp.BatchItemFailures) != 0 {
					t.Fatalf("delivery %d failures %v", delivery, resp.BatchItemFailures)
				}
			}
			if n := baselineEvents(t, store, carol); !tc.want(n) {
				t.Errorf("after three deliveries the baseline counted %d events (%d in the object)", n, events)
			}
		})
	}
}

// TestObjectStreamsLargeFile: a log file of about 50 MB decompressed
// (mostly read-only calls, as a trail's files are) is processed with a
// peak heap far below its size: the file is decoded as a stream, record by
// record, and only the selected events are kept.
func TestObjectStreamsLargeFile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 50 MB file; skipped with -short")
	}
	store := baselines.NewMemory()
	h, srv, out := newTrailHandler(t, store, &memProgress{})
	base := time.Now().Add(-4 * time.Hour).Truncate(time.Second)
	// Stream the records into the gzip writer: the test holds only the
	// compressed file.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	io.WriteString(zw, `{"Records":[`)
	enc := json.NewEncoder(zw)
	var raw int64
	selected := 0
	for i := 0; raw < 50<<20; i++ {
		if i > 0 {
			io.WriteString(zw, ",")
		}
		api, ro := "s3:GetObject", true
		if i%500 == 0 {
			api, ro = "ec2:CreateTags", false
			selected++
		}
		r := trailRecord(fmt.Sprintf("big-%07d", i), fmt.Sprintf("user%02d", i%40), base.Add(time.Duration(i%3600)*time.Second), api, ro)
		b, _ := json.Marshal(r)
		raw += int64(len(b)) + 1
		enc.Encode(json.RawMessage(b))
	}
	io.WriteString(zw, "]}")
	zw.Close()
	putTrailObject(t, srv, logKey("large"), gz.Bytes())
	t.Logf("log file: %d MB decompressed, %.1f MB gzip, %d selected events", raw>>20, float64(gz.Len())/(1<<20), selected)
	gz = bytes.Buffer{}

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	defer debug.SetGCPercent(debug.SetGCPercent(50))
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	resp := invoke(t, h, lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{sqsMessage("m-large", notificationBody(testTrailBucket, logKey("large")))}})
	close(stop)
	<-done
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("failures %v\n%.2000s", resp.BatchItemFailures, out.String())
	}
	n := uint64(0)
	store.Each(func(st *detectors.State) { n += st.Baseline.Events })
	if n != uint64(selected) {
		t.Errorf("baselines counted %d events, want the %d selected", n, selected)
	}
	grew := int64(peak.Load()) - int64(before)
	t.Logf("peak heap %.1f MB above the %.1f MB before (file %d MB decompressed)", float64(grew)/(1<<20), float64(before)/(1<<20), raw>>20)
	if grew > 16<<20 {
		t.Errorf("peak heap grew %.1f MB while reading a %d MB file: not streaming", float64(grew)/(1<<20), raw>>20)
	}
}
