package notify

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode"
)

// fakeJira is an in-memory Jira Cloud site speaking the REST API v3 calls
// the jira format makes: create issue, enhanced JQL search (POST
// /rest/api/3/search/jql, with reconcileIssues), add comment, edit issue.
// It checks Basic authentication and keeps issues, comments and every
// request line.
type fakeJira struct {
	t          *testing.T
	email      string
	token      string
	projectKey string

	// searchLag makes the search eventually consistent: an issue created or
	// edited is seen by the next searchLag searches as it was before,
	// unless the search names it in reconcileIssues.
	searchLag int
	// dropCreate, if set, decides for create n (from 1) to store the issue
	// and then fail the answer: "close" drops the connection, a number
	// answers that status.
	dropCreate func(n int) string

	mu       sync.Mutex
	issues   []*fakeIssue
	creates  int
	requests []string
}

type fakeIssue struct {
	id, key  string
	summary  string
	labels   []string
	comments []map[string]any
	// indexed is what the search sees while lag > 0.
	indexed *fakeIssue
	lag     int
}

func (j *fakeJira) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.requests = append(j.requests, r.Method+" "+r.URL.Path)
	if user, pass, ok := r.BasicAuth(); !ok || user != j.email || pass != j.token {
		jiraError(w, http.StatusUnauthorized, "Client must be authenticated to access this resource.")
		return
	}
	path := r.URL.Path
	switch {
	case r.Method == http.MethodPost && path == "/rest/api/3/search/jql":
		j.search(w, r)
	case r.Method == http.MethodPost && path == "/rest/api/3/issue":
		j.create(w, r)
	case r.Method == http.MethodPost && strings.HasPrefix(path, "/rest/api/3/issue/") && strings.HasSuffix(path, "/comment"):
		j.comment(w, r, strings.TrimSuffix(strings.TrimPrefix(path, "/rest/api/3/issue/"), "/comment"))
	case r.Method == http.MethodPut && strings.HasPrefix(path, "/rest/api/3/issue/"):
		j.edit(w, r, strings.TrimPrefix(path, "/rest/api/3/issue/"))
	default:
		jiraError(w, http.StatusNotFound, "no such resource: "+r.Method+" "+path)
	}
}

func jiraError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"errorMessages": []string{msg}, "errors": map[string]string{}})
}

func (j *fakeJira) find(idOrKey string) *fakeIssue {
	for _, is := range j.issues {
		if is.id == idOrKey || is.key == idOrKey {
			return is
		}
	}
	return nil
}

// snapshot records what the search index shows until the lag is used up.
func (j *fakeJira) snapshot(is *fakeIssue, before *fakeIssue) {
	if j.searchLag > 0 {
		is.indexed, is.lag = before, j.searchLag
	}
}

func (j *fakeJira) create(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Fields struct {
			Project     struct{ Key string }  `json:"project"`
			IssueType   struct{ Name string } `json:"issuetype"`
			Summary     string                `json:"summary"`
			Labels      []string              `json:"labels"`
			Description struct {
				Type    string `json:"type"`
				Version int    `json:"version"`
			} `json:"description"`
		} `json:"fields"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		jiraError(w, http.StatusBadRequest, "invalid JSON: "+err.Error())
		return
	}
	f := req.Fields
	switch {
	case f.Project.Key != j.projectKey:
		jiraError(w, http.StatusBadRequest, "project: valid project is required")
		return
	case f.IssueType.Name == "" || f.Summary == "" || len([]rune(f.Summary)) > 255:
		jiraError(w, http.StatusBadRequest, "issuetype and a summary of at most 255 characters are required")
		return
	case f.Description.Type != "doc" || f.Description.Version != 1:
		jiraError(w, http.StatusBadRequest, "description: Operation value must be an Atlassian Document")
		return
	}
	for _, l := range f.Labels {
		if l == "" || strings.ContainsFunc(l, unicode.IsSpace) || len([]rune(l)) > 255 {
			jiraError(w, http.StatusBadRequest, "labels: a label cannot contain spaces")
			return
		}
	}
	j.creates++
	n := len(j.issues) + 1
	is := &fakeIssue{id: strconv.Itoa(10000 + n), key: fmt.Sprintf("%s-%d", j.projectKey, n), summary: f.Summary, labels: f.Labels}
	j.issues = append(j.issues, is)
	j.snapshot(is, nil)
	if j.dropCreate != nil {
		switch d := j.dropCreate(j.creates); d {
		case "":
		case "close":
			hj, ok := w.(http.Hijacker)
			if !ok {
				j.t.Fatal("fake jira: cannot hijack the connection")
			}
			conn, _, err := hj.Hijack()
			if err == nil {
				conn.Close()
			}
			return
		default:
			status, _ := strconv.Atoi(d)
			jiraError(w, status, "upstream connect error")
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]string{"id": is.id, "key": is.key, "self": "https://" + r.Host + "/rest/api/3/issue/" + is.id})
}

func (j *fakeJira) search(w http.ResponseWriter, r *http.Request) {
	var req struct {
		JQL             string   `json:"jql"`
		Fields          []string `json:"fields"`
		MaxResults      int      `json:"maxResults"`
		ReconcileIssues []int64  `json:"reconcileIssues"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		jiraError(w, http.StatusBadRequest, "invalid JSON: "+err.Error())
		return
	}
	want, err := parseLabelJQL(req.JQL)
	if err != nil {
		jiraError(w, http.StatusBadRequest, err.Error())
		return
	}
	if len(req.ReconcileIssues) > 50 {
		jiraError(w, http.StatusBadRequest, "reconcileIssues: at most 50")
		return
	}
	reconcile := map[string]bool{}
	for _, id := range req.ReconcileIssues {
		reconcile[strconv.FormatInt(id, 10)] = true
	}
	out := []map[string]any{}
	for _, is := range j.issues { // in creation order: ORDER BY created ASC
		view := is
		if is.lag > 0 && !reconcile[is.id] {
			is.lag--
			view = is.indexed
		}
		if view == nil || !containsString(view.labels, want) {
			continue
		}
		if req.MaxResults > 0 && len(out) == req.MaxResults {
			break
		}
		fields := map[string]any{}
		for _, f := range req.Fields {
			switch f {
			case "labels":
				fields["labels"] = append([]string(nil), view.labels...)
			case "summary":
				fields["summary"] = view.summary
			}
		}
		out = append(out, map[string]any{"id": is.id, "key": is.key, "fields": fields})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"issues": out, "isLast": true})
}

func (j *fakeJira) comment(w http.ResponseWriter, r *http.Request, idOrKey string) {
	is := j.find(idOrKey)
	if is == nil {
		jiraError(w, http.StatusNotFound, "Issue does not exist or you do not have permission to see it.")
		return
	}
	var req struct {
		Body map[string]any `json:"body"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Body["type"] != "doc" {
		jiraError(w, http.StatusBadRequest, "Comment body must be an Atlassian Document")
		return
	}
	is.comments = append(is.comments, req.Body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]any{"id": strconv.Itoa(20000 + len(is.comments))})
}

func (j *fakeJira) edit(w http.ResponseWriter, r *http.Request, idOrKey string) {
	is := j.find(idOrKey)
	if is == nil {
		jiraError(w, http.StatusNotFound, "Issue does not exist or you do not have permission to see it.")
		return
	}
	var req struct {
		Fields struct {
			Summary *string `json:"summary"`
		} `json:"fields"`
		Update struct {
			Labels []map[string]string `json:"labels"`
		} `json:"update"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		jiraError(w, http.StatusBadRequest, "invalid JSON: "+err.Error())
		return
	}
	before := *is
	before.labels = append([]string(nil), is.labels...)
	if s := req.Fields.Summary; s != nil {
		if *s == "" || len([]rune(*s)) > 255 {
			jiraError(w, http.StatusBadRequest, "summary: at most 255 characters")
			return
		}
		is.summary = *s
	}
	for _, op := range req.Update.Labels {
		if l, ok := op["add"]; ok && !containsString(is.labels, l) {
			is.labels = append(is.labels, l)
		}
		if l, ok := op["remove"]; ok {
			is.labels = removeString(is.labels, l)
		}
	}
	j.snapshot(is, &before)
	w.WriteHeader(http.StatusNoContent)
}

// state returns copies of the issues.
func (j *fakeJira) state() []fakeIssue {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]fakeIssue, len(j.issues))
	for i, is := range j.issues {
		out[i] = *is
		out[i].labels = append([]string(nil), is.labels...)
		out[i].comments = append([]map[string]any(nil), is.comments...)
	}
	return out
}

func (j *fakeJira) requestLog() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]string(nil), j.requests...)
}

// parseLabelJQL reads the one query the jira format sends,
// `labels = "<label>" ORDER BY created ASC`, token by token (a JQL
// string literal with backslash escapes), and returns the label.
func parseLabelJQL(q string) (string, error) {
	toks, err := jqlTokens(q)
	if err != nil {
		return "", err
	}
	if len(toks) < 3 || toks[0].text != "labels" || toks[1].text != "=" || !toks[2].quoted {
		return "", fmt.Errorf("jql: want labels = \"...\", got %q", q)
	}
	rest := toks[3:]
	if len(rest) > 0 {
		if len(rest) != 4 || !strings.EqualFold(rest[0].text, "ORDER") || !strings.EqualFold(rest[1].text, "BY") ||
			rest[2].text != "created" || !strings.EqualFold(rest[3].text, "ASC") {
			return "", fmt.Errorf("jql: unexpected %q", q)
		}
	}
	return toks[2].text, nil
}

type jqlToken struct {
	text   string
	quoted bool
}

func jqlTokens(q string) ([]jqlToken, error) {
	var out []jqlToken
	rs := []rune(q)
	for i := 0; i < len(rs); {
		switch c := rs[i]; {
		case unicode.IsSpace(c):
			i++
		case c == '=':
			out = append(out, jqlToken{text: "="})
			i++
		case c == '"':
			var b strings.Builder
			i++
			for ; i < len(rs) && rs[i] != '"'; i++ {
				if rs[i] == '\\' {
					i++
					if i == len(rs) {
						return nil, fmt.Errorf("jql: dangling escape in %q", q)
					}
				}
				b.WriteRune(rs[i])
			}
			if i == len(rs) {
				return nil, fmt.Errorf("jql: unterminated string in %q", q)
			}
			i++
			out = append(out, jqlToken{text: b.String(), quoted: true})
		default:
			start := i
			for i < len(rs) && !unicode.IsSpace(rs[i]) && rs[i] != '=' && rs[i] != '"' {
				i++
			}
			out = append(out, jqlToken{text: string(rs[start:i])})
		}
	}
	return out, nil
}

func containsString(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func removeString(xs []string, s string) []string {
	out := xs[:0:0]
	for _, x := range xs {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}
