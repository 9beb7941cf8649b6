package notify

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/trailwatch/trailwatch/detectors"
)

// Field limits of the ticketing APIs.
const (
	jiraSummaryMax    = 255
	pagerDutySummary  = 1024
	jiraCodeBlockMax  = 32 << 10
	jiraReasonsMax    = 50
	jiraLabelMaxRunes = 255
)

// DeliveryKey identifies one delivery of a finding: the finding ID and its
// routed severity, "<id>:<SEVERITY>". A redelivery of the same finding at
// the same severity has the same key; an escalation has a new one. It is
// the generic format's Idempotency-Key and PagerDuty's dedup_key.
func DeliveryKey(f detectors.Finding) string {
	return f.ID + ":" + f.Severity.String()
}

// JiraFindingLabel is the label that marks the one Jira issue of a finding:
// "trailwatch-" followed by the finding ID. Deliveries find the issue by it.
func JiraFindingLabel(findingID string) string {
	return jiraLabel("trailwatch-" + findingID)
}

// JiraIssue renders the Jira Cloud REST API v3 create-issue request
// (POST /rest/api/3/issue) for a finding. The description is an Atlassian
// Document Format document: the title and context as paragraphs, the
// reasons as a bullet list, and the evidence and event IDs as a JSON code
// block. The labels are "trailwatch", the detector, the severity and
// JiraFindingLabel.
func JiraIssue(f detectors.Finding, projectKey, issueType string) map[string]any {
	if issueType == "" {
		issueType = DefaultJiraIssueType
	}
	labels := []string{"trailwatch"}
	for _, l := range []string{f.Detector, f.Severity.String(), JiraFindingLabel(f.ID)} {
		if l = jiraLabel(l); l != "" {
			labels = append(labels, l)
		}
	}
	return map[string]any{
		"fields": map[string]any{
			"project":     map[string]any{"key": projectKey},
			"issuetype":   map[string]any{"name": issueType},
			"summary":     jiraSummary(f),
			"description": adfDoc(jiraContent(f)),
			"labels":      labels,
		},
	}
}

// JiraEscalation renders the two requests that bring an existing issue to
// the finding's severity: the comment (POST /rest/api/3/issue/{key}/comment),
// saying from which severity it rose and holding the finding's current
// description, and the edit (PUT /rest/api/3/issue/{key}) that sets the
// summary and swaps the severity label (removing each of oldLabels).
func JiraEscalation(f detectors.Finding, from detectors.Severity, oldLabels []string) (comment, edit map[string]any) {
	head := adfParagraph(fmt.Sprintf("Trailwatch: severity rose from %s to %s.", from, f.Severity))
	comment = map[string]any{"body": adfDoc(append([]any{head}, jiraContent(f)...))}
	ops := make([]any, 0, len(oldLabels)+1)
	for _, l := range oldLabels {
		ops = append(ops, map[string]any{"remove": l})
	}
	ops = append(ops, map[string]any{"add": f.Severity.String()})
	edit = map[string]any{
		"fields": map[string]any{"summary": jiraSummary(f)},
		"update": map[string]any{"labels": ops},
	}
	return comment, edit
}

func jiraSummary(f detectors.Finding) string {
	return truncateRunes(oneLine(fmt.Sprintf("[%s] %s: %s", f.Severity, f.Detector, f.Title)), jiraSummaryMax)
}

func adfDoc(content []any) map[string]any {
	return map[string]any{"type": "doc", "version": 1, "content": content}
}

// jiraContent is the ADF body of a finding: title, context, reasons,
// evidence.
func jiraContent(f detectors.Finding) []any {
	content := []any{
		adfParagraph(f.Title),
		adfParagraph(fmt.Sprintf("Severity %s, score %.2f, detector %s. Principal %s in account %s, region %s. %d event(s) from %s to %s.",
			f.Severity, f.Score, f.Detector, f.Principal, f.AccountID, f.Region, f.Count,
			f.FirstEventTime.UTC().Format(time.RFC3339), f.LastEventTime.UTC().Format(time.RFC3339))),
	}
	if len(f.Reasons) > 0 {
		items := make([]any, 0, min(len(f.Reasons), jiraReasonsMax))
		for i, r := range f.Reasons {
			if i == jiraReasonsMax {
				break
			}
			items = append(items, map[string]any{"type": "listItem", "content": []any{adfParagraph(r)}})
		}
		content = append(content, adfParagraph("Why this is unusual:"), map[string]any{"type": "bulletList", "content": items})
	}
	if len(f.NextSteps) > 0 {
		items := make([]any, 0, len(f.NextSteps))
		for _, s := range f.NextSteps {
			items = append(items, map[string]any{"type": "listItem", "content": []any{adfParagraph(s)}})
		}
		content = append(content, adfParagraph("What to check first:"), map[string]any{"type": "bulletList", "content": items})
	}
	if f.ConsoleURL != "" {
		content = append(content, adfParagraph("The first event in the CloudTrail console: "+f.ConsoleURL))
	}
	details := map[string]any{
		"finding_id":  f.ID,
		"event_ids":   f.EventIDs,
		"event_names": f.EventNames,
		"evidence":    f.Evidence,
	}
	if f.PrincipalARN != "" {
		details["principal_arn"] = f.PrincipalARN
	}
	code, _ := json.MarshalIndent(details, "", "  ")
	return append(content, adfParagraph("Evidence and CloudTrail event IDs:"), map[string]any{
		"type":    "codeBlock",
		"attrs":   map[string]any{"language": "json"},
		"content": []any{map[string]any{"type": "text", "text": truncateRunes(string(code), jiraCodeBlockMax)}},
	})
}

func adfParagraph(text string) map[string]any {
	if text == "" {
		return map[string]any{"type": "paragraph", "content": []any{}}
	}
	return map[string]any{"type": "paragraph", "content": []any{map[string]any{"type": "text", "text": text}}}
}

// jiraLabel makes a valid Jira label: no spaces, bounded length.
func jiraLabel(s string) string {
	s = strings.Join(strings.Fields(s), "-")
	return truncateRunes(s, jiraLabelMaxRunes)
}

// PagerDutySeverity maps a finding severity to the Events API v2 severity.
func PagerDutySeverity(s detectors.Severity) string {
	switch {
	case s >= detectors.SeverityCritical:
		return "critical"
	case s == detectors.SeverityHigh:
		return "error"
	case s == detectors.SeverityMedium:
		return "warning"
	}
	return "info"
}

// PagerDutyEvent renders the PagerDuty Events API v2 trigger event
// (POST https://events.pagerduty.com/v2/enqueue) for a finding. The dedup
// key is DeliveryKey: a redelivery at the same severity is deduplicated
// into the open alert, while an escalation (a new key) opens a new alert
// at the higher payload severity and so pages. custom_details is the
// finding, whose "id" ties the alerts of one finding together.
func PagerDutyEvent(f detectors.Finding, routingKey string) map[string]any {
	ts := f.LastEventTime
	if ts.IsZero() {
		ts = f.FirstEventTime
	}
	source := strings.Trim(f.AccountID+"/"+f.Region, "/")
	if source == "" {
		source = "trailwatch"
	}
	payload := map[string]any{
		"summary":        truncateRunes(oneLine(fmt.Sprintf("[%s] %s: %s", f.Severity, f.Detector, f.Title)), pagerDutySummary),
		"source":         source,
		"severity":       PagerDutySeverity(f.Severity),
		"component":      f.Detector,
		"group":          f.AccountID,
		"class":          f.Detector,
		"custom_details": f,
	}
	if !ts.IsZero() {
		payload["timestamp"] = ts.UTC().Format(time.RFC3339)
	}
	ev := map[string]any{
		"routing_key":  routingKey,
		"event_action": "trigger",
		"dedup_key":    DeliveryKey(f),
		"payload":      payload,
	}
	if f.ConsoleURL != "" {
		ev["links"] = []any{map[string]any{"href": f.ConsoleURL, "text": "First event in the CloudTrail console"}}
	}
	return ev
}

// oneLine replaces control characters (newlines included) with spaces and
// collapses runs of white space.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return r == ' ' || r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029'
	}), " ")
}

// truncateRunes cuts s to at most n runes, ending in "..." when cut.
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 3 {
		return strings.Repeat(".", n)
	}
	i, count := 0, 0
	for j := range s {
		if count == n-3 {
			i = j
			break
		}
		count++
	}
	return strings.TrimRight(s[:i], " ") + "..."
}
