package notify

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/detectors"
)

// loadEscalation reads testdata/escalation.jsonl: one finding published
// three times by detect as its routed severity rose, LOW, HIGH, CRITICAL.
func loadEscalation(t *testing.T) []detectors.Finding {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "escalation.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []detectors.Finding
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var fd detectors.Finding
		if err := json.Unmarshal(sc.Bytes(), &fd); err != nil {
			t.Fatalf("escalation.jsonl: %v", err)
		}
		out = append(out, fd)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) != 3 || out[0].ID != out[2].ID || out[0].Severity != detectors.SeverityLow || out[2].Severity != detectors.SeverityCritical {
		t.Fatalf("escalation.jsonl: want LOW, HIGH, CRITICAL of one finding, got %d findings", len(out))
	}
	return out
}

func TestDeliveryKey(t *testing.T) {
	f := testFinding()
	for _, tc := range []struct {
		sev  detectors.Severity
		want string
	}{
		{detectors.SeverityLow, f.ID + ":LOW"},
		{detectors.SeverityHigh, f.ID + ":HIGH"},
		{detectors.SeverityCritical, f.ID + ":CRITICAL"},
	} {
		f.Severity = tc.sev
		if got := DeliveryKey(f); got != tc.want {
			t.Errorf("DeliveryKey(%s) = %q, want %q", tc.sev, got, tc.want)
		}
	}
}

// The generic format: one delivery per (finding, severity), each with its
// own Idempotency-Key and the same finding ID header; a redelivery keeps
// its key.
func TestGenericEscalationDeliveries(t *testing.T) {
	rv := &receiver{t: t, secret: []byte(testSigningSecret)}
	srv := serve(t, rv)
	w := newTestWebhook(t, Webhook{Format: FormatGeneric, URL: srv.URL, AllowHTTP: true,
		Secret: StaticSecret(NewSecret(testSigningSecret))}, nil)
	steps := loadEscalation(t)
	id := steps[0].ID
	// LOW, HIGH, CRITICAL, then SQS redelivers CRITICAL and a late HIGH.
	for _, f := range append(steps, steps[2], steps[1]) {
		if err := w.Deliver(context.Background(), f); err != nil {
			t.Fatalf("deliver %s: %v", f.Severity, err)
		}
	}
	bodies, headers := rv.accepted()
	want := []string{id + ":LOW", id + ":HIGH", id + ":CRITICAL", id + ":CRITICAL", id + ":HIGH"}
	if len(headers) != len(want) {
		t.Fatalf("receiver accepted %d requests, want %d", len(headers), len(want))
	}
	distinct := map[string]bool{}
	for i, h := range headers {
		if got := h.Get(HeaderIdempotencyKey); got != want[i] {
			t.Errorf("delivery %d: Idempotency-Key = %q, want %q", i, got, want[i])
		}
		if got := h.Get(HeaderFindingID); got != id {
			t.Errorf("delivery %d: %s = %q, want %q", i, HeaderFindingID, got, id)
		}
		var f detectors.Finding
		if err := json.Unmarshal(bodies[i], &f); err != nil || f.Severity.String() != h.Get(HeaderSeverity) {
			t.Errorf("delivery %d: body severity %s, header %q (%v)", i, f.Severity, h.Get(HeaderSeverity), err)
		}
		if i < 3 {
			distinct[h.Get(HeaderIdempotencyKey)] = true
		}
	}
	if len(distinct) != 3 {
		t.Errorf("LOW, HIGH, CRITICAL gave %d distinct Idempotency-Keys, want 3", len(distinct))
	}
}

// fakePagerDuty is the Events API v2 enqueue endpoint with its documented
// deduplication: a trigger whose dedup_key matches an open alert is
// deduplicated into it and notifies no one; any other trigger opens an
// alert and pages.
type fakePagerDuty struct {
	t          *testing.T
	routingKey string

	mu    sync.Mutex
	open  map[string]string // dedup_key -> payload severity
	pages []map[string]any  // the events that opened an alert
	dedup int
}

func (p *fakePagerDuty) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var ev struct {
		RoutingKey  string         `json:"routing_key"`
		EventAction string         `json:"event_action"`
		DedupKey    string         `json:"dedup_key"`
		Payload     map[string]any `json:"payload"`
	}
	bad := func(msg string) {
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]any{"status": "invalid event", "message": "Event object is invalid", "errors": []string{msg}})
	}
	if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
		bad("invalid JSON")
		return
	}
	sev, _ := ev.Payload["severity"].(string)
	switch {
	case ev.RoutingKey != p.routingKey:
		bad("routing_key is invalid")
		return
	case ev.EventAction != "trigger":
		bad("event_action must be trigger")
		return
	case ev.DedupKey == "" || len(ev.DedupKey) > 255:
		bad("dedup_key must be 1 to 255 characters")
		return
	case sev != "critical" && sev != "error" && sev != "warning" && sev != "info":
		bad("payload.severity is invalid")
		return
	case ev.Payload["summary"] == "" || ev.Payload["source"] == "":
		bad("payload.summary and payload.source are required")
		return
	}
	p.mu.Lock()
	if p.open == nil {
		p.open = map[string]string{}
	}
	if _, ok := p.open[ev.DedupKey]; ok {
		p.dedup++
	} else {
		p.open[ev.DedupKey] = sev
		p.pages = append(p.pages, ev.Payload)
	}
	p.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(map[string]string{"status": "success", "message": "Event processed", "dedup_key": ev.DedupKey})
}

// PagerDuty: LOW -> HIGH -> CRITICAL pages three times with a rising
// payload severity; a redelivery at the same severity is deduplicated.
func TestPagerDutyEscalationPages(t *testing.T) {
	const routingKey = "R0UT1NGKEY0123456789012345678901"
	pd := &fakePagerDuty{t: t, routingKey: routingKey}
	srv := serve(t, pd)
	w := newTestWebhook(t, Webhook{Format: FormatPagerDuty, URL: srv.URL + "/v2/enqueue", AllowHTTP: true,
		Secret: StaticSecret(NewSecret(`{"routing_key":"` + routingKey + `"}`))}, nil)
	steps := loadEscalation(t)
	for _, f := range append(steps, steps[2]) {
		if err := w.Deliver(context.Background(), f); err != nil {
			t.Fatalf("deliver %s: %v", f.Severity, err)
		}
	}
	pd.mu.Lock()
	defer pd.mu.Unlock()
	var sevs []string
	for _, p := range pd.pages {
		sevs = append(sevs, p["severity"].(string))
		if cd, _ := p["custom_details"].(map[string]any); cd["id"] != steps[0].ID {
			t.Errorf("custom_details.id = %v, want the finding ID %s", cd["id"], steps[0].ID)
		}
	}
	if got := strings.Join(sevs, ","); got != "info,error,critical" {
		t.Errorf("pages = %s, want info,error,critical (an escalation to HIGH and to CRITICAL must page)", got)
	}
	if pd.dedup != 1 {
		t.Errorf("deduplicated triggers = %d, want 1 (the redelivered CRITICAL)", pd.dedup)
	}
	id := steps[0].ID
	for _, k := range []string{id + ":LOW", id + ":HIGH", id + ":CRITICAL"} {
		if _, ok := pd.open[k]; !ok {
			t.Errorf("no alert with dedup_key %s (open: %v)", k, pd.open)
		}
	}
}

const (
	jiraEmail = "bot@example.com"
	jiraToken = "jira-api-token-4d9b1c"
)

func newJiraWebhook(t *testing.T, url string, rec *sleepRecorder) *Webhook {
	t.Helper()
	return newTestWebhook(t, Webhook{Format: FormatJira, URL: url, AllowHTTP: true, JiraProjectKey: "SEC",
		Secret: StaticSecret(NewSecret(`{"email":"` + jiraEmail + `","api_token":"` + jiraToken + `"}`))}, rec)
}

func adfText(doc map[string]any) string {
	b, _ := json.Marshal(doc)
	return string(b)
}

// Jira: one issue per finding; an escalation comments on it and raises its
// severity label and summary; a redelivery or a late lower severity
// changes nothing.
func TestJiraOneIssuePerFinding(t *testing.T) {
	for _, tc := range []struct {
		name string
		lag  int
		url  func(base string) string
	}{
		{"consistent search, site URL", 0, func(b string) string { return b }},
		{"consistent search, v3 create-issue URL", 0, func(b string) string { return b + "/rest/api/3/issue" }},
		// Jira's search lags behind writes: this process finds the issue
		// it created through reconcileIssues.
		{"eventually consistent search", 5, func(b string) string { return b + "/rest/api/3/issue" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			jira := &fakeJira{t: t, email: jiraEmail, token: jiraToken, projectKey: "SEC", searchLag: tc.lag}
			srv := serve(t, jira)
			w := newJiraWebhook(t, tc.url(srv.URL), nil)
			steps := loadEscalation(t)
			deliveries := append(steps, steps[2], steps[1]) // + redelivered CRITICAL, late HIGH
			wantActions := []string{ActionCreated, ActionCommented, ActionCommented, ActionUnchanged, ActionUnchanged}
			for i, f := range deliveries {
				res, err := w.DeliverResult(context.Background(), f)
				if err != nil {
					t.Fatalf("deliver %d (%s): %v", i, f.Severity, err)
				}
				if res.Action != wantActions[i] || res.Ticket != "SEC-1" {
					t.Errorf("deliver %d (%s): action %q ticket %q, want %q SEC-1", i, f.Severity, res.Action, res.Ticket, wantActions[i])
				}
			}
			issues := jira.state()
			if len(issues) != 1 {
				t.Fatalf("%d issues, want 1", len(issues))
			}
			is := issues[0]
			if !containsString(is.labels, "CRITICAL") || containsString(is.labels, "LOW") || containsString(is.labels, "HIGH") ||
				!containsString(is.labels, "trailwatch-"+steps[0].ID) {
				t.Errorf("labels = %v, want CRITICAL (only) and the finding label", is.labels)
			}
			if !strings.HasPrefix(is.summary, "[CRITICAL] high-risk-action: svc-backup attached") {
				t.Errorf("summary = %q", is.summary)
			}
			if len(is.comments) != 2 {
				t.Fatalf("%d comments, want 2 (LOW->HIGH, HIGH->CRITICAL)", len(is.comments))
			}
			for i, want := range []string{"severity rose from LOW to HIGH", "severity rose from HIGH to CRITICAL"} {
				if txt := adfText(is.comments[i]); !strings.Contains(txt, want) || !strings.Contains(txt, `"codeBlock"`) {
					t.Errorf("comment %d = %.200s, want %q and the evidence", i, txt, want)
				}
			}
			for _, r := range jira.requestLog() {
				if strings.Contains(r, "/rest/api/2/") {
					t.Errorf("request to the v2 API: %s", r)
				}
			}
		})
	}
}

// A create whose answer is lost is retried by searching again first: the
// issue created by the lost attempt is found, not created a second time.
func TestJiraRetriedCreateDoesNotDuplicate(t *testing.T) {
	for _, drop := range []string{"close", "502"} {
		t.Run(drop, func(t *testing.T) {
			jira := &fakeJira{t: t, email: jiraEmail, token: jiraToken, projectKey: "SEC",
				dropCreate: func(n int) string {
					if n == 1 {
						return drop
					}
					return ""
				}}
			srv := serve(t, jira)
			rec := &sleepRecorder{}
			w := newJiraWebhook(t, srv.URL, rec)
			f := loadEscalation(t)[1]
			res, err := w.DeliverResult(context.Background(), f)
			if err != nil {
				t.Fatalf("deliver: %v", err)
			}
			if res.Attempts != 2 || res.Action != ActionUnchanged || res.Ticket != "SEC-1" {
				t.Errorf("result = %+v, want 2 attempts ending unchanged SEC-1", res)
			}
			issues := jira.state()
			if len(issues) != 1 || jira.creates != 1 || len(issues[0].comments) != 0 {
				t.Errorf("%d issues after %d creates, comments %d; want exactly one issue, no comment", len(issues), jira.creates, len(issues[0].comments))
			}
			want := "POST /rest/api/3/search/jql,POST /rest/api/3/issue,POST /rest/api/3/search/jql"
			if got := strings.Join(jira.requestLog(), ","); got != want {
				t.Errorf("requests = %s, want %s", got, want)
			}
		})
	}
}

func TestJiraBase(t *testing.T) {
	for in, want := range map[string]string{
		"https://example.atlassian.net":                    "https://example.atlassian.net",
		"https://example.atlassian.net/":                   "https://example.atlassian.net",
		"https://example.atlassian.net/rest/api/3/issue":   "https://example.atlassian.net",
		"https://example.atlassian.net/rest/api/3/issue/":  "https://example.atlassian.net",
		"https://example.atlassian.net/rest/api/2/issue":   "https://example.atlassian.net",
		"https://jira.example.com/jira/rest/api/3/issue":   "https://jira.example.com/jira",
		"https://jira.example.com/jira":                    "https://jira.example.com/jira",
		"https://example.atlassian.net/rest/api/3/issuexx": "https://example.atlassian.net/rest/api/3/issuexx",
	} {
		if got := jiraBase(in); got != want {
			t.Errorf("jiraBase(%s) = %s, want %s", in, got, want)
		}
	}
}

// A finding ID is quoted as a JQL string, so no ID can change the query.
func TestJiraSearchQuotesTheLabel(t *testing.T) {
	jira := &fakeJira{t: t, email: jiraEmail, token: jiraToken, projectKey: "SEC"}
	srv := serve(t, jira)
	w := newJiraWebhook(t, srv.URL, nil)
	f := testFinding()
	f.ID = `tw-x" OR labels is not EMPTY OR labels = "\`
	for range 2 {
		if err := w.Deliver(context.Background(), f); err != nil {
			t.Fatal(err)
		}
	}
	other := testFinding() // a second finding must get its own issue
	if err := w.Deliver(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	if n := len(jira.state()); n != 2 {
		t.Errorf("%d issues, want 2 (one per finding)", n)
	}
}

// Redirects are never followed, in any format: a 3xx is a permanent error,
// and the http:// target it points at receives nothing (no body, no
// signature, no routing key, no Authorization).
func TestRedirectsNeverFollowed(t *testing.T) {
	var leaked atomic.Int32
	target := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.Add(1)
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, `{"issues":[]}`)
	}))
	secrets := map[Format]string{
		FormatGeneric:   testSigningSecret,
		FormatJira:      `{"email":"` + jiraEmail + `","api_token":"` + jiraToken + `"}`,
		FormatPagerDuty: `{"routing_key":"R0UT1NGKEY0123456789012345678901"}`,
	}
	for _, format := range []Format{FormatGeneric, FormatJira, FormatPagerDuty} {
		for _, code := range []int{301, 302, 303, 307, 308} {
			t.Run(fmt.Sprintf("%s/%d", format, code), func(t *testing.T) {
				var calls atomic.Int32
				origin := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					calls.Add(1)
					http.Redirect(w, r, target.URL+"/collect"+r.URL.Path, code)
				}))
				defer origin.Close()
				w := newTestWebhook(t, Webhook{Format: format, URL: origin.URL + "/hook", Client: origin.Client(),
					JiraProjectKey: "SEC", Secret: StaticSecret(NewSecret(secrets[format]))}, &sleepRecorder{})
				_, err := w.DeliverResult(context.Background(), testFinding())
				var perm *PermanentError
				if !errors.As(err, &perm) {
					t.Fatalf("err = %v (%T), want *PermanentError", err, err)
				}
				if perm.Status != code || perm.Redirect != target.URL {
					t.Errorf("PermanentError = %+v, want status %d redirect %s", perm, code, target.URL)
				}
				if !strings.Contains(err.Error(), "redirects are never followed") || strings.Contains(err.Error(), "/collect") {
					t.Errorf("error = %q", err)
				}
				if calls.Load() != 1 {
					t.Errorf("origin called %d times, want 1 (a redirect is not retried)", calls.Load())
				}
			})
		}
	}
	if n := leaked.Load(); n != 0 {
		t.Errorf("the redirect target received %d request(s)", n)
	}
	// Benign twin: the same TLS client delivers to an origin that accepts.
	rv := &receiver{t: t, secret: []byte(testSigningSecret)}
	ok := httptest.NewTLSServer(rv)
	defer ok.Close()
	w := newTestWebhook(t, Webhook{Format: FormatGeneric, URL: ok.URL + "/hook", Client: ok.Client(),
		Secret: StaticSecret(NewSecret(testSigningSecret))}, nil)
	if err := w.Deliver(context.Background(), testFinding()); err != nil {
		t.Errorf("https receiver without redirect: %v", err)
	}
}

// Only the scheme and host of the webhook URL ever reach a log line, an
// error or a String: chat webhooks carry a token in the path or query,
// and a receiver may echo its request line or body.
func TestURLTokenNeverLogged(t *testing.T) {
	const (
		pathToken  = "PATHTOKEN7f3a9c2e51"
		queryToken = "QUERYTOKENb84d1e0a77"
		routingKey = "R0UT1NGKEYc0ffee0123456789abcdef"
	)
	echo := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			w.WriteHeader(status)
			fmt.Fprintf(w, "cannot handle %s %s (token %s, path %s): %s", r.Method, r.RequestURI, r.URL.Query().Get("token"), r.URL.Path, body)
		}
	}
	hang := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // then the server notices the client leaving
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	redirect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://collector.invalid/"+pathToken+"?token="+queryToken, http.StatusTemporaryRedirect)
	})
	down, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downAddr := down.Addr().String()
	down.Close()

	tokenPath := "/services/T0/" + pathToken + "?token=" + queryToken
	for _, tc := range []struct {
		name    string
		handler http.Handler // nil: nothing listens
		format  Format
		timeout time.Duration
	}{
		{"500 echoing the request", echo(500), FormatGeneric, 0},
		{"400 echoing the request", echo(400), FormatGeneric, 0},
		{"400 echoing the routing key", echo(400), FormatPagerDuty, 0},
		{"redirect carrying the token", redirect, FormatGeneric, 0},
		{"receiver hangs past the deadline", hang, FormatGeneric, 300 * time.Millisecond},
		{"connection refused", nil, FormatGeneric, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := "https://" + downAddr
			client := http.DefaultClient
			if tc.handler != nil {
				srv := httptest.NewTLSServer(tc.handler)
				defer srv.Close()
				base, client = srv.URL, srv.Client()
			}
			secret := testSigningSecret
			if tc.format == FormatPagerDuty {
				secret = `{"routing_key":"` + routingKey + `"}`
			}
			w := newTestWebhook(t, Webhook{Format: tc.format, URL: base + tokenPath, Client: client, MaxAttempts: 2,
				Secret: StaticSecret(NewSecret(secret))}, &sleepRecorder{})
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			_, derr := w.DeliverResult(ctx, testFinding())
			if derr == nil {
				t.Fatal("delivery succeeded, want an error")
			}
			var buf bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&buf, nil))
			log.Error("delivery failed", "webhook", w, "error", derr)
			var perm *PermanentError
			var retry *RetryableError
			if errors.As(derr, &perm) {
				log.Error("permanent", "response_body", perm.Body, "status", perm.Status)
			}
			if errors.As(derr, &retry) {
				log.Error("retryable", "response_body", retry.Body, "reason", retry.Reason, "cause", retry.Err)
			}
			fmt.Fprintf(&buf, "%v\n%+v\n%#v\n%s\n%v\n", derr, derr, w, w, *w)
			out := buf.String()
			for _, secret := range []string{pathToken, queryToken, routingKey, testSigningSecret} {
				if strings.Contains(out, secret) {
					t.Errorf("%s leaked:\n%s", secret, out)
				}
			}
			if !strings.Contains(out, strings.TrimPrefix(base, "https://")) {
				t.Errorf("the host is not shown at all:\n%s", out)
			}
		})
	}

	// Configuration errors show no more than scheme and host either.
	for _, raw := range []string{
		"http://tickets.example.com" + tokenPath,                 // http without AllowHTTP
		"https://tickets.example.com/%zz/" + tokenPath,           // unparseable
		"ftp://tickets.example.com" + tokenPath,                  // wrong scheme
		"https://u:" + pathToken + "@tickets.example.com/" + "x", // credentials in the URL
	} {
		_, err := NewWebhook(Webhook{Format: FormatGeneric, URL: raw, Secret: StaticSecret(NewSecret("s"))})
		if err == nil {
			t.Errorf("NewWebhook accepted %q", raw)
			continue
		}
		if strings.Contains(err.Error(), pathToken) || strings.Contains(err.Error(), queryToken) {
			t.Errorf("NewWebhook error leaks the token: %v", err)
		}
	}
}

// The rotation of the generic signing secret, step by step as the README
// describes it: at every step a receiver holding the secret it is
// supposed to hold accepts every request, so there is no window.
func TestSigningSecretRotation(t *testing.T) {
	const (
		oldKey = "whsec-old-5f1e0c3b"
		newKey = "whsec-new-9a7d2e41"
	)
	for _, tc := range []struct {
		step       string
		secret     string
		signatures int
		accept     []string // receivers' secrets that must accept
		reject     []string // receivers' secrets that must not
	}{
		{"0 before: plain value", oldKey, 1, []string{oldKey}, []string{newKey}},
		{"1 add the new secret as secondary", `{"signing_secret":"` + oldKey + `","secondary_signing_secret":"` + newKey + `"}`, 2, []string{oldKey, newKey}, nil},
		{"2 the receiver switches to the new secret", `{"signing_secret":"` + oldKey + `","secondary_signing_secret":"` + newKey + `"}`, 2, []string{newKey}, nil},
		{"3 promote the new secret", `{"signing_secret":"` + newKey + `","secondary_signing_secret":"` + oldKey + `"}`, 2, []string{newKey, oldKey}, nil},
		{"4 drop the old secret", `{"signing_secret":"` + newKey + `"}`, 1, []string{newKey}, []string{oldKey}},
		{"4 drop the old secret, plain value", newKey, 1, []string{newKey}, []string{oldKey}},
	} {
		t.Run(tc.step, func(t *testing.T) {
			rv := &receiver{t: t} // records; verification below, per receiver secret
			srv := serve(t, rv)
			w := newTestWebhook(t, Webhook{Format: FormatGeneric, URL: srv.URL, AllowHTTP: true,
				Secret: StaticSecret(NewSecret(tc.secret))}, nil)
			if err := w.Deliver(context.Background(), testFinding()); err != nil {
				t.Fatal(err)
			}
			bodies, headers := rv.accepted()
			if len(bodies) != 1 {
				t.Fatalf("%d requests", len(bodies))
			}
			sig, ts := headers[0].Get(HeaderSignature), headers[0].Get(HeaderTimestamp)
			if n := len(strings.Split(sig, ",")); n != tc.signatures {
				t.Errorf("%s = %q: %d signatures, want %d", HeaderSignature, sig, n, tc.signatures)
			}
			for _, p := range strings.Split(sig, ",") {
				if !strings.HasPrefix(p, "v1=") || len(p) != 3+64 {
					t.Errorf("signature %q is not v1=<64 hex>", p)
				}
			}
			for _, k := range tc.accept {
				if err := Verify([]byte(k), sig, ts, bodies[0], time.Now(), DefaultSignatureTolerance); err != nil {
					t.Errorf("receiver with %s rejects: %v", k, err)
				}
			}
			for _, k := range tc.reject {
				if err := Verify([]byte(k), sig, ts, bodies[0], time.Now(), DefaultSignatureTolerance); !errors.Is(err, ErrSignatureMismatch) {
					t.Errorf("receiver with %s: Verify = %v, want a mismatch", k, err)
				}
			}
		})
	}
}

func TestSignSeveralSecrets(t *testing.T) {
	ts := time.Unix(1764331200, 0)
	body := []byte(`{"id":"tw-1"}`)
	a, b := []byte("secret-a"), []byte("secret-b")
	one := Sign(a, ts, body)
	for _, tc := range []struct {
		name   string
		others [][]byte
		want   string
	}{
		{"none", nil, one},
		{"second", [][]byte{b}, one + "," + Sign(b, ts, body)},
		{"empty secondary adds nothing", [][]byte{{}}, one},
		{"same as primary adds nothing", [][]byte{[]byte("secret-a")}, one},
		{"repeated secondary once", [][]byte{b, b}, one + "," + Sign(b, ts, body)},
	} {
		if got := Sign(a, ts, body, tc.others...); got != tc.want {
			t.Errorf("%s: Sign = %q, want %q", tc.name, got, tc.want)
		}
	}
	creds, err := ParseCredentials(FormatGeneric, NewSecret(`{"signing_secret":"a","secondary_signing_secret":"b"}`))
	if err != nil || creds.SigningSecret.Reveal() != "a" || creds.SecondarySigningSecret.Reveal() != "b" {
		t.Errorf("ParseCredentials = %v, %v", creds, err)
	}
	if _, err := ParseCredentials(FormatGeneric, NewSecret(`{"secondary_signing_secret":"b"}`)); err == nil {
		t.Error("a secondary without a signing_secret was accepted")
	}
}
