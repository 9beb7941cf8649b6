//go:build unix

package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/trailwatch/trailwatch/baselines"
	"github.com/trailwatch/trailwatch/config"
	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/events"
	"github.com/trailwatch/trailwatch/internal/lambdatest"
	"github.com/trailwatch/trailwatch/internal/testenv"
)

// s3TrailBucket is the trail bucket of the S3-ingest run.
const s3TrailBucket = "trailwatch-org-trail"

// s3BatchSize is the S3-ingest event source's batch size as deployed
// (infra/internal/ingest.TrailBatchSize, asserted by infra's TestS3Ingest).
const s3BatchSize = 10

// trailFile is one CloudTrail log file of the organization-trail layout.
type trailFile struct {
	key     string
	window  time.Time
	records []json.RawMessage
}

// trailFiles lays out records as an organization trail writes them: one
// file per account, region and 5-minute window, under
// AWSLogs/<org>/<account>/CloudTrail/<region>/YYYY/MM/DD/, in object-key
// time order (window, then account and region).
func trailFiles(t *testing.T, recs []json.RawMessage) []*trailFile {
	t.Helper()
	files := map[string]*trailFile{}
	for _, raw := range recs {
		var r struct {
			Time    string `json:"eventTime"`
			Region  string `json:"awsRegion"`
			Account string `json:"recipientAccountId"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		at, err := time.Parse(time.RFC3339, r.Time)
		if err != nil {
			t.Fatalf("sample eventTime %q: %v", r.Time, err)
		}
		w := at.UTC().Truncate(5 * time.Minute)
		id := fmt.Sprintf("%s/%s/%s", w.Format("20060102T1504Z"), r.Account, r.Region)
		f := files[id]
		if f == nil {
			sum := sha256.Sum256([]byte(id))
			f = &trailFile{window: w, key: fmt.Sprintf("AWSLogs/o-trailwatch1/%s/CloudTrail/%s/%s/%s_CloudTrail_%s_%s_%s.json.gz",
				r.Account, r.Region, w.Format("2006/01/02"), r.Account, r.Region, w.Format("20060102T1504Z"), hex.EncodeToString(sum[:8]))}
			files[id] = f
		}
		f.records = append(f.records, raw)
	}
	out := make([]*trailFile, 0, len(files))
	for _, f := range files {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].window.Equal(out[j].window) {
			return out[i].window.Before(out[j].window)
		}
		return out[i].key < out[j].key
	})
	return out
}

// gzipRecords is a CloudTrail log file's content.
func gzipRecords(t *testing.T, recs []json.RawMessage) []byte {
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

// s3Notification is the S3 event notification of one created object, its
// key URL-encoded as S3 sends it.
func s3Notification(bucket, key, etag string, size int) string {
	b, _ := json.Marshal(map[string]any{"Records": []any{map[string]any{
		"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventName": "ObjectCreated:Put",
		"eventTime": "2026-11-05T00:00:00.000Z",
		"s3": map[string]any{"s3SchemaVersion": "1.0", "configurationId": "TrailwatchLogFiles",
			"bucket": map[string]any{"name": bucket, "arn": "arn:aws:s3:::" + bucket},
			"object": map[string]any{"key": url.QueryEscape(key), "size": size, "eTag": etag}},
	}}})
	return string(b)
}

// publication is one SNS publication of a finding.
type publication struct{ ID, Severity, Title string }

// ingestRun is one deployed detect function with its own table and topic.
type ingestRun struct {
	detect  string
	capture *snsCapture
	invokes int
	elapsed time.Duration
}

func (r *ingestRun) invoke(t *testing.T, ev lambdaevents.SQSEvent) lambdaevents.SQSEventResponse {
	t.Helper()
	start := time.Now()
	resp := invokeSQS(t, r.detect, ev)
	r.elapsed += time.Since(start)
	r.invokes++
	return resp
}

// publications returns what the topic received, sorted.
func (r *ingestRun) publications(t *testing.T, want int) []publication {
	t.Helper()
	var out []publication
	for _, n := range r.capture.settle(want, 700*time.Millisecond, 30*time.Second) {
		f := noteFinding(t, n)
		out = append(out, publication{f.ID, f.Severity.String(), f.Title})
	}
	sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i]) < fmt.Sprint(out[j]) })
	return out
}

// TestDeployedS3IngestParity is issue 12's done-when for S3 ingest: the
// bundled sample goes through the built detect function under the Lambda
// emulator (dynalite, goaws, gofakes3) both ways, configured as deployed:
// (a) EventBridge ingest, the selected events as EventBridge envelopes in
// SQS batches of the deployed size, as TestDeployedParity sends them; (b)
// S3 ingest, every record of the sample written as CloudTrail log files in
// the organization-trail layout into the trail bucket and announced by S3
// event notifications in SQS batches of the deployed size, in object-key
// time order. Both publish the same findings (IDs, severities, titles),
// publication for publication; redelivering every S3 batch publishes
// nothing more and reads no finished file again. It logs the GETs and
// events per object behind the README's cost comparison.
func TestDeployedS3IngestParity(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the sample through the built function twice; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	det := loadDeployed(t)["detect"]
	cfg := config.Default()
	samplePath := filepath.Join(root, "testdata", "sample", "cloudtrail.jsonl.gz")
	ranges := parityRanges(t, root)

	// Every record, in the sample's order, and the selected ones as
	// replay reads them.
	raw := sampleRecords(t, samplePath)
	all := make([]json.RawMessage, 0, len(raw))
	{
		rd := &events.Reader{Normalizer: &events.Normalizer{}, All: true}
		var readErr error
		for ev := range rd.Events([]string{samplePath}, &readErr) {
			all = append(all, raw[ev.ID])
		}
		if readErr != nil {
			t.Fatal(readErr)
		}
	}
	if len(all) != len(raw) {
		t.Fatalf("read %d records of the sample's %d", len(all), len(raw))
	}
	norm := &events.Normalizer{Keying: cfg.Keying, Selection: cfg.Selection}
	if norm.Ranges, err = events.LoadIPRangesFile(ranges); err != nil {
		t.Fatal(err)
	}
	var selected []json.RawMessage
	{
		rd := &events.Reader{Normalizer: norm}
		var readErr error
		for ev := range rd.Events([]string{samplePath}, &readErr) {
			selected = append(selected, raw[ev.ID])
		}
		if readErr != nil {
			t.Fatal(readErr)
		}
	}

	// The local AWS: one dynalite and one goaws, a table and a topic per
	// run; SSM serving the default thresholds.yaml; S3 with the ranges
	// bucket and the trail bucket.
	ddbEndpoint := testenv.Dynalite(t)
	ddb := baselines.NewDynamoDBClient(aws.Config{
		Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	}, ddbEndpoint)
	snsEndpoint := testenv.Goaws(t)
	snsClient := sns.New(sns.Options{
		BaseEndpoint: aws.String(snsEndpoint), Region: testenv.GoawsRegion,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	})
	ssmSrv, _ := ssmServer(t, string(config.DefaultYAML))
	s3srv := testenv.S3(t, rangesBucket, s3TrailBucket)
	start := func(name string, fn deployedFunction) *ingestRun {
		tbl := "trailwatch-" + name
		if err := baselines.CreateTable(ctx, ddb, tbl); err != nil {
			t.Fatal(err)
		}
		topic, err := snsClient.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(fmt.Sprintf("%s-%d", tbl, time.Now().UnixNano()))})
		if err != nil {
			t.Fatalf("CreateTopic: %v", err)
		}
		r := &ingestRun{capture: &snsCapture{t: t}}
		hook := httptest.NewServer(r.capture)
		t.Cleanup(hook.Close)
		if _, err := snsClient.Subscribe(ctx, &sns.SubscribeInput{
			TopicArn: topic.TopicArn, Protocol: aws.String("http"), Endpoint: aws.String(hook.URL + "/sns"),
		}); err != nil {
			t.Fatalf("Subscribe: %v", err)
		}
		r.detect = runDeployedDetectOn(ctx, t, fn, ranges, map[string]string{
			"TABLE_NAME": tbl, "TOPIC_ARN": *topic.TopicArn, "CONFIG_PARAMETER": paramName,
			"AWS_ENDPOINT_URL_DYNAMODB": ddbEndpoint, "AWS_ENDPOINT_URL_SNS": snsEndpoint, "AWS_ENDPOINT_URL_SSM": ssmSrv.URL,
			"AWS_ENDPOINT_URL_S3": s3srv.URL,
		}, s3srv)
		return r
	}

	// (a) EventBridge ingest: the selected events in replay's order, in
	// batches of at most the deployed size that never span two 5-minute
	// windows. A deployed batch gathers for at most its batching window
	// (seconds), so it never holds hours of events as a plain cut of the
	// sample into hundreds would (the sample's selected events are ten
	// hours per hundred); a finding's title at publication time lists what
	// its batch had seen, so the two ways publish the same titles only when
	// both see the events at about the granularity production does.
	eb := start("eventbridge", det)
	for i, b := range windowBatches(t, selected, det.BatchSize) {
		if resp := eb.invoke(t, b); len(resp.BatchItemFailures) != 0 {
			t.Fatalf("EventBridge batch %d: failures %v\n%s", i, resp.BatchItemFailures, tail(testenv.RIELogs(eb.detect), 30))
		}
	}

	// (b) S3 ingest: the deployed environment plus what ingest=s3 adds
	// (infra's TestS3Ingest checks that it adds exactly these).
	files := trailFiles(t, all)
	client := testenv.S3Client(s3srv.URL)
	var msgs []lambdaevents.SQSMessage
	for i, f := range files {
		body := gzipRecords(t, f.records)
		out, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(s3TrailBucket), Key: aws.String(f.key), Body: bytes.NewReader(body)})
		if err != nil {
			t.Fatalf("put %s: %v", f.key, err)
		}
		msgs = append(msgs, lambdatest.SQSMessage(fmt.Sprintf("obj-%05d", i),
			s3Notification(s3TrailBucket, f.key, strings.Trim(aws.ToString(out.ETag), `"`), len(body)), "trailwatch-trail"))
	}
	s3det := det
	s3det.Environment = map[string]string{"INGEST": "s3", "TRAIL_BUCKET": s3TrailBucket}
	for k, v := range det.Environment {
		s3det.Environment[k] = v
	}
	s3run := start("s3", s3det)
	var batches []lambdaevents.SQSEvent
	for i := 0; i < len(msgs); i += s3BatchSize {
		batches = append(batches, lambdaevents.SQSEvent{Records: msgs[i:min(i+s3BatchSize, len(msgs))]})
	}
	gets0 := s3srv.Requests(http.MethodGet)
	for i, b := range batches {
		if resp := s3run.invoke(t, b); len(resp.BatchItemFailures) != 0 {
			t.Fatalf("S3 batch %d: failures %v\n%s", i, resp.BatchItemFailures, tail(testenv.RIELogs(s3run.detect), 30))
		}
	}
	gets := s3srv.Requests(http.MethodGet) - gets0
	s3Elapsed, s3Invokes := s3run.elapsed, s3run.invokes
	s3Billed := billedMillis(testenv.RIELogs(s3run.detect))

	// Same findings, publication for publication.
	want := eb.publications(t, 1)
	if len(want) == 0 {
		t.Fatal("EventBridge ingest published nothing on the sample")
	}
	got := s3run.publications(t, len(want))
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("S3 ingest publications differ from EventBridge ingest's:\n got %d: %v\nwant %d: %v", len(got), got, len(want), want)
	}

	// Same baselines and dedupe state, principal for principal (decoded:
	// spilled parts are stored under per-write keys, and S3 ingest writes
	// more often).
	var keys []string
	for k := range tableState(ctx, t, ddb, "trailwatch-eventbridge") {
		if pk, ok := strings.CutSuffix(k, " HOT"); ok && strings.HasPrefix(pk, "P#") {
			keys = append(keys, strings.TrimPrefix(pk, "P#"))
		}
	}
	sort.Strings(keys)
	states := func(tbl string) map[string]*detectors.State {
		st, err := baselines.NewDynamoDB(ddb, tbl, nil).Load(ctx, keys)
		if err != nil {
			t.Fatalf("load %s: %v", tbl, err)
		}
		return st
	}
	ebStates, s3States := states("trailwatch-eventbridge"), states("trailwatch-s3")
	if len(keys) == 0 || len(ebStates) != len(keys) || len(s3States) != len(keys) {
		t.Fatalf("principals: %d in the EventBridge table, %d and %d loaded", len(keys), len(ebStates), len(s3States))
	}
	encode := func(st *detectors.State) string {
		cases, err := detectors.EncodeCases(st.Cases)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%x|%x|%x", st.Baseline.EncodeHot(), st.Baseline.EncodeCold(), cases)
	}
	differ := 0
	for _, k := range keys {
		if encode(ebStates[k]) != encode(s3States[k]) {
			differ++
			eb, s3 := ebStates[k].Baseline, s3States[k].Baseline
			t.Errorf("principal %s differs: events %d/%d, last seen %d/%d, cases %d/%d", k, eb.Events, s3.Events, eb.LastSeen, s3.LastSeen,
				len(ebStates[k].Cases), len(s3States[k].Cases))
		}
	}
	t.Logf("%d principals, %d with a different state", len(keys), differ)

	// Redelivery of every S3 batch publishes nothing; files with selected
	// events are not read again.
	gets1 := s3srv.Requests(http.MethodGet)
	for i, b := range batches {
		if resp := s3run.invoke(t, b); len(resp.BatchItemFailures) != 0 {
			t.Fatalf("S3 batch %d redelivered: failures %v", i, resp.BatchItemFailures)
		}
	}
	regets := s3srv.Requests(http.MethodGet) - gets1
	if again := s3run.publications(t, len(want)); len(again) != len(got) {
		t.Errorf("redelivery published %d more", len(again)-len(got))
	}
	logs := testenv.RIELogs(s3run.detect)
	done := sumLogField(logs, "objects_already_done")
	isSelected := map[string]bool{}
	for _, r := range selected {
		isSelected[string(r)] = true
	}
	withEvents := 0
	for _, f := range files {
		for _, r := range f.records {
			if isSelected[string(r)] {
				withEvents++
				break
			}
		}
	}
	if done != withEvents || regets != int64(len(files)-withEvents) {
		t.Errorf("redelivery recognised %d finished files and read %d again; want the %d with selected events finished, the other %d read again",
			done, regets, withEvents, len(files)-withEvents)
	}

	// The numbers behind the README's cost comparison.
	t.Logf("sample: %d records, %d selected; %d log files (%.2f records, %.2f selected events per file)",
		len(all), len(selected), len(files), float64(len(all))/float64(len(files)), float64(len(selected))/float64(len(files)))
	t.Logf("S3 ingest: %d GETs for %d files on first delivery (%.3f per file, ranges checks included); %d on redelivery; %d files hold a selected event",
		gets, len(files), float64(gets)/float64(len(files)), regets, withEvents)
	t.Logf("EventBridge ingest: %d invocations, %s; S3 ingest: %d invocations, %s (first delivery)",
		eb.invokes, eb.elapsed.Round(time.Millisecond), s3Invokes, s3Elapsed.Round(time.Millisecond))
	ebBilled := billedMillis(testenv.RIELogs(eb.detect))
	t.Logf("billed duration: EventBridge ingest %d ms (%.1f ms per selected event), S3 ingest %d ms (%.1f ms per selected event, %.1f ms per file)",
		ebBilled, float64(ebBilled)/float64(len(selected)), s3Billed, float64(s3Billed)/float64(len(selected)), float64(s3Billed)/float64(len(files)))
	t.Logf("publications: %d (both)", len(got))
}

// billedMillis adds up the emulator's "Billed Duration" of every invoke.
func billedMillis(logs string) int {
	return sumMatches(logs, `Billed Duration: (\d+) ms`)
}

func sumMatches(logs, pattern string) int {
	n := 0
	for _, m := range regexp.MustCompile(pattern).FindAllStringSubmatch(logs, -1) {
		var v int
		fmt.Sscan(m[1], &v)
		n += v
	}
	return n
}

// windowBatches cuts records (in time order) into SQS batches of at most
// size EventBridge envelopes, a new batch at every 5-minute window.
func windowBatches(t *testing.T, recs []json.RawMessage, size int) []lambdaevents.SQSEvent {
	t.Helper()
	var out []lambdaevents.SQSEvent
	var cur lambdaevents.SQSEvent
	var window time.Time
	for i, raw := range recs {
		var r struct {
			Time string `json:"eventTime"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		at, err := time.Parse(time.RFC3339, r.Time)
		if err != nil {
			t.Fatal(err)
		}
		w := at.UTC().Truncate(5 * time.Minute)
		if len(cur.Records) == size || (len(cur.Records) > 0 && !w.Equal(window)) {
			out = append(out, cur)
			cur = lambdaevents.SQSEvent{}
		}
		window = w
		cur.Records = append(cur.Records, lambdatest.SQSMessage(fmt.Sprintf("eb-%05d", i), lambdatest.Envelope(raw), "trailwatch-ingest"))
	}
	if len(cur.Records) > 0 {
		out = append(out, cur)
	}
	return out
}

// sumLogField adds up a numeric field of the function's JSON log lines.
func sumLogField(logs, field string) int {
	return sumMatches(logs, `"`+regexp.QuoteMeta(field)+`":(\d+)`)
}
