package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/render"
)

// Format is a webhook payload format.
type Format string

// Webhook formats.
const (
	FormatGeneric   Format = "generic"
	FormatJira      Format = "jira"
	FormatPagerDuty Format = "pagerduty"
	// FormatOCSF is an OCSF Detection Finding (render.OCSF), signed and
	// sent like the generic format.
	FormatOCSF Format = "ocsf"
)

// ParseFormat validates a format name.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case FormatGeneric, FormatJira, FormatPagerDuty, FormatOCSF:
		return f, nil
	}
	return "", fmt.Errorf("unknown webhook format %q (want generic, jira, pagerduty or ocsf)", s)
}

// Defaults for Webhook fields left zero.
const (
	DefaultMaxAttempts   = 5
	DefaultBaseDelay     = 200 * time.Millisecond
	DefaultMaxDelay      = 20 * time.Second
	DefaultHTTPTimeout   = 10 * time.Second
	DefaultJiraIssueType = "Task"

	// maxSnippet bounds the response body kept in errors and logs.
	maxSnippet = 512
	// minAttemptBudget is the least time an attempt needs; a retry is not
	// started when less than this would remain before the deadline.
	minAttemptBudget = 250 * time.Millisecond
)

// Webhook delivers findings to a ticketing system. Build it with
// NewWebhook, which validates the configuration and fills defaults; a
// Webhook is safe for concurrent use when its Client and Secret are.
type Webhook struct {
	Format Format
	URL    string
	// AllowHTTP permits a plain http URL; set it only for local tests.
	AllowHTTP bool
	// Client sends the requests; nil means a client with DefaultHTTPTimeout.
	Client *http.Client
	// Secret provides the format's credentials (see ParseCredentials).
	Secret SecretProvider
	// JiraProjectKey and JiraIssueType fill the jira payload.
	JiraProjectKey string
	JiraIssueType  string
	// MaxAttempts bounds the attempts per delivery, the first included.
	MaxAttempts int
	// BaseDelay and MaxDelay shape the backoff: before retry n the
	// delivery sleeps a random duration in [0, min(MaxDelay,
	// BaseDelay*2^(n-1))) ("full jitter"), or the server's Retry-After
	// capped at MaxDelay.
	BaseDelay time.Duration
	MaxDelay  time.Duration

	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
	jit   func(n int64) int64
	// jiraIssues remembers the issue of each finding this process saw.
	jiraIssues *issueCache
}

// NewWebhook validates cfg and returns a ready Webhook. The URL must be
// https unless AllowHTTP is set.
func NewWebhook(cfg Webhook) (*Webhook, error) {
	w := cfg
	if err := w.validate(); err != nil {
		return nil, err
	}
	if w.Client == nil {
		w.Client = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if w.MaxAttempts <= 0 {
		w.MaxAttempts = DefaultMaxAttempts
	}
	if w.BaseDelay <= 0 {
		w.BaseDelay = DefaultBaseDelay
	}
	if w.MaxDelay <= 0 {
		w.MaxDelay = DefaultMaxDelay
	}
	if w.JiraIssueType == "" {
		w.JiraIssueType = DefaultJiraIssueType
	}
	if w.now == nil {
		w.now = time.Now
	}
	if w.sleep == nil {
		w.sleep = sleepContext
	}
	if w.jit == nil {
		w.jit = rand.Int64N
	}
	w.jiraIssues = &issueCache{}
	return &w, nil
}

func (w *Webhook) validate() error {
	if _, err := ParseFormat(string(w.Format)); err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	if w.URL == "" {
		return errors.New("webhook: URL is required")
	}
	u, err := url.Parse(w.URL)
	if err != nil {
		// Not wrapped: url.Parse quotes the whole URL, token included.
		return errors.New("webhook: the URL cannot be parsed")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && w.AllowHTTP:
	case u.Scheme == "http":
		return fmt.Errorf("webhook: URL %s uses http; https is required (allow http only for local tests)", redactURL(u))
	default:
		return fmt.Errorf("webhook: URL %s: scheme must be https", redactURL(u))
	}
	if u.Host == "" {
		return fmt.Errorf("webhook: URL %s has no host", redactURL(u))
	}
	if u.User != nil {
		return errors.New("webhook: URL must not embed credentials; put them in the secret")
	}
	if w.Secret == nil {
		return errors.New("webhook: a secret source is required")
	}
	if w.Format == FormatJira && w.JiraProjectKey == "" {
		return errors.New("webhook: jira format needs a project key")
	}
	return nil
}

// LogValue implements slog.LogValuer: the configuration without secrets,
// and of the URL only its scheme and host (chat webhooks carry a token in
// the path or the query).
func (w Webhook) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("format", string(w.Format)),
		slog.Bool("allow_http", w.AllowHTTP),
		slog.Int("max_attempts", w.MaxAttempts),
		slog.Duration("base_delay", w.BaseDelay),
		slog.Duration("max_delay", w.MaxDelay),
	}
	attrs = append(attrs, slog.String("url", redactRawURL(w.URL)))
	if w.Format == FormatJira {
		attrs = append(attrs, slog.String("jira_project", w.JiraProjectKey), slog.String("jira_issue_type", w.JiraIssueType))
	}
	if lv, ok := w.Secret.(slog.LogValuer); ok {
		attrs = append(attrs, slog.Any("secret", lv))
	} else if w.Secret != nil {
		attrs = append(attrs, slog.String("secret", redacted))
	}
	return slog.GroupValue(attrs...)
}

// String describes the configuration without secrets.
func (w Webhook) String() string {
	return fmt.Sprintf("webhook{format=%s url=%s allow_http=%t max_attempts=%d secret=%s}", w.Format, redactRawURL(w.URL), w.AllowHTTP, w.MaxAttempts, redacted)
}

// GoString is String, so that %#v does not print the fields.
func (w Webhook) GoString() string { return w.String() }

// redactURL is the only form in which a URL is logged or put in an error:
// its scheme and host.
func redactURL(u *url.URL) string {
	return u.Scheme + "://" + u.Host
}

// redactRawURL is redactURL for a string; an unparseable URL is not shown.
func redactRawURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	return redactURL(u)
}

// Result describes one delivery, for metrics and logs.
type Result struct {
	Attempts int
	// Latency is the wall time of the whole delivery, backoff included.
	Latency time.Duration
	// Status is the last HTTP status seen (0 if none).
	Status int
	// Action says what the delivery did: "sent" (generic, pagerduty), or
	// for jira "created", "commented" (an escalation) or "unchanged" (the
	// issue already shows this severity or a higher one).
	Action string
	// Ticket is the Jira issue key, when known.
	Ticket string
}

// Delivery actions reported in Result.Action.
const (
	ActionSent      = "sent"
	ActionCreated   = "created"
	ActionCommented = "commented"
	ActionUnchanged = "unchanged"
)

// PermanentError is a delivery that retrying the same request cannot
// make succeed: the receiver refused it with a 4xx status other than 429,
// or answered with a redirect, which is never followed.
type PermanentError struct {
	Status   int
	Body     string // bounded snippet of the response body
	Attempts int
	// Redirect is the scheme and host of a 3xx answer's Location.
	Redirect string
}

func (e *PermanentError) Error() string {
	if e.Status >= 300 && e.Status < 400 {
		to := e.Redirect
		if to == "" {
			to = "(no Location)"
		}
		return fmt.Sprintf("webhook answered HTTP %d, a redirect to %s: redirects are never followed (they could downgrade to http or send the signature or token elsewhere); set the webhook URL to the final https address", e.Status, to)
	}
	return fmt.Sprintf("webhook rejected the request: HTTP %d after %d attempt(s): %q", e.Status, e.Attempts, e.Body)
}

// RetryableError is a delivery that failed transiently (network error,
// timeout, 429 or 5xx) until the attempts or the time budget ran out; the
// message should be retried later.
type RetryableError struct {
	Attempts int
	Status   int    // last HTTP status, 0 for a network error
	Body     string // bounded snippet of the last response body
	Reason   string // "attempts exhausted", "deadline", "canceled"
	Err      error  // last underlying error
}

func (e *RetryableError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "webhook delivery failed (%s) after %d attempt(s)", e.Reason, e.Attempts)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

func (e *RetryableError) Unwrap() error { return e.Err }

// Deliver sends the finding, retrying transient failures. See DeliverResult.
func (w *Webhook) Deliver(ctx context.Context, f detectors.Finding) error {
	_, err := w.DeliverResult(ctx, f)
	return err
}

// DeliverResult sends the finding in the configured format and reports the
// attempts and latency. It returns nil, a *PermanentError or a
// *RetryableError (or a configuration error, e.g. an unusable secret).
// Retries stop when the context's deadline leaves no room for another
// attempt, and every request ends at that deadline.
func (w *Webhook) DeliverResult(ctx context.Context, f detectors.Finding) (Result, error) {
	start := w.now()
	var res Result
	if err := w.validate(); err != nil {
		return res, err
	}
	raw, err := w.Secret.Secret(ctx)
	if err != nil {
		return res, &RetryableError{Reason: "secret unavailable", Err: err}
	}
	creds, err := ParseCredentials(w.Format, raw)
	if err != nil {
		return res, err
	}
	body, err := w.payload(f, creds)
	if err != nil {
		return res, err
	}
	red := w.redactor(creds)

	var last RetryableError
	for attempt := 1; ; attempt++ {
		res.Attempts = attempt
		var rep reply
		var err error
		if w.Format == FormatJira {
			rep, err = w.jiraAttempt(ctx, f, creds, body)
		} else {
			rep, err = w.send(ctx, http.MethodPost, w.URL, body, w.headers(f, creds, body))
			rep.action = ActionSent
		}
		res.Status = rep.status
		res.Latency = w.now().Sub(start)
		snippet := snip([]byte(red.Replace(string(rep.body))))
		switch status := rep.status; {
		case err == nil && status >= 200 && status < 300:
			res.Action, res.Ticket = rep.action, rep.ticket
			return res, nil
		case err != nil:
			last = RetryableError{Attempts: attempt, Err: err}
			if ctx.Err() != nil {
				last.Reason = "canceled"
				return res, &last
			}
		case status >= 300 && status < 400:
			return res, &PermanentError{Status: status, Body: snippet, Attempts: attempt, Redirect: rep.location}
		case status == http.StatusTooManyRequests || status >= 500:
			last = RetryableError{Attempts: attempt, Status: status, Body: snippet}
		default:
			if status == http.StatusUnauthorized || status == http.StatusForbidden {
				if inv, ok := w.Secret.(interface{ Invalidate() }); ok {
					inv.Invalidate() // the secret may have been rotated
				}
			}
			return res, &PermanentError{Status: status, Body: snippet, Attempts: attempt}
		}
		if attempt >= w.MaxAttempts {
			last.Reason = "attempts exhausted"
			return res, &last
		}
		delay := w.backoff(attempt, rep.retryAfter)
		if dl, ok := ctx.Deadline(); ok && w.now().Add(delay+minAttemptBudget).After(dl) {
			last.Reason = "deadline"
			return res, &last
		}
		if err := w.sleep(ctx, delay); err != nil {
			last.Reason = "canceled"
			if last.Err == nil {
				last.Err = err
			}
			res.Latency = w.now().Sub(start)
			return res, &last
		}
	}
}

// backoff returns the delay before retry number attempt (1-based).
func (w *Webhook) backoff(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, w.MaxDelay)
	}
	ceil := w.MaxDelay
	if shift := attempt - 1; shift < 30 {
		if d := w.BaseDelay << shift; d > 0 && d < ceil {
			ceil = d
		}
	}
	return time.Duration(w.jit(int64(ceil)))
}

// headers returns the format's request headers: the generic format's
// signature, timestamp, delivery key and finding ID.
func (w *Webhook) headers(f detectors.Finding, creds Credentials, body []byte) http.Header {
	h := http.Header{}
	if w.Format == FormatGeneric || w.Format == FormatOCSF {
		now := w.now()
		var others [][]byte
		if !creds.SecondarySigningSecret.IsZero() {
			others = append(others, []byte(creds.SecondarySigningSecret.Reveal()))
		}
		h.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
		h.Set(HeaderSignature, Sign([]byte(creds.SigningSecret.Reveal()), now, body, others...))
		h.Set(HeaderIdempotencyKey, DeliveryKey(f))
		h.Set(HeaderFindingID, f.ID)
		h.Set(HeaderSeverity, f.Severity.String())
	}
	return h
}

// reply is what one request got back.
type reply struct {
	status     int
	body       []byte // the first bytes of the response body
	retryAfter time.Duration
	location   string // scheme and host of a redirect's Location
	action     string // for Result.Action
	ticket     string // for Result.Ticket
}

// maxReplyBody bounds the response body read (search results included).
const maxReplyBody = 1 << 20

// noRedirects makes a client return a 3xx answer instead of following it.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// send makes one request. err is a transport error, with the URL reduced
// to scheme and host; otherwise the reply holds the status, the start of
// the body and any Retry-After. Redirects are never followed, whatever
// the configured Client says: a 3xx comes back as the reply.
func (w *Webhook) send(ctx context.Context, method, target string, body []byte, h http.Header) (reply, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		// Not wrapped: the error quotes the URL.
		return reply{}, fmt.Errorf("build %s request to %s: invalid request", method, redactRawURL(target))
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "trailwatch-notify/1")
	client := *w.Client
	client.CheckRedirect = noRedirects
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = redactRawURL(ue.URL) // the path or query may carry a token
		}
		return reply{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxReplyBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	rep := reply{status: resp.StatusCode, body: b, retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), w.now())}
	if rep.status >= 300 && rep.status < 400 {
		if loc, err := resp.Location(); err == nil {
			rep.location = redactURL(loc)
		}
	}
	return rep, nil
}

// redactor removes from response snippets what must never be logged: the
// credentials, and the parts of the URL after the host (a receiver may
// echo its request line).
func (w *Webhook) redactor(creds Credentials) *strings.Replacer {
	var secrets []string
	for _, s := range []Secret{creds.SigningSecret, creds.SecondarySigningSecret, creds.APIToken, creds.RoutingKey} {
		if v := s.Reveal(); len(v) >= 4 {
			secrets = append(secrets, v)
		}
	}
	if u, err := url.Parse(w.URL); err == nil {
		if u.RawQuery != "" {
			secrets = append(secrets, u.RawQuery)
			for _, vs := range u.Query() {
				for _, v := range vs {
					if len(v) >= 6 {
						secrets = append(secrets, v, url.QueryEscape(v))
					}
				}
			}
		}
		for _, seg := range strings.Split(u.EscapedPath(), "/") {
			if len(seg) >= 8 {
				secrets = append(secrets, seg)
				if p, err := url.PathUnescape(seg); err == nil && p != seg {
					secrets = append(secrets, p)
				}
			}
		}
	}
	// Longest first, so a token is not half-replaced through a shorter part.
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(secrets))
	for _, s := range secrets {
		pairs = append(pairs, s, redacted)
	}
	return strings.NewReplacer(pairs...)
}

// parseRetryAfter reads delay-seconds or an HTTP-date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, 24*3600)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func snip(b []byte) string {
	s := strings.ToValidUTF8(string(b), "?")
	if len(s) <= maxSnippet {
		return s
	}
	cut := maxSnippet
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// payload renders the request body of the configured format.
func (w *Webhook) payload(f detectors.Finding, creds Credentials) ([]byte, error) {
	switch w.Format {
	case FormatGeneric:
		return json.Marshal(f)
	case FormatJira:
		return json.Marshal(JiraIssue(f, w.JiraProjectKey, w.JiraIssueType))
	case FormatPagerDuty:
		return json.Marshal(PagerDutyEvent(f, creds.RoutingKey.Reveal()))
	case FormatOCSF:
		return json.Marshal(render.OCSF(f, w.now()))
	}
	return nil, fmt.Errorf("unknown webhook format %q", w.Format)
}
