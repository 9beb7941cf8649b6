package notify

import (
	"encoding/json"
	"fmt"

	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/render"
)

// Keys of the per-protocol message structure (SNS Publish with
// MessageStructure "json"). SNS delivers to each subscription the body of
// its protocol, or "default" when the structure has no key for it.
const (
	// ProtocolDefault is the finding JSON: what SQS, Lambda, HTTP and
	// email-json subscriptions receive (and functions/notify decodes).
	ProtocolDefault = "default"
	// ProtocolEmail is the readable text (render.FindingText), the same
	// rendering as `trailwatch replay --format text`.
	ProtocolEmail = "email"
	// ProtocolHTTPS is the AWS Chatbot custom notification (render.Chat):
	// Chatbot subscribes to a topic over https.
	ProtocolHTTPS = "https"
	// ProtocolSMS is the subject line.
	ProtocolSMS = "sms"
)

// maxEmailBytes and maxChatBytes bound the e-mail and chat bodies so that
// the finding JSON keeps most of the 256 KB message.
const (
	maxEmailBytes = 64 << 10
	maxChatBytes  = 16 << 10
)

// ProtocolMessage builds the per-protocol message for a finding: a JSON
// object of strings keyed default, email, https and sms, of at most limit
// bytes in all (SNS counts the whole structure against its limit). The
// e-mail and chat bodies are bounded first; the finding JSON gets the rest
// and is trimmed by EncodeFinding if it must be. trimmed reports whether
// the finding JSON was trimmed.
func ProtocolMessage(f detectors.Finding, limit int) (msg string, trimmed bool, err error) {
	email := clipBytes(render.FindingText(f), maxEmailBytes)
	chat, err := json.Marshal(render.Chat(f))
	if err != nil {
		return "", false, fmt.Errorf("chat notification: %w", err)
	}
	if len(chat) > maxChatBytes {
		c := render.Chat(f)
		c.Content.Description = clipBytes(c.Content.Description, maxChatBytes/2)
		c.Content.NextSteps = nil
		if chat, err = json.Marshal(c); err != nil {
			return "", false, fmt.Errorf("chat notification: %w", err)
		}
	}
	parts := map[string]string{ProtocolEmail: email, ProtocolHTTPS: string(chat), ProtocolSMS: Subject(f)}
	base, err := json.Marshal(parts)
	if err != nil {
		return "", false, err
	}
	// The finding JSON is embedded as a string: escaping can grow it, so
	// shrink its budget by what the structure overshoots until it fits.
	budget := limit - len(base) - len(`,"default":""`)
	for range 8 {
		if budget <= 0 {
			break
		}
		body, tr, err := EncodeFinding(f, budget)
		if err != nil {
			return "", tr, fmt.Errorf("encode finding %s: %w", f.ID, err)
		}
		parts[ProtocolDefault] = string(body)
		out, err := json.Marshal(parts)
		if err != nil {
			return "", tr, err
		}
		if len(out) <= limit {
			return string(out), tr, nil
		}
		budget -= len(out) - limit
	}
	return "", true, fmt.Errorf("finding %s does not fit a %d-byte per-protocol message", truncateRunes(f.ID, 64), limit)
}

// clipBytes cuts s to at most n bytes on a rune boundary, ending in "...".
func clipBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - 3
	for cut > 0 && cut < len(s) && s[cut]&0xc0 == 0x80 {
		cut--
	}
	return s[:cut] + "..."
}
