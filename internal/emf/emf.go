// Package emf writes CloudWatch Embedded Metric Format records: one JSON
// object per line on a writer (stdout in Lambda, where CloudWatch Logs
// extracts the metrics). Both functions write their metrics through it.
package emf

import (
	"encoding/json"
	"io"
	"sort"
	"sync"
	"time"
)

// Namespace is the CloudWatch namespace of Trailwatch metrics.
const Namespace = "Trailwatch"

// Units used by Trailwatch metrics.
const (
	Count        = "Count"
	Milliseconds = "Milliseconds"
	None         = "None"
)

// Metric is one value.
type Metric struct {
	Name  string
	Unit  string
	Value float64
}

// Writer writes EMF records. It is safe for concurrent use; a nil Writer
// or one without W discards everything.
type Writer struct {
	W io.Writer
	// Namespace defaults to Namespace.
	Namespace string
	// Now defaults to time.Now.
	Now func() time.Time

	mu sync.Mutex
}

// Put writes one record holding metrics that share the dimensions dims
// (name to value). With no dimensions the metrics are published without
// any, which is what an alarm on the bare metric name watches.
func (w *Writer) Put(dims map[string]string, ms ...Metric) error {
	if w == nil || w.W == nil || len(ms) == 0 {
		return nil
	}
	ns := w.Namespace
	if ns == "" {
		ns = Namespace
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	names := make([]string, 0, len(dims))
	rec := make(map[string]any, len(ms)+len(dims)+1)
	for k, v := range dims {
		names = append(names, k)
		rec[k] = v
	}
	sort.Strings(names)
	defs := make([]map[string]string, len(ms))
	for i, m := range ms {
		unit := m.Unit
		if unit == "" {
			unit = None
		}
		defs[i] = map[string]string{"Name": m.Name, "Unit": unit}
		rec[m.Name] = m.Value
	}
	rec["_aws"] = map[string]any{
		"Timestamp": now().UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  ns,
			"Dimensions": [][]string{names},
			"Metrics":    defs,
		}},
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	_, err = w.W.Write(append(b, '\n'))
	return err
}

// Count writes a counter with the given dimensions (nil for none).
func (w *Writer) Count(name string, n int, dims map[string]string) error {
	return w.Put(dims, Metric{Name: name, Unit: Count, Value: float64(n)})
}
