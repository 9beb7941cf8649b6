package main

import (
	"errors"
	"strings"
	"testing"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/trailwatch/trailwatch/baselines"
	"github.com/trailwatch/trailwatch/detectors"
	dt "github.com/trailwatch/trailwatch/detectors/detectorstest"
)

const attackPrincipalARN = "arn:aws:iam::111122223333:user/svc-backup"

// selectedAttack is the number of attack records the production rule
// forwards: 17 minus 3 successful read-only calls (GetCallerIdentity,
// ListBuckets, DescribeInstances), which are counted as not_selected.
const selectedAttack = 14

// feedHistory runs the sample history through h in batches of 100 and
// fails the test on any batch item failure.
func feedHistory(t *testing.T, h *handler, s sample) {
	t.Helper()
	for _, ev := range sqsBatches("hist", s.history, 100) {
		if resp := invoke(t, h, ev); len(resp.BatchItemFailures) != 0 {
			t.Fatalf("history batch: failures %v", resp.BatchItemFailures)
		}
	}
}

// attackBatch is the attack's messages plus one malformed message.
func attackBatch(s sample) lambdaevents.SQSEvent {
	ev := sqsBatches("atk", s.attack, 100)[0]
	ev.Records = append(ev.Records, sqsMessage("bad-1", `{"detail-type":"AWS API Call via CloudTrail","detail":{"eventTime":`))
	return ev
}

func publishedIDs(fs []detectors.Finding) map[string]int {
	m := map[string]int{}
	for _, f := range fs {
		m[f.ID]++
	}
	return m
}

func TestAttackPublishedOnceRedeliverySilent(t *testing.T) {
	s := loadSample(t)
	pub := &fakePublisher{}
	h, out := newTestHandler(baselines.NewMemory(), pub)
	feedHistory(t, h, s)
	before := len(pub.findings())

	resp := invoke(t, h, attackBatch(s))
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("attack batch: failures %v, want none (the malformed message is skipped, not failed)", resp.BatchItemFailures)
	}
	got := pub.findings()[before:]
	if len(got) == 0 {
		t.Fatal("the attack published no finding")
	}
	high := false
	for id, n := range publishedIDs(got) {
		if n != 1 {
			t.Errorf("finding %s published %d times in one batch", id, n)
		}
	}
	for _, f := range got {
		if f.PrincipalARN != attackPrincipalARN {
			t.Errorf("finding %s for %s, want the attacked principal", f.ID, f.PrincipalARN)
		}
		if f.Severity >= detectors.SeverityHigh {
			high = true
		}
		t.Logf("published %s %s %s: %s", f.ID, f.Severity, f.Detector, f.Title)
	}
	if !high {
		t.Error("no HIGH or CRITICAL finding for the stolen access key")
	}
	logs := out.String()
	for _, want := range []string{
		`"message_id":"bad-1"`, `"reason":"malformed_json"`, `"requestId":"req-test-1"`,
		`"EventsSkipped"`, `"Reason":"malformed_json"`, `"Findings"`, `"EventsProcessed"`, `"Namespace":"Trailwatch"`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("output lacks %s", want)
		}
	}

	// SQS delivers the same batch again: nothing new is published.
	n := len(pub.findings())
	resp = invoke(t, h, attackBatch(s))
	if len(resp.BatchItemFailures) != 0 {
		t.Errorf("redelivery: failures %v", resp.BatchItemFailures)
	}
	if again := pub.findings()[n:]; len(again) != 0 {
		t.Errorf("redelivery published %d findings again, want none: %v", len(again), publishedIDs(again))
	}
}

func TestPublishFailureRedeliveredPublishesOnce(t *testing.T) {
	s := loadSample(t)
	pub := &fakePublisher{}
	store := dt.NewCodecStore()
	h, out := newTestHandler(store, pub)
	feedHistory(t, h, s)
	before := len(pub.findings())

	pub.fail = func(int, detectors.Finding) error { return errors.New("sns: throttled") }
	batch := attackBatch(s)
	resp := invoke(t, h, batch)
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	if failed["bad-1"] {
		t.Error("malformed message reported as failed")
	}
	if len(failed) != selectedAttack {
		t.Errorf("%d messages failed, want the %d selected attack messages", len(failed), selectedAttack)
	}
	if len(pub.findings()) != before {
		t.Fatal("a failing publisher recorded a finding")
	}
	if !strings.Contains(out.String(), "finding not published") {
		t.Error("no log of the failed publication")
	}

	// SQS redelivers the failed messages; the topic works again.
	pub.fail = nil
	var retry lambdaevents.SQSEvent
	for _, m := range batch.Records {
		if failed[m.MessageId] {
			retry.Records = append(retry.Records, m)
		}
	}
	resp = invoke(t, h, retry)
	if len(resp.BatchItemFailures) != 0 {
		t.Errorf("redelivery: failures %v", resp.BatchItemFailures)
	}
	got := pub.findings()[before:]
	if len(got) == 0 {
		t.Fatal("the redelivery published nothing: the alert was lost")
	}
	for id, n := range publishedIDs(got) {
		if n != 1 {
			t.Errorf("finding %s published %d times", id, n)
		}
	}

	// And once more: nothing.
	n := len(pub.findings())
	invoke(t, h, retry)
	if again := pub.findings()[n:]; len(again) != 0 {
		t.Errorf("second redelivery published %v", publishedIDs(again))
	}
}

func TestPartialPublishFailureOnlyThatPrincipal(t *testing.T) {
	s := loadSample(t)
	pub := &fakePublisher{}
	h, _ := newTestHandler(dt.NewCodecStore(), pub)
	feedHistory(t, h, s)
	// A batch mixing the attack with an unrelated principal's event
	// (a brand-new principal: no finding while learning).
	other := `{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDAOTHER","arn":"arn:aws:iam::111122223333:user/other","accountId":"111122223333","accessKeyId":"AKIAOTHER0000000","userName":"other"},"eventTime":"2026-11-03T08:13:00Z","eventSource":"ec2.amazonaws.com","eventName":"CreateTags","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.7","userAgent":"aws-cli/2.15.0","requestParameters":{},"responseElements":null,"requestID":"r-other","eventID":"other-1","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333"}`
	batch := attackBatch(s)
	batch.Records = append(batch.Records, sqsMessage("other-msg", other))
	pub.fail = func(int, detectors.Finding) error { return errors.New("sns down") }
	resp := invoke(t, h, batch)
	for _, f := range resp.BatchItemFailures {
		if f.ItemIdentifier == "other-msg" || f.ItemIdentifier == "bad-1" {
			t.Errorf("%s reported as failed; only the attacked principal's messages should be", f.ItemIdentifier)
		}
	}
	if len(resp.BatchItemFailures) != selectedAttack {
		t.Errorf("%d failures, want %d", len(resp.BatchItemFailures), selectedAttack)
	}
}

func TestNotSelectedAndUndecodableCounted(t *testing.T) {
	pub := &fakePublisher{}
	h, out := newTestHandler(baselines.NewMemory(), pub)
	readOnly := `{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/x","accountId":"111122223333","userName":"x"},"eventTime":"2026-11-03T08:13:00Z","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.7","userAgent":"aws-cli/2","eventID":"ro-1","readOnly":true,"eventType":"AwsApiCall","recipientAccountId":"111122223333"}`
	ev := lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{
		sqsMessage("m-ro", readOnly),
		sqsMessage("m-garbage", "not json at all"),
		sqsMessage("m-empty", "{}"),
		sqsMessage("m-notime", `{"eventSource":"iam.amazonaws.com","eventName":"CreateUser","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/y"},"eventID":"nt-1"}`),
		sqsMessage("m-other-type", `{"detail-type":"EC2 Instance State-change Notification","detail":{}}`),
	}}
	resp := invoke(t, h, ev)
	if len(resp.BatchItemFailures) != 0 {
		t.Errorf("failures %v, want none", resp.BatchItemFailures)
	}
	logs := out.String()
	for _, want := range []string{`"Reason":"not_selected"`, `"Reason":"missing_event_time"`, `"Reason":"not_a_cloudtrail_record"`, `"Reason":"unsupported_detail_type"`, `"message_id":"m-garbage"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("output lacks %s:\n%s", want, logs)
		}
	}
}

func TestStoreUnreachableFailsBatch(t *testing.T) {
	s := loadSample(t)
	h, _ := newTestHandler(failingStore{}, &fakePublisher{})
	_, err := invokeErr(h, sqsBatches("x", s.attack, 100)[0])
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("err = %v, want the store error (whole batch retried)", err)
	}
}

func TestEmptyBatch(t *testing.T) {
	h, _ := newTestHandler(baselines.NewMemory(), &fakePublisher{})
	if resp := invoke(t, h, lambdaevents.SQSEvent{}); len(resp.BatchItemFailures) != 0 {
		t.Errorf("failures %v", resp.BatchItemFailures)
	}
}
