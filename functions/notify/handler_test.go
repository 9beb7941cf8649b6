package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/internal/lambdatest"
	"github.com/trailwatch/trailwatch/notify"
)

const (
	secretARN     = "arn:aws:secretsmanager:us-east-1:123456789012:secret:trailwatch/webhook-AbCdEf"
	signingSecret = "whsec-handler-test-5b0c"
)

// fakeSecrets is an in-memory Secrets Manager.
type fakeSecrets struct {
	values map[string]string
	calls  atomic.Int32
}

func (f *fakeSecrets) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.calls.Add(1)
	v, ok := f.values[*in.SecretId]
	if !ok {
		return nil, errors.New("ResourceNotFoundException")
	}
	return &secretsmanager.GetSecretValueOutput{ARN: in.SecretId, SecretString: &v}, nil
}

func finding(id string) detectors.Finding {
	t := time.Date(2026, 11, 28, 11, 59, 0, 0, time.UTC)
	return detectors.Finding{
		ID: id, Detector: "first-seen", Severity: detectors.SeverityHigh, Score: 0.97, Mode: detectors.ModeAlert,
		Title: "alice@example.com called iam:CreateAccessKey", Principal: "123456789012/alice@example.com",
		AccountID: "123456789012", Region: "eu-west-1", EventIDs: []string{"ev-" + id}, EventNames: []string{"CreateAccessKey"},
		FirstEventTime: t, LastEventTime: t, Count: 1, Reasons: []string{"never called iam:CreateAccessKey before"},
		DedupeKey: "dk-" + id,
	}
}

// snsRecord wraps a finding the way SNS delivers it to SQS.
func snsRecord(msgID string, f detectors.Finding) lambdaevents.SQSMessage {
	body, _ := json.Marshal(f)
	env, _ := json.Marshal(notify.SNSEnvelope{
		Type: "Notification", MessageID: "sns-" + msgID, TopicARN: "arn:aws:sns:us-east-1:123456789012:trailwatch-findings",
		Subject: notify.Subject(f), Message: string(body), Timestamp: "2026-11-28T12:00:00.000Z",
		MessageAttributes: map[string]notify.SNSMessageAttribute{"severity": {Type: "String", Value: f.Severity.String()}},
	})
	return lambdaevents.SQSMessage{MessageId: msgID, Body: string(env), EventSource: "aws:sqs",
		EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:trailwatch-notify"}
}

func rawRecord(msgID, body string) lambdaevents.SQSMessage {
	return lambdaevents.SQSMessage{MessageId: msgID, Body: body, EventSource: "aws:sqs"}
}

type testEnv struct {
	h       *handler
	logs    *bytes.Buffer
	metrics *bytes.Buffer
	secrets *fakeSecrets
}

func newEnv(t *testing.T, url string) testEnv {
	t.Helper()
	secrets := &fakeSecrets{values: map[string]string{secretARN: `{"signing_secret":"` + signingSecret + `"}`}}
	wh, err := notify.NewWebhook(notify.Webhook{
		Format: notify.FormatGeneric, URL: url, AllowHTTP: true,
		Secret:      notify.NewSecretSource(secrets, secretARN),
		MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	var logs, metrics bytes.Buffer
	return testEnv{
		h: &handler{webhook: wh, format: notify.FormatGeneric,
			log:     slog.New(slog.NewJSONHandler(&logs, nil)),
			metrics: &notify.Metrics{W: &metrics}, reserve: time.Second, minStart: defaultMinStart},
		logs: &logs, metrics: &metrics, secrets: secrets,
	}
}

func invoke(t *testing.T, h *handler, ev lambdaevents.SQSEvent) lambdaevents.SQSEventResponse {
	t.Helper()
	payload, _ := json.Marshal(ev)
	out, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), payload)
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	var resp lambdaevents.SQSEventResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("response %s: %v", out, err)
	}
	return resp
}

func failedIDs(r lambdaevents.SQSEventResponse) string {
	var ids []string
	for _, f := range r.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	return strings.Join(ids, ",")
}

func TestHandlerBatch(t *testing.T) {
	rv := &lambdatest.TicketReceiver{T: t, Secret: []byte(signingSecret), Status: func(n int) int {
		if n <= 2 {
			return http.StatusInternalServerError // the first finding needs 3 attempts
		}
		return 0
	}}
	srv := httptest.NewServer(rv)
	defer srv.Close()
	e := newEnv(t, srv.URL)

	bare, _ := json.Marshal(finding("tw-bare"))
	resp := invoke(t, e.h, lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{
		snsRecord("m1", finding("tw-1")),
		rawRecord("m2", "this is not JSON"),
		rawRecord("m3", string(bare)),
	}})
	if got := failedIDs(resp); got != "m2" {
		t.Errorf("batchItemFailures = %q, want only the undecodable m2", got)
	}
	if got := strings.Join(rv.Tickets(), ","); got != "tw-1,tw-bare" {
		t.Errorf("tickets = %q, want tw-1,tw-bare once each", got)
	}
	if rv.Calls.Load() != 4 {
		t.Errorf("receiver calls = %d, want 4 (3 + 1)", rv.Calls.Load())
	}
	if e.secrets.calls.Load() != 1 {
		t.Errorf("secret fetched %d times, want 1 (cached)", e.secrets.calls.Load())
	}
	logs := e.logs.String()
	if !strings.Contains(logs, `"msg":"undecodable message, reporting it for the DLQ"`) || !strings.Contains(logs, `"message_id":"m2"`) {
		t.Errorf("undecodable message not logged:\n%s", logs)
	}
	if strings.Contains(logs, signingSecret) {
		t.Error("secret in logs")
	}
	var sawAttempts3 bool
	for _, line := range strings.Split(strings.TrimSpace(e.metrics.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		if _, ok := m["_aws"]; !ok {
			t.Errorf("metrics line without _aws: %s", line)
		}
		if m["WebhookAttempts"] == 3.0 && m["Format"] == "generic" && m["WebhookFailures"] == 0.0 {
			sawAttempts3 = true
		}
	}
	if !sawAttempts3 {
		t.Errorf("no EMF record with 3 attempts:\n%s", e.metrics.String())
	}
}

func TestHandlerPermanentFailure(t *testing.T) {
	rv := &lambdatest.TicketReceiver{T: t, Secret: []byte(signingSecret), Status: func(int) int { return http.StatusUnprocessableEntity }}
	srv := httptest.NewServer(rv)
	defer srv.Close()
	e := newEnv(t, srv.URL)
	resp := invoke(t, e.h, lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{snsRecord("m1", finding("tw-1"))}})
	if failedIDs(resp) != "m1" {
		t.Errorf("batchItemFailures = %q, want m1 (to reach the DLQ)", failedIDs(resp))
	}
	if rv.Calls.Load() != 1 {
		t.Errorf("permanent failure retried: %d calls", rv.Calls.Load())
	}
	if logs := e.logs.String(); !strings.Contains(logs, `"response_status":422`) || !strings.Contains(logs, "receiver unavailable") || !strings.Contains(logs, `"error_type":"PermanentError"`) {
		t.Errorf("permanent failure not logged with the response:\n%s", logs)
	}
}

func TestHandlerReceiverDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	e := newEnv(t, url)
	resp := invoke(t, e.h, lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{
		snsRecord("m1", finding("tw-1")), snsRecord("m2", finding("tw-2")),
	}})
	if failedIDs(resp) != "m1,m2" {
		t.Errorf("batchItemFailures = %q, want m1,m2", failedIDs(resp))
	}
	if !strings.Contains(e.metrics.String(), `"WebhookFailures":1`) {
		t.Errorf("no failure metric:\n%s", e.metrics.String())
	}
}

func TestHandlerOutOfTime(t *testing.T) {
	rv := &lambdatest.TicketReceiver{T: t, Secret: []byte(signingSecret)}
	srv := httptest.NewServer(rv)
	defer srv.Close()
	e := newEnv(t, srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond) // less than the reserve
	defer cancel()
	resp, err := e.h.Handle(ctx, lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{snsRecord("m1", finding("tw-1"))}})
	if err != nil || failedIDs(resp) != "m1" || rv.Calls.Load() != 0 {
		t.Errorf("resp %v err %v calls %d: want m1 returned untouched", failedIDs(resp), err, rv.Calls.Load())
	}
}

func TestConfig(t *testing.T) {
	base := map[string]string{"WEBHOOK_URL": "https://tickets.example.com/hook", "WEBHOOK_SECRET_ARN": secretARN}
	for _, tc := range []struct {
		name    string
		extra   map[string]string
		wantErr string
	}{
		{"defaults", nil, ""},
		{"jira", map[string]string{"WEBHOOK_FORMAT": "jira", "JIRA_PROJECT_KEY": "SEC"}, ""},
		{"bad format", map[string]string{"WEBHOOK_FORMAT": "teams"}, "WEBHOOK_FORMAT"},
		{"no url", map[string]string{"WEBHOOK_URL": ""}, "WEBHOOK_URL"},
		{"bad attempts", map[string]string{"WEBHOOK_MAX_ATTEMPTS": "0"}, "WEBHOOK_MAX_ATTEMPTS"},
		{"bad delay", map[string]string{"WEBHOOK_BASE_DELAY": "soon"}, "WEBHOOK_BASE_DELAY"},
		{"bad level", map[string]string{"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := map[string]string{}
			for k, v := range base {
				m[k] = v
			}
			for k, v := range tc.extra {
				m[k] = v
			}
			s, err := readEnv(func(k string) string { return m[k] }).validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if s.allowHTTP {
					t.Error("allowHTTP without WEBHOOK_ALLOW_HTTP=true")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want mention of %s", err, tc.wantErr)
			}
		})
	}
	s, _ := readEnv(func(k string) string {
		return map[string]string{"WEBHOOK_URL": "http://x", "WEBHOOK_SECRET_ARN": "a", "WEBHOOK_ALLOW_HTTP": "TRUE"}[k]
	}).validate()
	if s.allowHTTP {
		t.Error(`only "true" may enable http`)
	}
}
