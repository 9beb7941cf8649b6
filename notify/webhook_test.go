package notify

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/detectors"
)

const testSigningSecret = "whsec-test-8c1f0f5e9f0b4d6e"

// receiver is a ticketing endpoint that checks generic signatures.
type receiver struct {
	t       *testing.T
	secret  []byte
	mu      sync.Mutex
	bodies  [][]byte
	headers []http.Header
	calls   atomic.Int32
	// respond decides the answer to call n (1-based); nil means 200.
	respond func(n int, w http.ResponseWriter) bool
}

func (rv *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := int(rv.calls.Add(1))
	body, _ := io.ReadAll(r.Body)
	if rv.respond != nil && rv.respond(n, w) {
		return
	}
	if rv.secret != nil {
		err := Verify(rv.secret, r.Header.Get(HeaderSignature), r.Header.Get(HeaderTimestamp), body, time.Now(), DefaultSignatureTolerance)
		if err != nil {
			rv.t.Errorf("receiver: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
	}
	rv.mu.Lock()
	rv.bodies = append(rv.bodies, body)
	rv.headers = append(rv.headers, r.Header.Clone())
	rv.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (rv *receiver) accepted() ([][]byte, []http.Header) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return rv.bodies, rv.headers
}

func serve(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func TestDeliverGenericSigned(t *testing.T) {
	rv := &receiver{t: t, secret: []byte(testSigningSecret)}
	srv := serve(t, rv)
	w := newTestWebhook(t, Webhook{Format: FormatGeneric, URL: srv.URL, AllowHTTP: true,
		Secret: StaticSecret(NewSecret(`{"signing_secret":"` + testSigningSecret + `"}`))}, nil)
	f := testFinding()
	res, err := w.DeliverResult(context.Background(), f)
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if res.Attempts != 1 || res.Status != 200 {
		t.Errorf("result = %+v, want 1 attempt, status 200", res)
	}
	bodies, headers := rv.accepted()
	if len(bodies) != 1 {
		t.Fatalf("accepted %d deliveries, want 1", len(bodies))
	}
	h := headers[0]
	if got := h.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	if got, want := h.Get(HeaderIdempotencyKey), f.ID+":HIGH"; got != want {
		t.Errorf("Idempotency-Key = %q, want %q", got, want)
	}
	if got := h.Get(HeaderFindingID); got != f.ID {
		t.Errorf("%s = %q, want %q", HeaderFindingID, got, f.ID)
	}
	if got := h.Get(HeaderSeverity); got != "HIGH" {
		t.Errorf("%s = %q, want HIGH", HeaderSeverity, got)
	}
	if !strings.HasPrefix(h.Get(HeaderSignature), "v1=") {
		t.Errorf("signature %q lacks v1= prefix", h.Get(HeaderSignature))
	}
	var got detectors.Finding
	if err := json.Unmarshal(bodies[0], &got); err != nil {
		t.Fatalf("body is not a finding: %v", err)
	}
	if got.ID != f.ID || got.Severity != f.Severity || got.Title != f.Title {
		t.Errorf("body finding = %+v", got)
	}
}

func TestDeliverGenericPlainSecret(t *testing.T) {
	rv := &receiver{t: t, secret: []byte("plain-secret")}
	srv := serve(t, rv)
	w := newTestWebhook(t, Webhook{Format: FormatGeneric, URL: srv.URL, AllowHTTP: true,
		Secret: StaticSecret(NewSecret("plain-secret\n"))}, nil)
	if err := w.Deliver(context.Background(), testFinding()); err != nil {
		t.Fatal(err)
	}
	if b, _ := rv.accepted(); len(b) != 1 {
		t.Fatalf("accepted %d", len(b))
	}
}

func TestDeliverJira(t *testing.T) {
	var got struct {
		Fields struct {
			Project   struct{ Key string }  `json:"project"`
			IssueType struct{ Name string } `json:"issuetype"`
			Summary   string                `json:"summary"`
			Labels    []string              `json:"labels"`
			Desc      struct {
				Type    string `json:"type"`
				Version int    `json:"version"`
				Content []struct {
					Type    string            `json:"type"`
					Attrs   map[string]string `json:"attrs"`
					Content []json.RawMessage `json:"content"`
				} `json:"content"`
			} `json:"description"`
		} `json:"fields"`
	}
	var auth string
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		if r.URL.Path == "/rest/api/3/search/jql" { // no issue for this finding yet
			io.WriteString(w, `{"issues":[],"isLast":true}`)
			return
		}
		if r.URL.Path != "/rest/api/3/issue" {
			t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
		}
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			t.Errorf("decode: %v", err)
		}
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id":"10000","key":"SEC-1"}`)
	}))
	w := newTestWebhook(t, Webhook{Format: FormatJira, URL: srv.URL + "/rest/api/3/issue", AllowHTTP: true,
		JiraProjectKey: "SEC",
		Secret:         StaticSecret(NewSecret(`{"email":"bot@example.com","api_token":"jira-token-123"}`))}, nil)
	f := testFinding()
	f.Title = strings.Repeat("very long title ", 40)
	res, err := w.DeliverResult(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	if res.Action != ActionCreated || res.Ticket != "SEC-1" {
		t.Errorf("result = %+v, want created SEC-1", res)
	}
	if want := "Basic " + base64.StdEncoding.EncodeToString([]byte("bot@example.com:jira-token-123")); auth != want {
		t.Errorf("Authorization = %q, want %q", auth, want)
	}
	fl := got.Fields
	if fl.Project.Key != "SEC" || fl.IssueType.Name != "Task" {
		t.Errorf("project/issuetype = %+v %+v", fl.Project, fl.IssueType)
	}
	if n := len([]rune(fl.Summary)); n > 255 || !strings.HasPrefix(fl.Summary, "[HIGH] first-seen: very long title") || !strings.HasSuffix(fl.Summary, "...") {
		t.Errorf("summary (%d runes) = %q", n, fl.Summary)
	}
	if strings.Join(fl.Labels, ",") != "trailwatch,first-seen,HIGH,trailwatch-"+f.ID {
		t.Errorf("labels = %v", fl.Labels)
	}
	if fl.Desc.Type != "doc" || fl.Desc.Version != 1 {
		t.Errorf("description is not an ADF doc: %+v", fl.Desc)
	}
	var types []string
	for _, c := range fl.Desc.Content {
		types = append(types, c.Type)
	}
	if s := strings.Join(types, ","); s != "paragraph,paragraph,paragraph,bulletList,paragraph,codeBlock" {
		t.Errorf("ADF node types = %s", s)
	}
	last := fl.Desc.Content[len(fl.Desc.Content)-1]
	if last.Attrs["language"] != "json" || len(last.Content) != 1 || !bytes.Contains(last.Content[0], []byte(f.EventIDs[0])) {
		t.Errorf("codeBlock = %+v", last)
	}
	list := fl.Desc.Content[3]
	if len(list.Content) != len(f.Reasons) || !bytes.Contains(list.Content[0], []byte(`"listItem"`)) {
		t.Errorf("bulletList = %s", list.Content)
	}
}

func TestDeliverPagerDuty(t *testing.T) {
	var got map[string]any
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			t.Errorf("decode: %v", err)
		}
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"status":"success","message":"Event processed","dedup_key":"x"}`)
	}))
	w := newTestWebhook(t, Webhook{Format: FormatPagerDuty, URL: srv.URL + "/v2/enqueue", AllowHTTP: true,
		Secret: StaticSecret(NewSecret(`{"routing_key":"R0UT1NGKEY0123456789012345678901"}`))}, nil)
	f := testFinding()
	if err := w.Deliver(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	if got["routing_key"] != "R0UT1NGKEY0123456789012345678901" || got["event_action"] != "trigger" || got["dedup_key"] != f.ID+":HIGH" {
		t.Errorf("envelope = %v", got)
	}
	p, _ := got["payload"].(map[string]any)
	want := map[string]any{
		"summary": "[HIGH] first-seen: alice@example.com called iam:CreateAccessKey", "source": "123456789012/eu-west-1",
		"severity": "error", "component": "first-seen", "group": "123456789012", "class": "first-seen",
		"timestamp": "2026-11-28T11:59:00Z",
	}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("payload.%s = %v, want %v", k, p[k], v)
		}
	}
	if cd, _ := p["custom_details"].(map[string]any); cd["id"] != f.ID {
		t.Errorf("custom_details = %v", p["custom_details"])
	}
}

func TestPagerDutySeverity(t *testing.T) {
	for s, want := range map[detectors.Severity]string{
		detectors.SeverityCritical: "critical", detectors.SeverityHigh: "error",
		detectors.SeverityMedium: "warning", detectors.SeverityLow: "info", detectors.SeverityInfo: "info",
	} {
		if got := PagerDutySeverity(s); got != want {
			t.Errorf("PagerDutySeverity(%s) = %s, want %s", s, got, want)
		}
	}
}

func TestDeliverRetries5xxThenSucceeds(t *testing.T) {
	rv := &receiver{t: t, secret: []byte(testSigningSecret), respond: func(n int, w http.ResponseWriter) bool {
		if n <= 2 {
			http.Error(w, "upstream unavailable", http.StatusInternalServerError)
			return true
		}
		return false
	}}
	srv := serve(t, rv)
	rec := &sleepRecorder{}
	w := newTestWebhook(t, Webhook{Format: FormatGeneric, URL: srv.URL, AllowHTTP: true, BaseDelay: 100 * time.Millisecond,
		Secret: StaticSecret(NewSecret(testSigningSecret))}, rec)
	res, err := w.DeliverResult(context.Background(), testFinding())
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if b, _ := rv.accepted(); len(b) != 1 {
		t.Errorf("accepted %d deliveries, want exactly 1", len(b))
	}
	if res.Attempts != 3 || rv.calls.Load() != 3 {
		t.Errorf("attempts = %d (receiver saw %d), want 3", res.Attempts, rv.calls.Load())
	}
	// Full jitter with jit returning the ceiling: 100ms then 200ms.
	if d := rec.get(); len(d) != 2 || d[0] != 100*time.Millisecond || d[1] != 200*time.Millisecond {
		t.Errorf("backoff delays = %v, want [100ms 200ms]", d)
	}
}

func TestBackoffJitterBounds(t *testing.T) {
	w, err := NewWebhook(Webhook{Format: FormatGeneric, URL: "https://example.com", Secret: StaticSecret{},
		BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for attempt := 1; attempt <= 40; attempt++ {
		ceil := min(time.Second, 100*time.Millisecond<<min(attempt-1, 20))
		for range 20 {
			if d := w.backoff(attempt, 0); d < 0 || d >= ceil {
				t.Fatalf("backoff(%d) = %v, want in [0, %v)", attempt, d, ceil)
			}
		}
	}
	if d := w.backoff(1, 5*time.Second); d != time.Second {
		t.Errorf("Retry-After 5s capped by MaxDelay 1s = %v", d)
	}
}

func TestDeliverHonoursRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name       string
		retryAfter func() string
		want       time.Duration
	}{
		{"seconds", func() string { return "7" }, 7 * time.Second},
		{"http-date", func() string { return t0.Add(30 * time.Second).Format(http.TimeFormat) }, 30 * time.Second},
		{"capped by MaxDelay", func() string { return "3600" }, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rv := &receiver{t: t, respond: func(n int, w http.ResponseWriter) bool {
				if n == 1 {
					w.Header().Set("Retry-After", tc.retryAfter())
					http.Error(w, "slow down", http.StatusTooManyRequests)
					return true
				}
				return false
			}}
			srv := serve(t, rv)
			rec := &sleepRecorder{}
			w := newTestWebhook(t, Webhook{Format: FormatGeneric, URL: srv.URL, AllowHTTP: true, MaxDelay: time.Minute,
				Secret: StaticSecret(NewSecret(testSigningSecret))}, rec)
			w.now = func() time.Time { return t0 }
			res, err := w.DeliverResult(context.Background(), testFinding())
			if err != nil {
				t.Fatal(err)
			}
			if res.Attempts != 2 {
				t.Errorf("attempts = %d, want 2", res.Attempts)
			}
			if d := rec.get(); len(d) != 1 || d[0] != tc.want {
				t.Errorf("slept %v, want [%v]", d, tc.want)
			}
		})
	}
}

func TestDeliverPermanentError(t *testing.T) {
	long := `{"errorMessages":["Field 'project' is invalid"],"detail":"` + strings.Repeat("x", 5000) + `"}`
	rv := &receiver{t: t, respond: func(n int, w http.ResponseWriter) bool {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, long)
		return true
	}}
	srv := serve(t, rv)
	rec := &sleepRecorder{}
	w := newTestWebhook(t, Webhook{Format: FormatGeneric, URL: srv.URL, AllowHTTP: true,
		Secret: StaticSecret(NewSecret(testSigningSecret))}, rec)
	res, err := w.DeliverResult(context.Background(), testFinding())
	var perm *PermanentError
	if !errors.As(err, &perm) {
		t.Fatalf("err = %v (%T), want *PermanentError", err, err)
	}
	if perm.Status != 400 || perm.Attempts != 1 || res.Attempts != 1 || rv.calls.Load() != 1 {
		t.Errorf("perm = %+v, res = %+v, calls = %d", perm, res, rv.calls.Load())
	}
	if !strings.HasPrefix(perm.Body, `{"errorMessages":["Field 'project' is invalid"]`) || len(perm.Body) > maxSnippet+3 {
		t.Errorf("body snippet (%d bytes) = %.80q", len(perm.Body), perm.Body)
	}
	if len(rec.get()) != 0 {
		t.Errorf("slept before a permanent failure: %v", rec.get())
	}
}

func TestDeliverReceiverDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/hook?token=query-token-xyz"
	ln.Close()
	rec := &sleepRecorder{}
	w := newTestWebhook(t, Webhook{Format: FormatGeneric, URL: url, AllowHTTP: true, MaxAttempts: 4,
		Secret: StaticSecret(NewSecret(testSigningSecret))}, rec)
	res, err := w.DeliverResult(context.Background(), testFinding())
	var retry *RetryableError
	if !errors.As(err, &retry) {
		t.Fatalf("err = %v (%T), want *RetryableError", err, err)
	}
	if retry.Attempts != 4 || res.Attempts != 4 || retry.Reason != "attempts exhausted" || retry.Err == nil {
		t.Errorf("retry = %+v", retry)
	}
	if len(rec.get()) != 3 {
		t.Errorf("slept %v, want 3 backoffs", rec.get())
	}
	if strings.Contains(err.Error(), "query-token-xyz") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error = %v; want the cause without the URL query", err)
	}
}

func TestDeliverStopsBeforeDeadline(t *testing.T) {
	rv := &receiver{t: t, respond: func(n int, w http.ResponseWriter) bool {
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	}}
	srv := serve(t, rv)
	rec := &sleepRecorder{}
	w := newTestWebhook(t, Webhook{Format: FormatGeneric, URL: srv.URL, AllowHTTP: true, MaxAttempts: 10,
		BaseDelay: time.Second, Secret: StaticSecret(NewSecret(testSigningSecret))}, rec)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	res, err := w.DeliverResult(ctx, testFinding())
	var retry *RetryableError
	if !errors.As(err, &retry) || retry.Reason != "deadline" || retry.Status != 503 {
		t.Fatalf("err = %v, want a RetryableError for the deadline with status 503", err)
	}
	// Sleeps are recorded, not slept: 1s fits the 2s budget, then 2s does not.
	if res.Attempts != 2 || time.Since(start) > time.Second {
		t.Errorf("attempts = %d in %v, want 2 quickly", res.Attempts, time.Since(start))
	}
}

func TestNewWebhookRequiresHTTPS(t *testing.T) {
	sec := StaticSecret(NewSecret("s"))
	for _, tc := range []struct {
		cfg     Webhook
		wantErr string
	}{
		{Webhook{Format: FormatGeneric, URL: "http://tickets.example.com/hook", Secret: sec}, "https is required"},
		{Webhook{Format: FormatGeneric, URL: "ftp://tickets.example.com/hook", Secret: sec}, "scheme must be https"},
		{Webhook{Format: FormatGeneric, URL: "https://u:p@tickets.example.com/hook", Secret: sec}, "must not embed credentials"},
		{Webhook{Format: "teams", URL: "https://tickets.example.com/hook", Secret: sec}, "unknown webhook format"},
		{Webhook{Format: FormatJira, URL: "https://x.atlassian.net/rest/api/3/issue", Secret: sec}, "project key"},
		{Webhook{Format: FormatGeneric, URL: "https://tickets.example.com/hook"}, "secret source"},
		{Webhook{Format: FormatGeneric, URL: "http://127.0.0.1:1/hook", AllowHTTP: true, Secret: sec}, ""},
		{Webhook{Format: FormatGeneric, URL: "https://tickets.example.com/hook", Secret: sec}, ""},
	} {
		_, err := NewWebhook(tc.cfg)
		if tc.wantErr == "" {
			if err != nil {
				t.Errorf("NewWebhook(%s): %v", tc.cfg.URL, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("NewWebhook(%s %s) = %v, want error containing %q", tc.cfg.Format, tc.cfg.URL, err, tc.wantErr)
		}
	}
}

func TestBadSecretDocuments(t *testing.T) {
	for _, tc := range []struct {
		format Format
		raw    string
	}{
		{FormatJira, `{"email":"a@b.c"}`},
		{FormatJira, `not json but a token`},
		{FormatPagerDuty, `{"routing_key":""}`},
		{FormatGeneric, `{"other":"x"}`},
		{FormatGeneric, `{"signing_secret": "topsecret-value-xyz"`},
	} {
		_, err := ParseCredentials(tc.format, NewSecret(tc.raw))
		if err == nil {
			t.Errorf("ParseCredentials(%s, %q): no error", tc.format, tc.raw)
			continue
		}
		if strings.Contains(err.Error(), "topsecret") || strings.Contains(err.Error(), "but a token") {
			t.Errorf("error leaks the secret: %v", err)
		}
	}
}

func TestSecretNeverLogged(t *testing.T) {
	const token = "sk-live-DO-NOT-LOG-0123456789"
	fake := &fakeSecretsManager{values: map[string]string{"arn:aws:secretsmanager:us-east-1:123456789012:secret:hook": `{"signing_secret":"` + token + `"}`}}
	src := NewSecretSource(fake, "arn:aws:secretsmanager:us-east-1:123456789012:secret:hook")
	w, err := NewWebhook(Webhook{Format: FormatGeneric, URL: "https://tickets.example.com/hook?api_key=" + token, Secret: src})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := src.Secret(context.Background()) // fill the cache
	if err != nil {
		t.Fatal(err)
	}
	creds, err := ParseCredentials(FormatGeneric, raw)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	log.Info("config", "webhook", w, "source", src, "raw", raw, "creds", creds)
	log.Info("fields", slog.Any("secret", creds.SigningSecret), slog.Any("webhook_struct", *w))
	fmt.Fprintf(&buf, "%v %+v %#v %s %q %x\n", creds, creds, creds, raw, raw, raw)
	fmt.Fprintf(&buf, "%v %+v %v %+v %#v\n", w.Secret, src, w, *w, *w)
	b, _ := json.Marshal(creds)
	buf.Write(b)
	if strings.Contains(buf.String(), token) {
		t.Fatalf("secret leaked into logs:\n%s", buf.String())
	}
	if !strings.Contains(buf.String(), "[redacted]") {
		t.Errorf("expected [redacted] markers in:\n%s", buf.String())
	}
	if creds.SigningSecret.Reveal() != token {
		t.Errorf("Reveal() lost the value")
	}
}
