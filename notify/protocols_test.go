package notify

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/render"
)

// TestProtocolMessageFitsAndResolves: the per-protocol structure stays
// within the SNS budget however large the finding is, every body is
// present, and the default body (what SQS delivers) decodes to the
// finding, also through DecodeMessage.
func TestProtocolMessageFitsAndResolves(t *testing.T) {
	big := testFinding()
	for i := 0; i < 4000; i++ {
		big.EventIDs = append(big.EventIDs, strings.Repeat("e", 36))
		big.Reasons = append(big.Reasons, `a "quoted" reason with <html> & escapes `+strings.Repeat("é", 40))
	}
	big.Evidence = map[string]any{"blob": strings.Repeat(`"\`, 40000)}
	tests := []struct {
		name    string
		f       detectors.Finding
		trimmed bool
	}{
		{"small", testFinding(), false},
		{"big, escape-heavy", big, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, trimmed, err := ProtocolMessage(tt.f, MaxBodyBytes)
			if err != nil {
				t.Fatal(err)
			}
			if len(msg) > MaxBodyBytes {
				t.Errorf("message is %d bytes, over the %d budget", len(msg), MaxBodyBytes)
			}
			if trimmed != tt.trimmed {
				t.Errorf("trimmed = %v, want %v", trimmed, tt.trimmed)
			}
			var bodies map[string]string
			if err := json.Unmarshal([]byte(msg), &bodies); err != nil {
				t.Fatalf("not a structure of strings: %v", err)
			}
			for _, k := range []string{ProtocolDefault, ProtocolEmail, ProtocolHTTPS, ProtocolSMS} {
				if bodies[k] == "" {
					t.Errorf("no %s body", k)
				}
			}
			if !strings.HasPrefix(bodies[ProtocolEmail], strings.SplitN(render.FindingText(tt.f), "\n", 2)[0]) {
				t.Errorf("e-mail body does not start with the text head line: %.200s", bodies[ProtocolEmail])
			}
			if !json.Valid([]byte(bodies[ProtocolHTTPS])) {
				t.Error("chat body is not JSON")
			}
			for _, body := range []string{bodies[ProtocolDefault], msg} {
				f, err := DecodeMessage(body)
				if err != nil || f.ID != tt.f.ID || f.Severity != tt.f.Severity {
					t.Errorf("decode: %v (id %q)", err, f.ID)
				}
			}
		})
	}
}

func TestPublishInputIsPerProtocol(t *testing.T) {
	in, err := PublishInput("arn:aws:sns:us-east-1:123456789012:trailwatch-findings", testFinding(), false)
	if err != nil {
		t.Fatal(err)
	}
	if in.MessageStructure == nil || *in.MessageStructure != "json" {
		t.Fatalf("MessageStructure = %v, want json", in.MessageStructure)
	}
	var bodies map[string]string
	if err := json.Unmarshal([]byte(*in.Message), &bodies); err != nil || bodies[ProtocolDefault] == "" {
		t.Fatalf("message has no default body: %v", err)
	}
}
