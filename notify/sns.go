package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/trailwatch/trailwatch/detectors"
)

// SNS limits.
const (
	// SNSMaxMessageBytes is the SNS limit for a message, body and
	// attributes together.
	SNSMaxMessageBytes = 256 * 1024
	// SNSMaxSubject is the SNS limit for a subject, in characters.
	SNSMaxSubject = 100
	// MaxBodyBytes is the budget for the finding JSON: the SNS limit minus
	// room for the subject and the (bounded) message attributes.
	MaxBodyBytes = SNSMaxMessageBytes - 4*1024

	maxAttributeValue = 256
)

// Message attribute names set on every publication, for subscription
// filter policies.
const (
	AttrSeverity  = "severity"
	AttrDetector  = "detector"
	AttrAccountID = "account_id"
	AttrMode      = "mode"
	// AttrTicket is "true" when the finding meets the live config's ticket
	// minimum (detectors.Routing.Ticket); the notify subscription's filter
	// policy delivers only those to the ticketing webhook.
	AttrTicket = "ticket"
)

// SNSPublishAPI is the one SNS method SNSPublisher calls.
type SNSPublishAPI interface {
	Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// SNSPublisher publishes findings to an SNS topic.
type SNSPublisher struct {
	Client   SNSPublishAPI
	TopicARN string
}

// Publish sends a delivered update's finding as a per-protocol message
// (ProtocolMessage: the finding JSON by default, readable text to e-mail,
// a chat notification to https, the subject to SMS; within the SNS limit),
// with a readable Subject and the String message attributes severity,
// detector, account_id, mode and ticket. It implements
// detectors.Publisher.
func (p *SNSPublisher) Publish(ctx context.Context, u detectors.Update) error {
	f := u.Finding
	in, err := PublishInput(p.TopicARN, f, u.Ticket)
	if err != nil {
		return err
	}
	if _, err := p.Client.Publish(ctx, in); err != nil {
		return fmt.Errorf("publish finding %s: %w", f.ID, err)
	}
	return nil
}

// PublishInput builds the SNS Publish request for a finding
// (MessageStructure "json", see ProtocolMessage); ticket sets the ticket
// attribute.
func PublishInput(topicARN string, f detectors.Finding, ticket bool) (*sns.PublishInput, error) {
	if topicARN == "" {
		return nil, errors.New("publish: no topic ARN")
	}
	msg, _, err := ProtocolMessage(f, MaxBodyBytes)
	if err != nil {
		return nil, err
	}
	subject := Subject(f)
	return &sns.PublishInput{
		TopicArn:          &topicARN,
		Message:           &msg,
		MessageStructure:  ptr("json"),
		Subject:           &subject,
		MessageAttributes: MessageAttributes(f, ticket),
	}, nil
}

// MessageAttributes returns the String attributes subscriptions filter
// on. SNS rejects empty values, so empty fields are left out.
func MessageAttributes(f detectors.Finding, ticket bool) map[string]snstypes.MessageAttributeValue {
	attrs := make(map[string]snstypes.MessageAttributeValue, 5)
	put := func(name, v string) {
		if v = truncateRunes(strings.TrimSpace(v), maxAttributeValue); v == "" {
			return
		}
		attrs[name] = snstypes.MessageAttributeValue{DataType: ptr("String"), StringValue: ptr(v)}
	}
	put(AttrSeverity, f.Severity.String())
	put(AttrDetector, f.Detector)
	put(AttrAccountID, f.AccountID)
	put(AttrMode, string(f.Mode))
	put(AttrTicket, strconv.FormatBool(ticket))
	return attrs
}

func ptr[T any](v T) *T { return &v }

// Subject builds the SNS subject: "[SEVERITY] detector: title", at most 100
// characters of printable ASCII with no line breaks (SNS rejects anything
// else); other characters become "?", and a long subject ends in "...".
func Subject(f detectors.Finding) string {
	title := f.Title
	if strings.TrimSpace(title) == "" {
		title = "finding " + f.ID
	}
	s := fmt.Sprintf("[%s] %s: %s", f.Severity, f.Detector, title)
	if f.Detector == "" {
		s = fmt.Sprintf("[%s] %s", f.Severity, title)
	}
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case r == ' ' || r < 0x20 || r == 0x7f || r == '\u00a0' || r == '\u2028' || r == '\u2029':
			space = true
			continue
		case r > 0x7e:
			r = '?'
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	out := b.String()
	if len(out) > SNSMaxSubject {
		out = strings.TrimRight(out[:SNSMaxSubject-3], " ") + "..."
	}
	return out
}

// EncodeFinding marshals the finding to JSON of at most limit bytes. If the
// full finding is larger, it trims the bounded parts progressively — event
// IDs and names, reasons (count, then length), evidence entries (largest
// first), finally over-long text fields — and sets "truncated": true in the
// evidence. The output is always complete, valid JSON: bytes are never cut.
// trimmed reports whether anything was dropped. The caller's finding is not
// modified.
func EncodeFinding(f detectors.Finding, limit int) (body []byte, trimmed bool, err error) {
	body, err = json.Marshal(f)
	if err != nil || len(body) <= limit {
		return body, false, err
	}

	g := f
	g.Evidence = make(map[string]any, len(f.Evidence)+1)
	for k, v := range f.Evidence {
		g.Evidence[k] = v
	}
	g.Evidence["truncated"] = true
	g.EventIDs = capList(f.EventIDs, 1024)
	g.EventNames = capList(f.EventNames, 1024)
	g.Reasons = capList(f.Reasons, 256)
	reasonLen := 4096
	g.Reasons = truncateAll(g.Reasons, reasonLen)

	fits := func() bool {
		body, err = json.Marshal(g)
		return err == nil && len(body) <= limit
	}
	if fits() {
		return body, true, nil
	}
	// Halve the lists and shorten the reasons until the body fits or the
	// lists are down to a handful of entries.
	for len(g.EventIDs) > 4 || len(g.EventNames) > 4 || len(g.Reasons) > 4 || reasonLen > 256 {
		g.EventIDs = capList(g.EventIDs, max(4, len(g.EventIDs)/2))
		g.EventNames = capList(g.EventNames, max(4, len(g.EventNames)/2))
		g.Reasons = capList(g.Reasons, max(4, len(g.Reasons)/2))
		reasonLen = max(256, reasonLen/2)
		g.Reasons = truncateAll(g.Reasons, reasonLen)
		if fits() {
			return body, true, nil
		}
	}
	// Drop evidence entries, largest first.
	for _, k := range evidenceBySize(g.Evidence) {
		if k == "truncated" {
			continue
		}
		delete(g.Evidence, k)
		if fits() {
			return body, true, nil
		}
	}
	// Last resort: shorten every free-text field.
	g.Title = truncateRunes(g.Title, 1024)
	g.Principal = truncateRunes(g.Principal, 1024)
	g.PrincipalARN = truncateRunes(g.PrincipalARN, 2048)
	g.DedupeKey = truncateRunes(g.DedupeKey, 1024)
	g.Suppressed = truncateRunes(g.Suppressed, 1024)
	g.Detector = truncateRunes(g.Detector, 256)
	g.Region = truncateRunes(g.Region, 64)
	g.AccountID = truncateRunes(g.AccountID, 64)
	g.EventIDs = truncateAll(capList(g.EventIDs, 4), 256)
	g.EventNames = truncateAll(capList(g.EventNames, 4), 256)
	if fits() {
		return body, true, nil
	}
	if err != nil {
		return nil, true, err
	}
	return nil, true, fmt.Errorf("finding %s does not fit in %d bytes even trimmed (%d)", truncateRunes(f.ID, 64), limit, len(body))
}

func capList(l []string, n int) []string {
	if len(l) <= n {
		return l
	}
	return l[:n:n]
}

func truncateAll(l []string, n int) []string {
	out := l
	for i, s := range l {
		if t := truncateRunes(s, n); t != s {
			if &out[0] == &l[0] {
				out = append([]string(nil), l...)
			}
			out[i] = t
		}
	}
	return out
}

// evidenceBySize returns the evidence keys, largest encoded value first.
func evidenceBySize(ev map[string]any) []string {
	type kv struct {
		k string
		n int
	}
	list := make([]kv, 0, len(ev))
	for k, v := range ev {
		b, err := json.Marshal(v)
		n := len(b)
		if err != nil {
			n = 1 << 30
		}
		list = append(list, kv{k, n + len(k)})
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].n != list[j].n {
			return list[i].n > list[j].n
		}
		return list[i].k < list[j].k
	})
	keys := make([]string, len(list))
	for i, e := range list {
		keys[i] = e.k
	}
	return keys
}
