//go:build unix

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/trailwatch/trailwatch/baselines"
	"github.com/trailwatch/trailwatch/config"
	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/events"
	"github.com/trailwatch/trailwatch/internal/archivetest"
	"github.com/trailwatch/trailwatch/internal/lambdatest"
	"github.com/trailwatch/trailwatch/internal/testenv"
)

// TestWarmStart is the go-live path: an empty table is warmed with
// `trailwatch backfill` (the built CLI) from the first 80% of the bundled
// sample's days (2026-10-05 .. 2026-10-29 of 2026-10-05 .. 2026-11-04),
// read from an S3 API server holding the sample in the organization trail
// layout; the rest of the sample then goes through the built detect
// function under the Lambda emulator, configured as the CDK app deploys it.
// Its publications equal what a single replay of the whole sample, in one
// store, delivers for the same events; the backfill published nothing.
func TestWarmStart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the sample through the built CLI and function; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	det := loadDeployed(t)["detect"]
	cfg := config.Default()
	samplePath := filepath.Join(root, "testdata", "sample", "cloudtrail.jsonl.gz")
	ranges := parityRanges(t, root)
	const since, until = "2026-10-05", "2026-10-29"
	split := time.Date(2026, 10, 30, 0, 0, 0, 0, time.UTC) // the end of --until's day

	// The archive in S3, as the organization trail writes it.
	const archiveBucket = "org-trail"
	s3srv := testenv.S3(t, archiveBucket)
	recs, err := archivetest.ReadJSONL(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	files, err := archivetest.Layout(recs)
	if err != nil {
		t.Fatal(err)
	}
	if err := archivetest.Upload(ctx, testenv.S3Client(s3srv.URL), archiveBucket, files); err != nil {
		t.Fatal(err)
	}

	// 1. The reference: one replay of the whole sample through the
	// engine, in one memory store, in the order replay reads it; the
	// updates its last 20% delivers are what production must send once
	// the warm-started stack is live.
	norm := &events.Normalizer{Keying: cfg.Keying}
	if norm.Ranges, err = events.LoadIPRangesFile(ranges); err != nil {
		t.Fatal(err)
	}
	var readErr error
	var warm, live []events.Event
	for ev := range (&events.Reader{Normalizer: norm}).Events([]string{samplePath}, &readErr) {
		if ev.Time.Before(split) {
			if len(live) > 0 {
				t.Fatalf("event %s of the warm range after the live part began", ev.ID)
			}
			warm = append(warm, ev)
		} else {
			live = append(live, ev)
		}
	}
	if readErr != nil {
		t.Fatal(readErr)
	}
	if len(warm) == 0 || len(live) == 0 {
		t.Fatalf("split: %d warm, %d live events", len(warm), len(live))
	}
	eng := detectors.NewEngine(cfg, baselines.NewMemory(), nil)
	process := func(evs []events.Event, size int, seen func(detectors.Update)) {
		for i := 0; i < len(evs); i += size {
			res, err := eng.Process(ctx, append([]events.Event(nil), evs[i:min(i+size, len(evs))]...))
			if err != nil || len(res.Failed) > 0 {
				t.Fatalf("reference replay: %v %v", err, res.Failed)
			}
			for _, u := range res.Updates {
				seen(u)
			}
		}
	}
	process(warm, det.BatchSize, func(detectors.Update) {})
	want := map[string]detectors.Severity{}
	process(live, det.BatchSize, func(u detectors.Update) {
		if u.Delivered() && u.Finding.Severity > want[u.Finding.ID] {
			want[u.Finding.ID] = u.Finding.Severity
		}
	})
	if len(want) == 0 {
		t.Fatal("the reference delivers nothing in the live part of the sample")
	}

	// 2. Warm start: the built CLI, as the README's deployment step runs it.
	ddbEndpoint := testenv.Dynalite(t)
	const tbl = "trailwatch-warm"
	cli := testenv.BuildFunction(t, "github.com/trailwatch/trailwatch/cmd/trailwatch")
	var bfOut, bfErr bytes.Buffer
	cmd := exec.CommandContext(ctx, cli, "backfill", "--table", tbl, "--endpoint", ddbEndpoint, "--create-table",
		"--s3-endpoint", s3srv.URL, "--since", since, "--until", until, "--batch-size", fmt.Sprint(det.BatchSize),
		"--aws-ip-ranges", ranges, "--progress", "never", "s3://"+archiveBucket+"/AWSLogs/")
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local", "AWS_REGION=us-east-1")
	cmd.Stdout, cmd.Stderr = &bfOut, &bfErr
	if err := cmd.Run(); err != nil {
		t.Fatalf("backfill: %v\n%s", err, bfErr.String())
	}
	if bfOut.Len() != 0 {
		t.Errorf("backfill wrote to standard output: %.300s", bfOut.String())
	}
	if !bytes.Contains(bfErr.Bytes(), []byte(fmt.Sprintf("events applied:    %d in all", len(warm)))) {
		t.Errorf("backfill summary does not report the %d warm events:\n%s", len(warm), bfErr.String())
	}
	t.Logf("backfill:\n%s", bfErr.String())

	// 3. Live: the rest through the deployed detect function.
	snsEndpoint := testenv.Goaws(t)
	snsClient := sns.New(sns.Options{
		BaseEndpoint: aws.String(snsEndpoint), Region: testenv.GoawsRegion,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	})
	topic, err := snsClient.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(fmt.Sprintf("trailwatch-warm-%d", time.Now().UnixNano()))})
	if err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	capture := &snsCapture{t: t}
	hook := httptest.NewServer(capture)
	t.Cleanup(hook.Close)
	if _, err := snsClient.Subscribe(ctx, &sns.SubscribeInput{
		TopicArn: topic.TopicArn, Protocol: aws.String("http"), Endpoint: aws.String(hook.URL + "/sns"),
	}); err != nil {
		t.Fatalf("Subscribe http: %v", err)
	}
	ssmSrv, _ := ssmServer(t, string(config.DefaultYAML))
	detect := runDeployedDetect(ctx, t, det, ranges, map[string]string{
		"TABLE_NAME": tbl, "TOPIC_ARN": *topic.TopicArn, "CONFIG_PARAMETER": paramName,
		"AWS_ENDPOINT_URL_DYNAMODB": ddbEndpoint, "AWS_ENDPOINT_URL_SNS": snsEndpoint, "AWS_ENDPOINT_URL_SSM": ssmSrv.URL,
	})

	// Nothing was published before the stack went live.
	time.Sleep(200 * time.Millisecond)
	if n := len(capture.all()); n != 0 {
		t.Fatalf("%d publications before the live part", n)
	}
	raw := sampleRecords(t, samplePath)
	liveRecs := make([]json.RawMessage, len(live))
	for i, ev := range live {
		liveRecs[i] = raw[ev.ID]
	}
	for i, b := range lambdatest.SQSBatches("warm", liveRecs, det.BatchSize, "trailwatch-ingest") {
		if resp := invokeSQS(t, detect, b); len(resp.BatchItemFailures) != 0 {
			t.Fatalf("batch %d: failures %v\n%s", i, resp.BatchItemFailures, tail(testenv.RIELogs(detect), 30))
		}
	}
	notes := capture.settle(len(want), 700*time.Millisecond, 20*time.Second)
	got := map[string]detectors.Severity{}
	for _, n := range notes {
		f := noteFinding(t, n)
		if f.Severity > got[f.ID] {
			got[f.ID] = f.Severity
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("deployed publications after the warm start (final severity per finding)\n %v\nsingle replay of the whole sample, same events\n %v", got, want)
	}

	// 4. The same, against the replay CLI's output for the whole sample:
	// every finding the live part delivered ends with the severity
	// replay reports, and every routed finding replay opened in the live
	// part was delivered.
	final := map[string]detectors.Finding{}
	for _, f := range replayCLI(ctx, t, cli, "--batch-size", fmt.Sprint(det.BatchSize), "--aws-ip-ranges", ranges, samplePath) {
		final[f.ID] = f
	}
	var mismatch []string
	for id, sev := range got {
		if f, ok := final[id]; !ok || f.Severity != sev {
			mismatch = append(mismatch, fmt.Sprintf("%s: deployed %s, replay %v", id, sev, f.Severity))
		}
	}
	for id, f := range final {
		if !f.FirstEventTime.Before(split) && got[id] == 0 {
			mismatch = append(mismatch, fmt.Sprintf("%s: opened by replay at %s, not published live", id, f.FirstEventTime))
		}
	}
	sort.Strings(mismatch)
	for _, m := range mismatch {
		t.Error(m)
	}
	t.Logf("warm: %d events; live: %d events, %d publications of %d findings (replay: %d routed findings in all)",
		len(warm), len(live), len(notes), len(got), len(final))
}
