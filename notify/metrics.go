package notify

import (
	"encoding/json"
	"io"
	"sync"
	"time"
)

// MetricsNamespace is the CloudWatch namespace of Trailwatch metrics.
const MetricsNamespace = "Trailwatch"

// Metrics writes CloudWatch Embedded Metric Format records, one JSON line
// each, to W (stdout in Lambda, where CloudWatch Logs extracts them). It is
// safe for concurrent use.
type Metrics struct {
	W   io.Writer
	now func() time.Time
	mu  sync.Mutex
}

// Webhook records one delivery: WebhookLatency (Milliseconds),
// WebhookAttempts and WebhookFailures (Count), dimension Format.
func (m *Metrics) Webhook(format Format, r Result, failed bool) error {
	failures := 0
	if failed {
		failures = 1
	}
	return m.put([][]string{{"Format"}}, map[string]any{"Format": string(format)},
		metric{"WebhookLatency", "Milliseconds", float64(r.Latency.Microseconds()) / 1000},
		metric{"WebhookAttempts", "Count", r.Attempts},
		metric{"WebhookFailures", "Count", failures},
	)
}

// Count records a plain counter with no dimensions, for example
// UndecodableMessages.
func (m *Metrics) Count(name string, n int) error {
	return m.put([][]string{{}}, nil, metric{name, "Count", n})
}

type metric struct {
	name  string
	unit  string
	value any
}

func (m *Metrics) put(dims [][]string, dimValues map[string]any, ms ...metric) error {
	if m == nil || m.W == nil {
		return nil
	}
	now := time.Now
	if m.now != nil {
		now = m.now
	}
	defs := make([]map[string]string, len(ms))
	rec := make(map[string]any, len(ms)+len(dimValues)+1)
	for k, v := range dimValues {
		rec[k] = v
	}
	for i, x := range ms {
		defs[i] = map[string]string{"Name": x.name, "Unit": x.unit}
		rec[x.name] = x.value
	}
	rec["_aws"] = map[string]any{
		"Timestamp": now().UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  MetricsNamespace,
			"Dimensions": dims,
			"Metrics":    defs,
		}},
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, err = m.W.Write(append(b, '\n'))
	return err
}
