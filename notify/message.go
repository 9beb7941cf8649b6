package notify

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/trailwatch/trailwatch/detectors"
)

// SNSEnvelope is the JSON document SNS delivers to an SQS queue (without
// raw message delivery): the published message is in Message, as a string.
type SNSEnvelope struct {
	Type              string                         `json:"Type"`
	MessageID         string                         `json:"MessageId"`
	TopicARN          string                         `json:"TopicArn"`
	Subject           string                         `json:"Subject,omitempty"`
	Message           string                         `json:"Message"`
	Timestamp         string                         `json:"Timestamp"`
	SignatureVersion  string                         `json:"SignatureVersion,omitempty"`
	Signature         string                         `json:"Signature,omitempty"`
	SigningCertURL    string                         `json:"SigningCertURL,omitempty"`
	UnsubscribeURL    string                         `json:"UnsubscribeURL,omitempty"`
	MessageAttributes map[string]SNSMessageAttribute `json:"MessageAttributes,omitempty"`
}

// SNSMessageAttribute is one message attribute inside an SNSEnvelope.
type SNSMessageAttribute struct {
	Type  string `json:"Type"`
	Value string `json:"Value"`
}

// ErrUndecodable marks a message body that holds no finding.
var ErrUndecodable = errors.New("undecodable message")

// DecodeMessage extracts the finding from an SQS message body: an SNS
// notification envelope whose Message is the finding JSON, or the bare
// finding JSON (raw message delivery). SNS resolves a per-protocol message
// (ProtocolMessage) before delivery; should the structure itself arrive
// (goaws posts it unresolved to HTTP subscriptions), its default body is
// used. Errors wrap ErrUndecodable.
func DecodeMessage(body string) (detectors.Finding, error) {
	var probe struct {
		Type     string           `json:"Type"`
		TopicARN string           `json:"TopicArn"`
		Message  *json.RawMessage `json:"Message"`
	}
	raw := []byte(body)
	if err := json.Unmarshal(raw, &probe); err != nil {
		return detectors.Finding{}, fmt.Errorf("%w: not a JSON object: %v", ErrUndecodable, err)
	}
	if probe.Message != nil && (probe.Type != "" || probe.TopicARN != "") {
		var env SNSEnvelope
		if err := json.Unmarshal(raw, &env); err != nil {
			return detectors.Finding{}, fmt.Errorf("%w: SNS envelope: %v", ErrUndecodable, err)
		}
		if env.Type != "" && env.Type != "Notification" {
			return detectors.Finding{}, fmt.Errorf("%w: SNS message of type %q", ErrUndecodable, env.Type)
		}
		raw = []byte(env.Message)
	}
	raw = defaultBody(raw)
	var f detectors.Finding
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&f); err != nil {
		return detectors.Finding{}, fmt.Errorf("%w: finding JSON: %v", ErrUndecodable, err)
	}
	if f.ID == "" {
		return detectors.Finding{}, fmt.Errorf("%w: finding has no id", ErrUndecodable)
	}
	return f, nil
}

// defaultBody returns the "default" body of a per-protocol message
// structure, or raw unchanged when it is not one (a finding has an "id").
func defaultBody(raw []byte) []byte {
	var probe struct {
		ID      string  `json:"id"`
		Default *string `json:"default"`
	}
	if json.Unmarshal(raw, &probe) != nil || probe.ID != "" || probe.Default == nil {
		return raw
	}
	return []byte(*probe.Default)
}
