//go:build unix

package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/trailwatch/trailwatch/internal/lambdatest"
	"github.com/trailwatch/trailwatch/internal/testenv"
)

// secretsManagerServer answers the one Secrets Manager call the function
// makes (JSON protocol, X-Amz-Target: secretsmanager.GetSecretValue).
func secretsManagerServer(t *testing.T, value string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if got := r.Header.Get("X-Amz-Target"); got != "secretsmanager.GetSecretValue" {
			t.Errorf("Secrets Manager: unexpected X-Amz-Target %q", got)
			http.Error(w, `{"__type":"UnknownOperationException"}`, http.StatusBadRequest)
			return
		}
		if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
			t.Errorf("Secrets Manager: request not SigV4-signed")
		}
		var in struct{ SecretId string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.SecretId != secretARN {
			t.Errorf("Secrets Manager: SecretId %q (%v)", in.SecretId, err)
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}`)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		json.NewEncoder(w).Encode(map[string]any{
			"ARN": secretARN, "Name": "trailwatch/webhook", "SecretString": value,
			"VersionId": "a1b2c3d4-0000-0000-0000-000000000001", "VersionStages": []string{"AWSCURRENT"}, "CreatedDate": 1.7643312e9,
		})
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

var initDuration = regexp.MustCompile(`INIT REPORT\(durationMs: [0-9.]+\)|Init Duration: [0-9.]+ ms`)

// TestEndToEndRIE runs the built bootstrap under aws-lambda-rie and checks
// delivery through a signature-verifying receiver.
func TestEndToEndRIE(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the function; skipped with -short")
	}
	bootstrap := testenv.BuildFunction(t, "github.com/trailwatch/trailwatch/functions/notify")
	sm, smCalls := secretsManagerServer(t, `{"signing_secret":"`+signingSecret+`"}`)

	start := func(t *testing.T, webhookURL string) string {
		return testenv.RIE(t, bootstrap, map[string]string{
			"WEBHOOK_FORMAT":                   "generic",
			"WEBHOOK_URL":                      webhookURL,
			"WEBHOOK_SECRET_ARN":               secretARN,
			"WEBHOOK_ALLOW_HTTP":               "true",
			"WEBHOOK_MAX_ATTEMPTS":             "4",
			"WEBHOOK_BASE_DELAY":               "50ms",
			"AWS_ENDPOINT_URL_SECRETS_MANAGER": sm.URL,
			"LOG_LEVEL":                        "DEBUG",
		})
	}
	event := lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{snsRecord("msg-1", finding("tw-e2e-1"))}}
	invokeRIE := func(t *testing.T, url string) lambdaevents.SQSEventResponse {
		t.Helper()
		out, err := testenv.Invoke(t, url, event)
		if err != nil {
			t.Fatalf("invoke: %v", err)
		}
		var resp lambdaevents.SQSEventResponse
		if err := json.Unmarshal(out, &resp); err != nil || strings.Contains(string(out), "errorType") {
			t.Fatalf("function response %s (%v)", out, err)
		}
		if m := initDuration.FindAllString(testenv.RIELogs(url), -1); len(m) > 0 {
			t.Logf("cold start: %s", strings.Join(m, "; "))
		}
		return resp
	}

	t.Run("signed ticket", func(t *testing.T) {
		rv := &lambdatest.TicketReceiver{T: t, Secret: []byte(signingSecret)}
		srv := httptest.NewServer(rv)
		defer srv.Close()
		url := start(t, srv.URL+"/tickets")
		resp := invokeRIE(t, url)
		if len(resp.BatchItemFailures) != 0 {
			t.Errorf("batchItemFailures = %v, want none", resp.BatchItemFailures)
		}
		if got := rv.Tickets(); len(got) != 1 || got[0] != "tw-e2e-1" {
			t.Errorf("tickets = %v, want exactly [tw-e2e-1]", got)
		}
		logs := testenv.RIELogs(url)
		if !strings.Contains(logs, `"message":"ticket delivered"`) || !strings.Contains(logs, `"requestId":`) {
			t.Errorf("no JSON delivery log with requestId in:\n%s", logs)
		}
		if !strings.Contains(logs, `"CloudWatchMetrics"`) || !strings.Contains(logs, `"WebhookLatency"`) {
			t.Errorf("no EMF metrics in:\n%s", logs)
		}
		if strings.Contains(logs, signingSecret) {
			t.Error("signing secret appears in the function output")
		}
	})

	t.Run("500 twice then 200", func(t *testing.T) {
		rv := &lambdatest.TicketReceiver{T: t, Secret: []byte(signingSecret), Status: func(n int) int {
			if n <= 2 {
				return http.StatusInternalServerError
			}
			return 0
		}}
		srv := httptest.NewServer(rv)
		defer srv.Close()
		resp := invokeRIE(t, start(t, srv.URL))
		if len(resp.BatchItemFailures) != 0 {
			t.Errorf("batchItemFailures = %v, want none", resp.BatchItemFailures)
		}
		if got := rv.Tickets(); len(got) != 1 || rv.Calls.Load() != 3 {
			t.Errorf("tickets = %v after %d calls, want exactly 1 after 3", got, rv.Calls.Load())
		}
	})

	t.Run("receiver down", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		down := "http://" + ln.Addr().String() + "/tickets"
		ln.Close()
		resp := invokeRIE(t, start(t, down))
		if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "msg-1" {
			t.Errorf("batchItemFailures = %v, want [msg-1] (returned to the queue)", resp.BatchItemFailures)
		}
	})

	if smCalls.Load() < 1 {
		t.Error("the function never asked Secrets Manager for the secret")
	}
}
