package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/events"
	"github.com/trailwatch/trailwatch/internal/emf"
)

// publisher sends a finding to the alert topic (notify.SNSPublisher).
type publisher interface {
	Publish(ctx context.Context, f detectors.Finding) error
}

// capacityCounter is implemented by stores that count DynamoDB capacity
// (baselines.DynamoDB).
type capacityCounter interface {
	ConsumedCapacity() (read, write float64)
}

// configGetter hands out the current detection config.
type configGetter interface {
	Get(ctx context.Context) (*detectors.Config, error)
}

// handler runs detection over SQS batches of CloudTrail events.
type handler struct {
	store     detectors.Store
	publisher publisher
	configs   configGetter
	ranges    *events.IPRanges
	log       *slog.Logger
	metrics   *emf.Writer
}

// Handle processes one SQS batch; see the package doc for what is retried.
func (h *handler) Handle(ctx context.Context, ev lambdaevents.SQSEvent) (lambdaevents.SQSEventResponse, error) {
	var resp lambdaevents.SQSEventResponse
	start := time.Now()
	log := h.log
	engLog := h.log
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		// The engine logs without a context: give it the request ID.
		engLog = engLog.With("requestId", lc.AwsRequestID)
	}
	cfg, err := h.configs.Get(ctx)
	if err != nil {
		return resp, err
	}
	norm := &events.Normalizer{Ranges: h.ranges, Keying: cfg.Keying}

	skipped := map[events.SkipReason]int{}
	msgsOf := map[string][]string{} // event ID -> message IDs carrying it
	var evs []events.Event
	for _, m := range ev.Records {
		var recs []*events.Record
		var skips []string
		dec := events.Decoder{
			Record: func(r *events.Record) { recs = append(recs, r) },
			Skip: func(reason events.SkipReason, detail string) {
				skipped[reason]++
				skips = append(skips, string(reason))
				log.WarnContext(ctx, "message skipped: not decodable, it will not be retried",
					"message_id", m.MessageId, "reason", reason, "detail", detail, "body_bytes", len(m.Body))
			},
		}
		if err := dec.Decode(strings.NewReader(m.Body)); err != nil {
			// Reading a string cannot fail; count it like a skip if it does.
			skipped[events.SkipUnreadable]++
			log.WarnContext(ctx, "message skipped", "message_id", m.MessageId, "reason", events.SkipUnreadable, "error", err)
			continue
		}
		if len(recs) == 0 && len(skips) == 0 {
			skipped[events.SkipNotRecord]++
			log.WarnContext(ctx, "message skipped: no record in it", "message_id", m.MessageId, "reason", events.SkipNotRecord)
		}
		for _, r := range recs {
			e, err := norm.NormalizeSelected(r)
			var se *events.SkipError
			switch {
			case errors.As(err, &se):
				skipped[se.Reason]++
				if se.Reason != events.SkipNotSelected {
					log.WarnContext(ctx, "record skipped, it will not be retried",
						"message_id", m.MessageId, "event_id", r.EventID, "reason", se.Reason, "detail", se.Detail)
				}
				// Not selected: not what the production rule forwards
				// (read-only and not denied): counted and dropped, as
				// replay does.
				continue
			case err != nil:
				skipped[events.SkipMalformed]++
				log.WarnContext(ctx, "record skipped", "message_id", m.MessageId, "event_id", r.EventID, "error", err)
				continue
			}
			msgsOf[e.ID] = append(msgsOf[e.ID], m.MessageId)
			evs = append(evs, e)
		}
	}

	var read0, write0 float64
	cc, hasCapacity := h.store.(capacityCounter)
	if hasCapacity {
		read0, write0 = cc.ConsumedCapacity()
	}
	ps := newPublishingStore(h.store, h.publisher)
	eng := detectors.NewEngine(cfg, ps, engLog)
	res, err := eng.Process(ctx, evs)
	if err != nil {
		// The store is unreachable: the whole batch comes back.
		return resp, fmt.Errorf("process batch of %d events: %w", len(evs), err)
	}

	failed := map[string]bool{}
	for _, id := range res.Failed {
		for _, mid := range msgsOf[id] {
			failed[mid] = true
		}
	}
	for _, pf := range ps.failures {
		log.WarnContext(ctx, "finding not published, its messages return to the queue",
			"finding_id", pf.finding.ID, "detector", pf.finding.Detector, "severity", pf.finding.Severity.String(), "error", pf.err)
	}
	ids := make([]string, 0, len(failed))
	for id := range failed {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		resp.BatchItemFailures = append(resp.BatchItemFailures, lambdaevents.SQSBatchItemFailure{ItemIdentifier: id})
	}
	for _, p := range ps.published {
		log.InfoContext(ctx, "finding published", "finding_id", p.ID, "detector", p.Detector, "severity", p.Severity.String(),
			"principal", p.Principal, "title", p.Title)
	}

	h.emit(ctx, len(evs), skipped, res, hasCapacity, cc, read0, write0)
	log.InfoContext(ctx, "batch done", "messages", len(ev.Records), "events", len(evs), "updates", len(res.Updates),
		"published", len(ps.published), "failed_messages", len(ids), "conflicts", res.Conflicts,
		"duration_ms", time.Since(start).Milliseconds())
	return resp, nil
}

// emit writes the invocation's metrics.
func (h *handler) emit(ctx context.Context, processed int, skipped map[events.SkipReason]int, res *detectors.Result,
	hasCapacity bool, cc capacityCounter, read0, write0 float64) {
	put := func(dims map[string]string, ms ...emf.Metric) {
		if err := h.metrics.Put(dims, ms...); err != nil {
			h.log.WarnContext(ctx, "write metrics", "error", err)
		}
	}
	base := []emf.Metric{
		{Name: "EventsProcessed", Unit: emf.Count, Value: float64(processed)},
		{Name: "Conflicts", Unit: emf.Count, Value: float64(res.Conflicts)},
	}
	if hasCapacity {
		// Deltas of the store's counters; with concurrent invokes in one
		// process they may include a neighbour's calls.
		r, w := cc.ConsumedCapacity()
		base = append(base,
			emf.Metric{Name: "ReadCapacityUnits", Unit: emf.Count, Value: r - read0},
			emf.Metric{Name: "WriteCapacityUnits", Unit: emf.Count, Value: w - write0})
	}
	put(nil, base...)
	reasons := make([]string, 0, len(skipped))
	for r := range skipped {
		reasons = append(reasons, string(r))
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		put(map[string]string{"Reason": r}, emf.Metric{Name: "EventsSkipped", Unit: emf.Count, Value: float64(skipped[events.SkipReason(r)])})
	}
	type key struct{ detector, severity string }
	findings := map[key]int{}
	for _, u := range res.Updates {
		if u.Kind == detectors.UpdateNew || u.Kind == detectors.UpdateEscalated {
			findings[key{u.Finding.Detector, u.Finding.Severity.String()}]++
		}
	}
	keys := make([]key, 0, len(findings))
	for k := range findings {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].detector != keys[j].detector {
			return keys[i].detector < keys[j].detector
		}
		return keys[i].severity < keys[j].severity
	})
	for _, k := range keys {
		put(map[string]string{"Detector": k.detector, "Severity": k.severity},
			emf.Metric{Name: "Findings", Unit: emf.Count, Value: float64(findings[k])})
	}
}

// publishingStore wraps the baseline store so that findings are published
// before the state that records them as routed is written ("publish, then
// commit"): see the package doc. It serves one invocation; the engine
// calls it from one goroutine.
type publishingStore struct {
	detectors.Store
	pub publisher
	// routed holds, per principal loaded, the severity each case had
	// already routed when it was loaded (-1: none).
	routed map[string]map[string]int
	// sent holds the severity published per finding ID in this
	// invocation, so a conflict retry does not publish again.
	sent      map[string]int
	published []detectors.Finding
	failures  []publishFailure
}

type publishFailure struct {
	finding detectors.Finding
	err     error
}

// PublishError is returned by the store's Save when a finding could not
// be published: the engine then leaves the principal's state unwritten and
// lists its events as failed, so their messages come back and the finding
// is computed and published again.
type PublishError struct {
	FindingID string
	Err       error
}

func (e *PublishError) Error() string { return "publish finding " + e.FindingID + ": " + e.Err.Error() }
func (e *PublishError) Unwrap() error { return e.Err }

func newPublishingStore(s detectors.Store, p publisher) *publishingStore {
	return &publishingStore{Store: s, pub: p, routed: map[string]map[string]int{}, sent: map[string]int{}}
}

// Load implements detectors.Store, remembering what each case had routed.
func (s *publishingStore) Load(ctx context.Context, keys []string) (map[string]*detectors.State, error) {
	states, err := s.Store.Load(ctx, keys)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		m := map[string]int{}
		if st := states[k]; st != nil {
			for _, cs := range st.Cases {
				m[cs.Finding.ID] = cs.Routed
			}
		}
		s.routed[k] = m
	}
	return states, nil
}

// Save implements detectors.Store: it publishes every finding whose routed
// severity rose since load (a new finding, or an escalation), then writes
// the state. If a publication fails the state is not written.
func (s *publishingStore) Save(ctx context.Context, st *detectors.State) error {
	before := s.routed[st.Baseline.Key]
	for _, cs := range st.Cases {
		prev, ok := before[cs.Finding.ID]
		if !ok {
			prev = -1
		}
		if cs.Routed <= prev {
			continue
		}
		if sev, ok := s.sent[cs.Finding.ID]; ok && sev >= cs.Routed {
			continue
		}
		if err := s.pub.Publish(ctx, cs.Finding); err != nil {
			s.failures = append(s.failures, publishFailure{finding: cs.Finding, err: err})
			return &PublishError{FindingID: cs.Finding.ID, Err: err}
		}
		s.sent[cs.Finding.ID] = cs.Routed
		s.published = append(s.published, cs.Finding)
	}
	return s.Store.Save(ctx, st)
}
