package render

import (
	"fmt"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/detectors"
)

// Bounds of the chat notification. They are kept well inside what chat
// clients display; the full finding stays in the JSON and the e-mail.
const (
	chatTitleMax       = 250
	chatDescriptionMax = 4000
	chatReasonsMax     = 10
)

// ChatNotification is an AWS Chatbot (Amazon Q Developer in chat
// applications) custom notification: {"version": "1.0", "source":
// "custom", "content": {...}, "metadata": {...}}.
type ChatNotification struct {
	Version  string       `json:"version"`
	Source   string       `json:"source"`
	ID       string       `json:"id,omitempty"`
	Content  ChatContent  `json:"content"`
	Metadata ChatMetadata `json:"metadata"`
}

// ChatContent is what the chat message shows.
type ChatContent struct {
	TextType    string   `json:"textType"`
	Title       string   `json:"title"`
	Description string   `json:"description"`
	NextSteps   []string `json:"nextSteps,omitempty"`
	Keywords    []string `json:"keywords,omitempty"`
}

// ChatMetadata groups the notifications of one finding into a thread.
type ChatMetadata struct {
	ThreadID  string `json:"threadId,omitempty"`
	Summary   string `json:"summary,omitempty"`
	EventType string `json:"eventType,omitempty"`
}

// Chat renders a finding as a chat custom notification: the severity and
// title, the principal and where, the reasons as a list (at most ten), what
// to check next, and keywords (severity, detector, account, region). The
// finding ID is the thread, so an escalation lands under the first
// message.
func Chat(f detectors.Finding) ChatNotification {
	var d strings.Builder
	fmt.Fprintf(&d, "*%s* (`%s`) in account %s, %s: %d event(s) from %s to %s, score %.2f.\n",
		DisplayPrincipal(f), f.Principal, f.AccountID, f.Region, f.Count,
		f.FirstEventTime.UTC().Format(time.RFC3339), f.LastEventTime.UTC().Format(time.RFC3339), f.Score)
	for i, r := range f.Reasons {
		if i == chatReasonsMax {
			fmt.Fprintf(&d, "• and %d more\n", len(f.Reasons)-i)
			break
		}
		fmt.Fprintf(&d, "• %s\n", r)
	}
	fmt.Fprintf(&d, "Finding `%s`", f.ID)
	var kw []string
	for _, k := range []string{f.Severity.String(), f.Detector, f.AccountID, f.Region} {
		if k != "" {
			kw = append(kw, k)
		}
	}
	return ChatNotification{
		Version: "1.0",
		Source:  "custom",
		ID:      f.ID,
		Content: ChatContent{
			TextType:    "client-markdown",
			Title:       truncate(fmt.Sprintf("[%s] %s", f.Severity, oneLine(f.Title)), chatTitleMax),
			Description: truncate(d.String(), chatDescriptionMax),
			NextSteps:   NextSteps(f),
			Keywords:    kw,
		},
		Metadata: ChatMetadata{ThreadID: f.ID, Summary: truncate(oneLine(f.Title), chatTitleMax), EventType: f.Detector},
	}
}

// NextSteps is what on-call should check first for a finding: its own
// runbook (Finding.NextSteps), or generic steps for a finding without one.
func NextSteps(f detectors.Finding) []string {
	if len(f.NextSteps) > 0 {
		return f.NextSteps
	}
	who := f.PrincipalARN
	if who == "" {
		who = f.Principal
	}
	steps := []string{
		fmt.Sprintf("Ask whether %s made these calls on purpose.", DisplayPrincipal(f)),
		fmt.Sprintf("Review the CloudTrail events by ID in account %s, region %s.", f.AccountID, f.Region),
	}
	if f.Severity >= detectors.SeverityHigh {
		steps = append(steps, fmt.Sprintf("If not expected, revoke the sessions and keys of %s.", who))
	}
	return steps
}

// DisplayPrincipal is the readable name of the finding's principal.
func DisplayPrincipal(f detectors.Finding) string {
	return detectors.DisplayName(f.Principal)
}
