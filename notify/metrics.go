package notify

import (
	"io"
	"sync"
	"time"

	"github.com/trailwatch/trailwatch/internal/emf"
)

// MetricsNamespace is the CloudWatch namespace of Trailwatch metrics.
const MetricsNamespace = emf.Namespace

// Metrics writes the notify function's CloudWatch Embedded Metric Format
// records, one JSON line each, to W (stdout in Lambda, where CloudWatch Logs
// extracts them). It is safe for concurrent use.
type Metrics struct {
	W   io.Writer
	now func() time.Time
	mu  sync.Mutex
}

// Webhook records one delivery: WebhookLatency (Milliseconds),
// WebhookAttempts and WebhookFailures (Count), dimension Format.
func (m *Metrics) Webhook(format Format, r Result, failed bool) error {
	failures := 0.0
	if failed {
		failures = 1
	}
	return m.put(map[string]string{"Format": string(format)},
		emf.Metric{Name: "WebhookLatency", Unit: emf.Milliseconds, Value: float64(r.Latency.Microseconds()) / 1000},
		emf.Metric{Name: "WebhookAttempts", Unit: emf.Count, Value: float64(r.Attempts)},
		emf.Metric{Name: "WebhookFailures", Unit: emf.Count, Value: failures},
	)
}

// Count records a plain counter with no dimensions, for example
// UndecodableMessages.
func (m *Metrics) Count(name string, n int) error {
	return m.put(nil, emf.Metric{Name: name, Unit: emf.Count, Value: float64(n)})
}

func (m *Metrics) put(dims map[string]string, ms ...emf.Metric) error {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	w := emf.Writer{W: m.W, Now: m.now}
	return w.Put(dims, ms...)
}
