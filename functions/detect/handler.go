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
	"github.com/trailwatch/trailwatch/heartbeat"
	"github.com/trailwatch/trailwatch/internal/emf"
)

// capacityCounter is implemented by stores that count DynamoDB capacity
// (baselines.DynamoDB).
type capacityCounter interface {
	ConsumedCapacity() (read, write float64)
}

// configGetter hands out the current detection config.
type configGetter interface {
	Get(ctx context.Context) (*detectors.Config, error)
}

// heartbeatObserver records that events of an account and region arrived
// (heartbeat.Recorder).
type heartbeatObserver interface {
	Observe(ctx context.Context, account, region string, latest time.Time) error
}

// silenceChecker reports, at most every few minutes, the accounts and
// regions that stopped sending events (heartbeat.Checker).
type silenceChecker interface {
	Check(ctx context.Context) (heartbeat.Report, bool, error)
}

// handler runs detection over SQS batches of CloudTrail events.
type handler struct {
	store     detectors.Store
	publisher detectors.Publisher // notify.SNSPublisher
	configs   configGetter
	ranges    *rangesSource
	log       *slog.Logger
	metrics   *emf.Writer
	// now is the clock events may not be dated ahead of (time.Now).
	now func() time.Time
	// heartbeats records when events last arrived per account and region
	// (heartbeat.Recorder); nil records nothing.
	heartbeats heartbeatObserver
	// silence reports the silent accounts and regions (heartbeat.Checker);
	// nil checks nothing.
	silence silenceChecker
	// trail, when set, makes the handler an S3 ingest: each message
	// announces CloudTrail log files to read (handleObjects).
	trail *trailSource
	// margin is kept free before the invocation's deadline to return the
	// batch response; reserve is the least time left for which a principal
	// is still started (see detectors.Engine.Reserve).
	margin, reserve time.Duration
}

// Defaults for handler.margin and handler.reserve: a principal costs one
// conditional write (SDK retries included, at most a few seconds) and
// possibly a publication.
const (
	defaultMargin  = 2 * time.Second
	defaultReserve = 5 * time.Second
)

// Handle processes one SQS batch; see the package doc for what is retried.
func (h *handler) Handle(ctx context.Context, ev lambdaevents.SQSEvent) (lambdaevents.SQSEventResponse, error) {
	var resp lambdaevents.SQSEventResponse
	start := time.Now()
	if d, ok := ctx.Deadline(); ok {
		// Everything below ends before the deadline less the margin, so
		// the response listing what was not finished always gets out.
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-h.margin))
		defer cancel()
	}
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
	norm := &events.Normalizer{Ranges: h.ranges.Current(ctx), Keying: cfg.Keying, Selection: cfg.Selection, Networks: cfg.NamedNetworks}
	if h.trail != nil {
		// S3 ingest: the messages announce CloudTrail log files.
		return h.handleObjects(ctx, ev, h.engine(cfg, engLog), norm, start)
	}

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
			e, ok := normalizeCounted(ctx, log, norm, r, skipped, "message_id", m.MessageId)
			if !ok {
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
	eng := h.engine(cfg, engLog)
	res, err := eng.Process(ctx, evs)
	if err != nil {
		// The store is unreachable: the whole batch comes back.
		return resp, fmt.Errorf("process batch of %d events: %w", len(evs), err)
	}

	h.observeHeartbeats(ctx, evs)
	h.checkSilence(ctx)

	failed := map[string]bool{}
	for _, id := range res.Failed {
		for _, mid := range msgsOf[id] {
			failed[mid] = true
		}
	}
	ids := make([]string, 0, len(failed))
	for id := range failed {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		resp.BatchItemFailures = append(resp.BatchItemFailures, lambdaevents.SQSBatchItemFailure{ItemIdentifier: id})
	}
	for _, p := range res.Published {
		log.InfoContext(ctx, "finding published", "finding_id", p.ID, "detector", p.Detector, "severity", p.Severity.String(),
			"principal", p.Principal, "title", p.Title)
	}

	h.emit(ctx, len(evs), skipped, res, hasCapacity, cc, read0, write0)
	log.InfoContext(ctx, "batch done", "messages", len(ev.Records), "events", len(evs), "updates", len(res.Updates),
		"published", len(res.Published), "failed_messages", len(ids), "deferred_events", res.Deferred,
		"future_events", res.Future, "conflicts", res.Conflicts,
		"duration_ms", time.Since(start).Milliseconds())
	return resp, nil
}

// engine returns the engine of one invocation.
func (h *handler) engine(cfg *detectors.Config, log *slog.Logger) *detectors.Engine {
	eng := detectors.NewEngine(cfg, h.store, log)
	eng.Publisher = h.publisher // publish, then commit: see detectors.Engine
	eng.Reserve = h.reserve
	if h.now != nil {
		eng.Clock = h.now
	}
	return eng
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
		{Name: "EventsProcessed", Unit: emf.Count, Value: float64(processed - res.Future)},
		{Name: "Conflicts", Unit: emf.Count, Value: float64(res.Conflicts)},
		{Name: "EventsDeferred", Unit: emf.Count, Value: float64(res.Deferred)},
		{Name: "PublishFailures", Unit: emf.Count, Value: float64(res.PublishFailures)},
		{Name: "UnusableStates", Unit: emf.Count, Value: float64(res.Unusable)},
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
	if res.Future > 0 {
		skipped[events.SkipFuture] += res.Future
	}
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

// observeHeartbeats records, per account and region of the batch, its
// latest event. A failed write is logged and retried with a later batch;
// it never fails the events.
func (h *handler) observeHeartbeats(ctx context.Context, evs []events.Event) {
	if h.heartbeats == nil {
		return
	}
	type source struct{ account, region string }
	latest := map[source]time.Time{}
	for i := range evs {
		k := source{evs[i].Account, evs[i].Region}
		if t := evs[i].Time; t.After(latest[k]) {
			latest[k] = t
		}
	}
	for k, t := range latest {
		if err := h.heartbeats.Observe(ctx, k.account, k.region, t); err != nil {
			h.log.WarnContext(ctx, "heartbeat not recorded, retried with a later batch", "account", k.account, "region", k.region, "error", err)
		}
	}
}

// Heartbeat metrics (no dimensions), written after each check: the
// operations alarms watch SilentSources, and HeartbeatChecks going missing
// (no event reached detect at all).
const (
	metricSilentSources   = "SilentSources"
	metricWatchedSources  = "WatchedSources"
	metricHeartbeatChecks = "HeartbeatChecks"
)

// checkSilence runs the heartbeat check when it is due: it logs each
// silent account and region and writes the heartbeat metrics. A failed
// check is logged; the next batch tries again.
func (h *handler) checkSilence(ctx context.Context) {
	if h.silence == nil {
		return
	}
	r, ok, err := h.silence.Check(ctx)
	if err != nil {
		h.log.WarnContext(ctx, "heartbeat check failed, retried with a later batch", "error", err)
		return
	}
	if !ok {
		return
	}
	for _, s := range r.Silent {
		h.log.WarnContext(ctx, "account and region silent: no CloudTrail event received",
			"account", s.Account, "region", s.Region, "last_event", s.Last.Format(time.RFC3339))
	}
	_ = h.metrics.Put(nil,
		emf.Metric{Name: metricSilentSources, Unit: emf.Count, Value: float64(len(r.Silent))},
		emf.Metric{Name: metricWatchedSources, Unit: emf.Count, Value: float64(r.Watched)},
		emf.Metric{Name: metricHeartbeatChecks, Unit: emf.Count, Value: 1},
	)
}

// normalizeCounted normalizes a record with the production selection. A
// record that cannot be used is counted in skipped by reason and logged
// (with attrs saying where it came from), and never retried: a record not
// selected (what the production rule does not forward: read-only and not
// denied) is only counted, as replay does.
func normalizeCounted(ctx context.Context, log *slog.Logger, norm *events.Normalizer, r *events.Record, skipped map[events.SkipReason]int, attrs ...any) (events.Event, bool) {
	e, err := norm.NormalizeSelected(r)
	var se *events.SkipError
	switch {
	case errors.As(err, &se):
		skipped[se.Reason]++
		if se.Reason != events.SkipNotSelected {
			log.WarnContext(ctx, "record skipped, it will not be retried",
				append(attrs, "event_id", r.EventID, "reason", se.Reason, "detail", se.Detail)...)
		}
		return e, false
	case err != nil:
		skipped[events.SkipMalformed]++
		log.WarnContext(ctx, "record skipped, it will not be retried", append(attrs, "event_id", r.EventID, "error", err)...)
		return e, false
	}
	return e, true
}
