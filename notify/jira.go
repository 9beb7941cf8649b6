package notify

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/trailwatch/trailwatch/detectors"
)

// Jira Cloud REST API v3 paths, under the site's base URL.
const (
	jiraSearchPath = "/rest/api/3/search/jql"
	jiraIssuePath  = "/rest/api/3/issue"
)

// jiraBase returns the site URL of a configured Jira URL: the URL itself,
// or what precedes /rest/api/3/issue (or /rest/api/2/issue) in it.
func jiraBase(raw string) string {
	s := strings.TrimRight(raw, "/")
	for _, suffix := range []string{"/rest/api/3/issue", "/rest/api/2/issue"} {
		if strings.HasSuffix(s, suffix) {
			return strings.TrimSuffix(s, suffix)
		}
	}
	return s
}

// jiraAttempt is one attempt of a Jira delivery: find the finding's issue
// by its label, then create it, or comment on it and raise its severity,
// or leave it as it is when it already shows this severity or a higher
// one. Every attempt searches first, so a retry after a create whose
// answer was lost finds the issue instead of creating a second one (as far
// as Jira's search already shows it; see the README). The reply is the one
// of the last request made; a non-2xx stops the sequence.
func (w *Webhook) jiraAttempt(ctx context.Context, f detectors.Finding, creds Credentials, createBody []byte) (reply, error) {
	base := jiraBase(w.URL)
	auth := http.Header{}
	auth.Set("Authorization", "Basic "+basicAuth(creds.Email, creds.APIToken.Reveal()))

	issue, rep, err := w.jiraFind(ctx, base, f.ID, auth)
	if err != nil || !is2xx(rep.status) {
		return rep, err
	}
	if issue == nil {
		rep, err = w.send(ctx, http.MethodPost, base+jiraIssuePath, createBody, auth)
		if err != nil || !is2xx(rep.status) {
			return rep, err
		}
		var created struct {
			ID  string `json:"id"`
			Key string `json:"key"`
		}
		if json.Unmarshal(rep.body, &created) == nil && created.ID != "" {
			w.jiraIssues.put(f.ID, created.ID)
		}
		rep.action, rep.ticket = ActionCreated, created.Key
		return rep, nil
	}
	w.jiraIssues.put(f.ID, issue.ID)

	current, sevLabels := issueSeverity(issue.Fields.Labels)
	if len(sevLabels) > 0 && current >= f.Severity {
		rep.action, rep.ticket = ActionUnchanged, issue.Key
		return rep, nil
	}
	comment, edit := JiraEscalation(f, current, sevLabels)
	issueURL := base + jiraIssuePath + "/" + url.PathEscape(issue.ID)
	for _, step := range []struct {
		method, url string
		body        any
	}{
		{http.MethodPost, issueURL + "/comment", comment},
		{http.MethodPut, issueURL, edit},
	} {
		b, err := json.Marshal(step.body)
		if err != nil {
			return reply{}, fmt.Errorf("encode jira request: %w", err)
		}
		rep, err = w.send(ctx, step.method, step.url, b, auth)
		if err != nil || !is2xx(rep.status) {
			return rep, err
		}
	}
	rep.action, rep.ticket = ActionCommented, issue.Key
	return rep, nil
}

// jiraIssue is an issue as the search returns it.
type jiraIssue struct {
	ID     string `json:"id"`
	Key    string `json:"key"`
	Fields struct {
		Labels []string `json:"labels"`
	} `json:"fields"`
}

// jiraFind searches for the issue labelled with the finding ID (POST
// /rest/api/3/search/jql), oldest first, asking Jira to reconcile the issue
// this process last saw for the finding (the search is otherwise only
// eventually consistent). It returns nil when there is none.
func (w *Webhook) jiraFind(ctx context.Context, base, findingID string, auth http.Header) (*jiraIssue, reply, error) {
	req := map[string]any{
		"jql":        fmt.Sprintf("labels = %s ORDER BY created ASC", jqlString(JiraFindingLabel(findingID))),
		"fields":     []string{"labels"},
		"maxResults": 5,
	}
	if id, ok := w.jiraIssues.get(findingID); ok {
		if n, err := strconv.ParseInt(id, 10, 64); err == nil {
			req["reconcileIssues"] = []int64{n}
		}
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, reply{}, fmt.Errorf("encode jira search: %w", err)
	}
	rep, err := w.send(ctx, http.MethodPost, base+jiraSearchPath, b, auth)
	if err != nil || !is2xx(rep.status) {
		return nil, rep, err
	}
	var res struct {
		Issues []jiraIssue `json:"issues"`
	}
	if err := json.Unmarshal(rep.body, &res); err != nil {
		return nil, rep, fmt.Errorf("jira search: unreadable answer (HTTP %d): %w", rep.status, err)
	}
	for i := range res.Issues {
		if res.Issues[i].ID != "" {
			return &res.Issues[i], rep, nil
		}
	}
	return nil, rep, nil
}

// issueSeverity returns the highest severity among an issue's labels, and
// every label that names a severity.
func issueSeverity(labels []string) (detectors.Severity, []string) {
	var highest detectors.Severity
	var found []string
	for _, l := range labels {
		for s := detectors.SeverityInfo; s <= detectors.SeverityCritical; s++ {
			if l == s.String() {
				found = append(found, l)
				if s > highest {
					highest = s
				}
			}
		}
	}
	return highest, found
}

// jqlString quotes s as a JQL string literal.
func jqlString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// basicAuth encodes the credentials of HTTP Basic authentication.
func basicAuth(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}

func is2xx(status int) bool { return status >= 200 && status < 300 }

// issueCache remembers, per finding ID, the Jira issue ID this process
// created or found last, so that the next search can ask Jira to
// reconcile it. It holds at most issueCacheMax entries and is safe for
// concurrent use.
type issueCache struct {
	mu sync.Mutex
	m  map[string]string
}

const issueCacheMax = 4096

func (c *issueCache) get(findingID string) (string, bool) {
	if c == nil {
		return "", false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.m[findingID]
	return id, ok
}

func (c *issueCache) put(findingID, issueID string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= issueCacheMax {
		c.m = make(map[string]string)
	}
	c.m[findingID] = issueID
}
