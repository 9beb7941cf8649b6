package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/trailwatch/trailwatch/baselines"
	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/internal/lambdatest"
)

// selfProtectEvents: a principal writing the deployed thresholds
// parameter (positive), the CDK bootstrap's CloudFormation execution role
// writing it and the deployed key's policy (deployer), and a parameter
// named like it (look-alike).
const selfProtectEvents = "../../testdata/selfprotect/events.jsonl"

// selfProtectEnv is what the CDK app would pass as SELF_PROTECTION for the
// parameter and key of the fixture.
const selfProtectEnv = `{"resources":["key/1234abcd-12ab-34cd-56ef-1234567890ab","parameter/CFN-Thresholds8F7E6D5C-AbCdEfGh1234","table/trailwatch-selfprotect-e2e"]}`

func selfProtectBatch(t *testing.T, at time.Time) lambdaevents.SQSEvent {
	t.Helper()
	raw, err := os.ReadFile(selfProtectEvents)
	if err != nil {
		t.Fatal(err)
	}
	var ev lambdaevents.SQSEvent
	for i, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		line = bytes.Replace(line, []byte(`"2025-03-10T10:1`), []byte(`"`+at.Format("2006-01-02T15:0")), 1)
		ev.Records = append(ev.Records, lambdatest.SQSMessage(fmt.Sprintf("sp-%d", i), lambdatest.Envelope(line), "trailwatch-events"))
	}
	return ev
}

// checkSelfProtectFindings: exactly one finding, CRITICAL, by the
// self-protection rule, for the positive event.
func checkSelfProtectFindings(t *testing.T, fs []detectors.Finding) {
	t.Helper()
	if len(fs) != 1 {
		t.Fatalf("%d findings, want 1 (the parameter written by alice): %+v", len(fs), fs)
	}
	f := fs[0]
	sigs, _ := f.Evidence["signals"].([]any)
	if f.Severity != detectors.SeverityCritical || len(f.EventIDs) != 1 || f.EventIDs[0] != "5e1f0000-self-protect-positive" ||
		len(sigs) == 0 || sigs[0].(map[string]any)["rule"] != "trailwatch-self-protection" {
		t.Errorf("finding %s %v %q %v", f.Severity, f.EventIDs, f.Title, sigs)
	}
	if !strings.Contains(f.Title, "CFN-Thresholds8F7E6D5C-AbCdEfGh1234") {
		t.Errorf("title %q does not name the parameter", f.Title)
	}
}

// TestHandlerSelfProtection: with SELF_PROTECTION as the CDK app sets it,
// the handler raises CRITICAL for the thresholds parameter written by a
// principal other than the deployer, nothing for the deployer and the
// look-alike; without it, the parameter (named by CloudFormation, not
// after the stack) is not known to be Trailwatch's.
func TestHandlerSelfProtection(t *testing.T) {
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Hour)
	for _, tc := range []struct {
		name string
		env  string
		want int
	}{
		{"deployed environment", selfProtectEnv, 1},
		{"no SELF_PROTECTION", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := readEnv(func(k string) string {
				return map[string]string{"TABLE_NAME": "trailwatch-test", "TOPIC_ARN": "arn:aws:sns:us-east-1:111122223333:t", "SELF_PROTECTION": tc.env}[k]
			}).validate()
			if err != nil {
				t.Fatal(err)
			}
			pub := &fakePublisher{}
			h, _ := newTestHandler(baselines.NewMemory(), pub)
			h.configs = &configSource{protection: s.protection, ttl: time.Minute, now: time.Now, log: h.log, metrics: h.metrics}
			invoke(t, h, selfProtectBatch(t, at))
			if tc.want == 1 {
				checkSelfProtectFindings(t, pub.findings())
			} else if fs := pub.findings(); len(fs) != 0 {
				t.Errorf("%d findings, want none: %+v", len(fs), fs)
			}
		})
	}
}

// TestSelfProtectionEnv: SELF_PROTECTION is validated at start.
func TestSelfProtectionEnv(t *testing.T) {
	for _, tc := range []struct {
		value string
		ok    bool
	}{
		{selfProtectEnv, true},
		{"", true},
		{`{"resources":["database/x"]}`, false},
		{`{"resources":["queue/*"]}`, false},
		{`{"deployers":["*"]}`, false},
		{`{"resources":`, false},
		{`{"resources":["queue/a"],"extra":1}`, false},
	} {
		_, err := readEnv(func(k string) string {
			return map[string]string{"TABLE_NAME": "trailwatch-test", "TOPIC_ARN": "arn:aws:sns:us-east-1:111122223333:t", "SELF_PROTECTION": tc.value}[k]
		}).validate()
		if (err == nil) != tc.ok {
			t.Errorf("%q: error %v, want ok %t", tc.value, err, tc.ok)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "SELF_PROTECTION: ") {
			t.Errorf("%q: error %q does not name the variable", tc.value, err)
		}
	}
	var p detectors.Protection
	if err := json.Unmarshal([]byte(selfProtectEnv), &p); err != nil || len(p.Resources) != 3 {
		t.Fatalf("fixture: %v", err)
	}
}
