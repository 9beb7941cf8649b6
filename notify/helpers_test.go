package notify

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/detectors"
)

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func testFinding() detectors.Finding {
	return detectors.Finding{
		ID:             detectors.FindingID("first-seen|123456789012|alice@example.com|iam:CreateAccessKey"),
		Detector:       "first-seen",
		Severity:       detectors.SeverityHigh,
		Score:          0.97,
		Mode:           detectors.ModeAlert,
		Title:          "alice@example.com called iam:CreateAccessKey",
		Principal:      "123456789012/alice@example.com",
		PrincipalARN:   "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_abc/alice@example.com",
		AccountID:      "123456789012",
		Region:         "eu-west-1",
		EventIDs:       []string{"6f1d5a3e-0000-4000-8000-000000000001"},
		EventNames:     []string{"CreateAccessKey"},
		FirstEventTime: t0.Add(-time.Minute),
		LastEventTime:  t0.Add(-time.Minute),
		Count:          1,
		Reasons: []string{
			"alice@example.com has never called iam:CreateAccessKey in 90 days of history (412 distinct actions seen).",
			"IAM persistence: a new access key gives long-lived credentials.",
		},
		Evidence:  map[string]any{"p_unseen": 0.0021, "history_days": 90},
		DedupeKey: "first-seen|123456789012|alice@example.com|iam:CreateAccessKey",
	}
}

// sleepRecorder replaces real sleeping in tests.
type sleepRecorder struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (s *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.delays = append(s.delays, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleepRecorder) get() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.delays...)
}

func newTestWebhook(t *testing.T, cfg Webhook, rec *sleepRecorder) *Webhook {
	t.Helper()
	w, err := NewWebhook(cfg)
	if err != nil {
		t.Fatalf("NewWebhook: %v", err)
	}
	if rec != nil {
		w.sleep = rec.sleep
	}
	w.jit = func(n int64) int64 { return n } // deterministic: the full ceiling
	return w
}

func readFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
