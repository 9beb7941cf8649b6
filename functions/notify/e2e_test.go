//go:build unix

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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

	start := func(t *testing.T, webhookURL string, extra ...string) string {
		env := map[string]string{
			"WEBHOOK_FORMAT":                   "generic",
			"WEBHOOK_URL":                      webhookURL,
			"WEBHOOK_SECRET_ARN":               secretARN,
			"WEBHOOK_ALLOW_HTTP":               "true",
			"WEBHOOK_MAX_ATTEMPTS":             "4",
			"WEBHOOK_BASE_DELAY":               "50ms",
			"AWS_ENDPOINT_URL_SECRETS_MANAGER": sm.URL,
			"LOG_LEVEL":                        "DEBUG",
		}
		for i := 0; i+1 < len(extra); i += 2 {
			env[extra[i]] = extra[i+1]
		}
		return testenv.RIE(t, bootstrap, env)
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
		logs := testenv.WaitRIELogs(url, 5*time.Second, `"message":"ticket delivered"`, `"WebhookLatency"`)
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

	// The function's time budget, with the emulator's deadline: a batch
	// that cannot be delivered in time comes back partly as batch item
	// failures, before the function times out; the retried remainder is
	// delivered once.
	t.Run("deadline budget", func(t *testing.T) {
		rv := &lambdatest.TicketReceiver{T: t, Secret: []byte(signingSecret)}
		srv := httptest.NewServer(slowReceiver(rv, 400*time.Millisecond, ""))
		defer srv.Close()
		// 4 s: deliveries end 1 s before the deadline and start only while
		// 2 s of that remain, so about three of the six fit.
		url := start(t, srv.URL, "AWS_LAMBDA_FUNCTION_TIMEOUT", "4")
		pending := records("tw-e2e-budget", 6)
		for round := 1; len(pending) > 0; round++ {
			if round > 4 {
				t.Fatalf("%d records still pending after 3 invocations", len(pending))
			}
			begin := time.Now()
			out, err := testenv.Invoke(t, url, lambdaevents.SQSEvent{Records: pending})
			elapsed := time.Since(begin)
			var resp lambdaevents.SQSEventResponse
			if err != nil || json.Unmarshal(out, &resp) != nil || strings.Contains(string(out), "errorType") {
				t.Fatalf("round %d: response %s (%v) after %v", round, out, err, elapsed)
			}
			failed, ok := splitResponse(pending, resp)
			t.Logf("round %d: %d records, %d delivered, %d returned, in %v", round, len(pending), len(ok), len(failed), elapsed.Round(time.Millisecond))
			if elapsed >= 4*time.Second {
				t.Errorf("round %d took %v: the function ran into its 4 s timeout", round, elapsed)
			}
			if round == 1 && (len(ok) == 0 || len(failed) == 0) {
				t.Errorf("round 1: %d delivered, %d returned; want a partial batch (6 x 400 ms do not fit)", len(ok), len(failed))
			}
			pending = failed
		}
		got := map[string]int{}
		for _, id := range rv.Tickets() {
			got[id]++
		}
		for i := range 6 {
			if id := fmt.Sprintf("tw-e2e-budget-%d", i); got[id] != 1 {
				t.Errorf("%s delivered %d times, want once", id, got[id])
			}
		}
		if c := rv.Calls.Load(); c != 6 {
			t.Errorf("receiver saw %d requests for 6 findings, want 6", c)
		}
	})

	if smCalls.Load() < 1 {
		t.Error("the function never asked Secrets Manager for the secret")
	}
}
