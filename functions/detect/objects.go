package main

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/events"
	"github.com/trailwatch/trailwatch/internal/emf"
)

// objectChunk is how many of an object's events go to the engine at once.
// It must not exceed detectors.RecentEventIDs: when a chunk fails part way
// (one principal saved, another not), the object resumes at that chunk,
// and each principal's baseline still remembers every event of it.
const objectChunk = 100

// Skip reasons of S3 ingest, beside the events package's (metric
// EventsSkipped, dimension Reason; counted per message or object, not per
// event).
const (
	// skipNotNotification: a message that is not an S3 event notification.
	skipNotNotification events.SkipReason = "not_an_s3_notification"
	// skipNotLogFile: a digest file, an Insights file or any object that is
	// not a CloudTrail log file.
	skipNotLogFile events.SkipReason = "not_a_cloudtrail_log_file"
	// skipOtherBucket: an object of another bucket than TRAIL_BUCKET.
	skipOtherBucket events.SkipReason = "other_bucket"
)

// trailSource reads CloudTrail log files from the trail bucket (S3 ingest).
type trailSource struct {
	client s3GetAPI
	// bucket is TRAIL_BUCKET: objects of any other bucket are skipped.
	bucket   string
	progress objectProgress
}

// objectError is a trail object that could not be read whole (GetObject
// failed, the gzip stream is corrupt or cut): its message is retried.
type objectError struct {
	Bucket, Key string
	Err         error
}

func (e *objectError) Error() string {
	return fmt.Sprintf("read s3://%s/%s: %v", e.Bucket, e.Key, e.Err)
}
func (e *objectError) Unwrap() error { return e.Err }

// invocation is what one S3-ingest invocation gathers for its log line and
// metrics.
type invocation struct {
	skipped  map[events.SkipReason]int
	res      detectors.Result
	events   int
	objects  int // objects read (one GET each)
	resumed  int // objects resumed past a recorded cursor
	repeated int // objects already done, not read again
}

func (a *invocation) add(r *detectors.Result) {
	a.res.Updates = append(a.res.Updates, r.Updates...)
	a.res.Published = append(a.res.Published, r.Published...)
	a.res.Failed = append(a.res.Failed, r.Failed...)
	a.res.Conflicts += r.Conflicts
	a.res.Future += r.Future
	a.res.Deferred += r.Deferred
	a.res.PublishFailures += r.PublishFailures
	a.res.Unusable += r.Unusable
}

// handleObjects processes one SQS batch of S3 notifications: each message's
// objects in turn, each object's events in event-time order, in chunks of
// objectChunk events. A message fails (BatchItemFailures) when one of its
// objects cannot be read or a chunk of its events could not be saved; the
// others are acknowledged. A message that is not an S3 notification, S3's
// test event, digest and Insights files are acknowledged without a retry.
func (h *handler) handleObjects(ctx context.Context, ev lambdaevents.SQSEvent, eng *detectors.Engine,
	norm *events.Normalizer, start time.Time) (lambdaevents.SQSEventResponse, error) {
	var resp lambdaevents.SQSEventResponse
	log := h.log
	inv := &invocation{skipped: map[events.SkipReason]int{}}
	var read0, write0 float64
	cc, hasCapacity := h.store.(capacityCounter)
	if hasCapacity {
		read0, write0 = cc.ConsumedCapacity()
	}
	for _, m := range ev.Records {
		if err := h.handleMessage(ctx, m, eng, norm, inv); err != nil {
			resp.BatchItemFailures = append(resp.BatchItemFailures, lambdaevents.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
			log.WarnContext(ctx, "message returned for retry", "message_id", m.MessageId, "error", err)
		}
	}
	for _, p := range inv.res.Published {
		log.InfoContext(ctx, "finding published", "finding_id", p.ID, "detector", p.Detector, "severity", p.Severity.String(),
			"principal", p.Principal, "title", p.Title)
	}
	h.checkSilence(ctx)
	h.emit(ctx, inv.events, inv.skipped, &inv.res, hasCapacity, cc, read0, write0)
	if err := h.metrics.Put(nil, objectMetrics(inv, len(resp.BatchItemFailures))...); err != nil {
		log.WarnContext(ctx, "write metrics", "error", err)
	}
	log.InfoContext(ctx, "batch done", "ingest", "s3", "messages", len(ev.Records), "objects", inv.objects,
		"objects_resumed", inv.resumed, "objects_already_done", inv.repeated, "events", inv.events,
		"updates", len(inv.res.Updates), "published", len(inv.res.Published), "failed_messages", len(resp.BatchItemFailures),
		"deferred_events", inv.res.Deferred, "future_events", inv.res.Future, "conflicts", inv.res.Conflicts,
		"duration_ms", time.Since(start).Milliseconds())
	return resp, nil
}

// handleMessage processes the objects of one message; an error returns the
// message for retry.
func (h *handler) handleMessage(ctx context.Context, m lambdaevents.SQSMessage, eng *detectors.Engine,
	norm *events.Normalizer, inv *invocation) error {
	log := h.log
	n, err := parseNotification(m.Body)
	if err != nil {
		inv.skipped[skipNotNotification]++
		log.WarnContext(ctx, "message skipped: not an S3 event notification, it will not be retried",
			"message_id", m.MessageId, "reason", skipNotNotification, "detail", err.Error(), "body_bytes", len(m.Body))
		return nil
	}
	if n.Test {
		log.InfoContext(ctx, "S3 test event acknowledged", "message_id", m.MessageId)
		return nil
	}
	for _, o := range n.Objects {
		switch {
		case o.Bucket != h.trail.bucket:
			inv.skipped[skipOtherBucket]++
			log.WarnContext(ctx, "object skipped: not in the trail bucket", "message_id", m.MessageId,
				"bucket", o.Bucket, "key", o.Key, "trail_bucket", h.trail.bucket)
			continue
		case classifyKey(o.Key) != kindLog:
			inv.skipped[skipNotLogFile]++
			log.DebugContext(ctx, "object skipped: not a CloudTrail log file", "key", o.Key, "kind", classifyKey(o.Key))
			continue
		}
		if !h.timeLeft(ctx) {
			return fmt.Errorf("deadline near: s3://%s/%s not started", o.Bucket, o.Key)
		}
		if err := h.processObject(ctx, o, eng, norm, inv); err != nil {
			return err
		}
	}
	return nil
}

// processObject reads one log file, stream-decoding it record by record,
// and applies its selected events in event-time order from where an
// earlier delivery stopped.
func (h *handler) processObject(ctx context.Context, o trailObject, eng *detectors.Engine,
	norm *events.Normalizer, inv *invocation) error {
	log := h.log.With("bucket", o.Bucket, "key", o.Key)
	cur, err := h.trail.progress.Get(ctx, o)
	if err != nil {
		return err
	}
	if cur.Done {
		inv.repeated++
		log.InfoContext(ctx, "object already processed, acknowledged")
		return nil
	}
	evs, err := h.readObject(ctx, o, norm, inv, log)
	if err != nil {
		return err
	}
	inv.objects++
	sort.SliceStable(evs, func(i, j int) bool {
		if !evs[i].Time.Equal(evs[j].Time) {
			return evs[i].Time.Before(evs[j].Time)
		}
		return evs[i].ID < evs[j].ID
	})
	if !cur.Done && (!cur.Time.IsZero() || cur.ID != "") {
		inv.resumed++
		i := sort.Search(len(evs), func(i int) bool { return cur.after(evs[i].Time, evs[i].ID) })
		log.InfoContext(ctx, "object resumed", "events_done", i, "events", len(evs))
		evs = evs[i:]
	}
	for len(evs) > 0 {
		chunk := evs[:min(objectChunk, len(evs))]
		evs = evs[len(chunk):]
		res, err := eng.Process(ctx, chunk)
		if err != nil {
			return fmt.Errorf("process %d events of s3://%s/%s: %w", len(chunk), o.Bucket, o.Key, err)
		}
		inv.add(res)
		inv.events += len(chunk)
		h.observeHeartbeats(ctx, chunk)
		if len(res.Failed) > 0 {
			// Stop here: the retry resumes at this chunk, whose events
			// the principals saved above still remember.
			return fmt.Errorf("%d events of s3://%s/%s not saved (%d deferred)", len(res.Failed), o.Bucket, o.Key, res.Deferred)
		}
		last := chunk[len(chunk)-1]
		if err := h.trail.progress.Put(ctx, o, cursor{Time: last.Time, ID: last.ID, Done: len(evs) == 0}); err != nil {
			// The chunk is saved; a retry from the last recorded cursor
			// finds its events in the baselines (at most objectChunk).
			return err
		}
	}
	return nil
}

// readObject GETs an object and decodes it as a stream (gzip, then the
// Records array element by element: never the whole file in memory),
// returning the events the selection takes. Records that do not decode are
// skipped and counted; a read error or a corrupt gzip stream fails the
// object, so its message is retried and, if it never reads, ends in the
// dead-letter queue.
func (h *handler) readObject(ctx context.Context, o trailObject, norm *events.Normalizer, inv *invocation, log *slog.Logger) ([]events.Event, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(o.Bucket), Key: aws.String(o.Key)}
	if o.VersionID != "" {
		in.VersionId = aws.String(o.VersionID)
	}
	out, err := h.trail.client.GetObject(ctx, in)
	if err != nil {
		return nil, &objectError{Bucket: o.Bucket, Key: o.Key, Err: err}
	}
	defer out.Body.Close()
	var evs []events.Event
	var corrupt string
	skipped := map[events.SkipReason]int{}
	dec := events.Decoder{
		Record: func(r *events.Record) {
			if e, ok := normalizeCounted(ctx, log, norm, r, skipped, "bucket", o.Bucket, "key", o.Key); ok {
				evs = append(evs, e)
			}
		},
		Skip: func(reason events.SkipReason, detail string) {
			if reason == events.SkipCorruptGzip {
				corrupt = detail
				return
			}
			skipped[reason]++
			log.WarnContext(ctx, "record skipped", "reason", reason, "detail", detail)
		},
	}
	if err := dec.Decode(out.Body); err != nil {
		return nil, &objectError{Bucket: o.Bucket, Key: o.Key, Err: err}
	}
	if corrupt != "" {
		return nil, &objectError{Bucket: o.Bucket, Key: o.Key, Err: fmt.Errorf("%s: %s", events.SkipCorruptGzip, corrupt)}
	}
	// Counted only for an object read whole: a retried object counts once.
	for r, n := range skipped {
		inv.skipped[r] += n
	}
	return evs, nil
}

// objectMetrics are S3 ingest's own metrics: ObjectsRead (GETs),
// ObjectsResumed, ObjectsAlreadyDone and FailedMessages.
func objectMetrics(inv *invocation, failed int) []emf.Metric {
	return []emf.Metric{
		{Name: "ObjectsRead", Unit: emf.Count, Value: float64(inv.objects)},
		{Name: "ObjectsResumed", Unit: emf.Count, Value: float64(inv.resumed)},
		{Name: "ObjectsAlreadyDone", Unit: emf.Count, Value: float64(inv.repeated)},
		{Name: "FailedMessages", Unit: emf.Count, Value: float64(failed)},
	}
}

// timeLeft reports whether another object may be started: more than the
// reserve remains before the (margin-shortened) deadline.
func (h *handler) timeLeft(ctx context.Context) bool {
	if ctx.Err() != nil {
		return false
	}
	d, ok := ctx.Deadline()
	return !ok || time.Until(d) > h.reserve
}
