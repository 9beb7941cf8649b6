package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/trailwatch/trailwatch/internal/lambdatest"
	"github.com/trailwatch/trailwatch/notify"
)

// slowReceiver answers after delay, through next; a request whose client
// left meanwhile is not processed (the receiver committed nothing). hang
// names a finding ID that is never answered before the client leaves.
func slowReceiver(next http.Handler, delay time.Duration, hang string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body) // read first, so the server notices the client leaving
		var f struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(body, &f)
		wait := delay
		if f.ID != "" && f.ID == hang {
			wait = 10 * time.Second
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(wait):
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

func records(prefix string, n int) []lambdaevents.SQSMessage {
	var out []lambdaevents.SQSMessage
	for i := range n {
		out = append(out, snsRecord(fmt.Sprintf("m%d", i), finding(fmt.Sprintf("%s-%d", prefix, i))))
	}
	return out
}

// splitResponse returns the message IDs reported as failures and the
// records that were not.
func splitResponse(ev []lambdaevents.SQSMessage, resp lambdaevents.SQSEventResponse) (failed []lambdaevents.SQSMessage, ok map[string]bool) {
	bad := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		bad[f.ItemIdentifier] = true
	}
	ok = map[string]bool{}
	for _, r := range ev {
		if bad[r.MessageId] {
			failed = append(failed, r)
		} else {
			ok[r.MessageId] = true
		}
	}
	return failed, ok
}

// The handler budgets its time: against a slow receiver and a short
// deadline it stops starting deliveries, returns before the deadline with
// the records it did not deliver as batch item failures (and only those),
// and the redelivered remainder is delivered once.
func TestHandlerDeadlineBudget(t *testing.T) {
	rv := &lambdatest.TicketReceiver{T: t, Secret: []byte(signingSecret)}
	srv := httptest.NewServer(slowReceiver(rv, 300*time.Millisecond, ""))
	defer srv.Close()
	e := newEnv(t, srv.URL)
	e.h.reserve, e.h.minStart = 500*time.Millisecond, 500*time.Millisecond

	const n = 8
	pending := records("tw-budget", n)
	idOf := map[string]string{} // message ID -> finding ID
	for i, r := range pending {
		idOf[r.MessageId] = fmt.Sprintf("tw-budget-%d", i)
	}
	for round := 1; len(pending) > 0; round++ {
		if round > 6 {
			t.Fatalf("%d records still pending after 5 invocations", len(pending))
		}
		const timeout = 2 * time.Second
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		start := time.Now()
		before := map[string]bool{}
		for _, id := range rv.Tickets() {
			before[id] = true
		}
		resp, err := e.h.Handle(ctx, lambdaevents.SQSEvent{Records: pending})
		elapsed, late := time.Since(start), ctx.Err()
		cancel()
		if err != nil || late != nil {
			t.Fatalf("round %d: err %v, returned after the deadline (%v, %v)", round, err, elapsed, late)
		}
		failed, ok := splitResponse(pending, resp)
		t.Logf("round %d: %d records, %d delivered, %d returned, in %v", round, len(pending), len(ok), len(failed), elapsed.Round(time.Millisecond))
		if round == 1 && (len(ok) == 0 || len(failed) == 0) {
			t.Errorf("round 1: %d delivered, %d returned; want a partial batch (8 x 300ms do not fit 1.5s)", len(ok), len(failed))
		}
		// What was acknowledged was delivered in this round; what was
		// returned was not.
		now := map[string]bool{}
		for _, id := range rv.Tickets() {
			if !before[id] {
				now[id] = true
			}
		}
		for _, r := range pending {
			if ok[r.MessageId] != now[idOf[r.MessageId]] {
				t.Errorf("round %d: %s acknowledged=%t but delivered=%t", round, r.MessageId, ok[r.MessageId], now[idOf[r.MessageId]])
			}
		}
		pending = failed
	}
	got := map[string]int{}
	for _, id := range rv.Tickets() {
		got[id]++
	}
	for _, id := range idOf {
		if got[id] != 1 {
			t.Errorf("%s delivered %d times, want once", id, got[id])
		}
	}
	if c := rv.Calls.Load(); c != n {
		t.Errorf("receiver saw %d requests for %d findings, want exactly %d", c, n, n)
	}
	if !strings.Contains(e.logs.String(), "time budget exhausted") || !strings.Contains(e.metrics.String(), `"DeferredMessages"`) {
		t.Errorf("deferral not logged or counted:\n%s\n%s", e.logs.String(), e.metrics.String())
	}
}

// A receiver that never answers cannot make the invocation time out: its
// delivery is cut off reserve before the deadline and returned, the
// records after it are not started, and what was delivered before it is
// acknowledged.
func TestHandlerCutsHangingDelivery(t *testing.T) {
	rv := &lambdatest.TicketReceiver{T: t, Secret: []byte(signingSecret)}
	srv := httptest.NewServer(slowReceiver(rv, 0, "tw-hang"))
	defer srv.Close()
	e := newEnv(t, srv.URL)
	e.h.reserve, e.h.minStart = 500*time.Millisecond, 300*time.Millisecond

	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	resp, err := e.h.Handle(ctx, lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{
		snsRecord("m1", finding("tw-first")), snsRecord("m2", finding("tw-hang")), snsRecord("m3", finding("tw-last")),
	}})
	if err != nil || ctx.Err() != nil {
		t.Fatalf("err %v, context %v: the handler must return before the deadline", err, ctx.Err())
	}
	if got := failedIDs(resp); got != "m2,m3" {
		t.Errorf("batchItemFailures = %q, want m2,m3", got)
	}
	if got := strings.Join(rv.Tickets(), ","); got != "tw-first" {
		t.Errorf("tickets = %q, want tw-first", got)
	}
	logs := e.logs.String()
	for _, want := range []string{"delivery cut off by the time budget", "time budget exhausted"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}

// The startup log and every delivery log show the webhook URL's scheme
// and host only.
func TestLogsShowOnlySchemeAndHost(t *testing.T) {
	const pathToken, queryToken = "PATHTOKEN0c9d8e7f6a", "QUERYTOKEN1a2b3c4d5e"
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.URL.Query().Get("ok") == "" {
			http.Error(w, "no route for "+r.RequestURI, http.StatusNotFound) // echoes the token
			return
		}
	}))
	defer srv.Close()
	secrets := &fakeSecrets{values: map[string]string{secretARN: signingSecret}}
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	for _, url := range []string{
		srv.URL + "/services/T0/" + pathToken + "?token=" + queryToken,
		srv.URL + "/services/T0/" + pathToken + "?token=" + queryToken + "&ok=1",
	} {
		s := settings{format: notify.FormatGeneric, url: url, secretARN: secretARN, allowHTTP: true, maxAttempts: 2}
		h, err := newHandler(s, secrets, log, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.Handle(context.Background(), lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{snsRecord("m1", finding("tw-1"))}}); err != nil {
			t.Fatal(err)
		}
	}
	// A configuration error is printed by main: it must not leak either.
	_, cfgErr := newHandler(settings{format: notify.FormatGeneric, url: "http://tickets.example.com/" + pathToken + "?token=" + queryToken, secretARN: secretARN},
		secrets, log, io.Discard)
	out := logs.String() + fmt.Sprint(cfgErr)
	if calls.Load() != 2 || cfgErr == nil {
		t.Fatalf("receiver saw %d requests, config error %v", calls.Load(), cfgErr)
	}
	for _, tok := range []string{pathToken, queryToken, signingSecret} {
		if strings.Contains(out, tok) {
			t.Errorf("%s leaked:\n%s", tok, out)
		}
	}
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, want := range []string{`"msg":"notify starting"`, `"url":"http://` + host + `"`, `"msg":"ticket delivered"`, `"response_status":404`} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %s:\n%s", want, out)
		}
	}
}
