package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/notify"
)

// deliverer is the part of notify.Webhook the handler uses.
type deliverer interface {
	DeliverResult(ctx context.Context, f detectors.Finding) (notify.Result, error)
}

// Defaults of the handler's time budget.
const (
	// defaultReserve is kept free at the end of every invocation: each
	// delivery is cut off this long before the function's deadline, which
	// leaves time to report the batch.
	defaultReserve = time.Second
	// defaultMinStart is the least time before that cut-off a record needs
	// to be started: a search, a create and a retry of a slow receiver.
	defaultMinStart = 2 * time.Second
)

// handler sends the findings of an SQS batch (SNS notifications, or bare
// finding JSON) to the ticketing webhook and reports the records that must
// come back: see the package doc of notify for the failure policy.
type handler struct {
	webhook deliverer
	format  notify.Format
	log     *slog.Logger
	metrics *notify.Metrics
	// reserve is kept free of the function's time budget: deliveries,
	// their retries and their requests end this long before the deadline,
	// so the handler always returns in time and what it delivered is
	// acknowledged (a timed-out invocation would send the whole batch
	// again: duplicate tickets).
	reserve time.Duration
	// minStart is the least remaining delivery budget for which a record
	// is started; later records are returned as batch item failures
	// without being tried.
	minStart time.Duration
}

// Handle processes one SQS batch, in order, within the invocation's time
// budget (see reserve and minStart).
func (h *handler) Handle(ctx context.Context, ev lambdaevents.SQSEvent) (lambdaevents.SQSEventResponse, error) {
	var resp lambdaevents.SQSEventResponse
	fail := func(id string) {
		resp.BatchItemFailures = append(resp.BatchItemFailures, lambdaevents.SQSBatchItemFailure{ItemIdentifier: id})
	}
	dctx := ctx // the deliveries' context: it ends reserve before the deadline
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		dctx, cancel = context.WithDeadline(ctx, dl.Add(-h.reserve))
		defer cancel()
	}
	delivered, deferred := 0, 0
	for i, rec := range ev.Records {
		if dl, ok := dctx.Deadline(); ok && time.Until(dl) < h.minStart {
			deferred = len(ev.Records) - i
			h.log.WarnContext(ctx, "time budget exhausted, returning the records not started", "remaining", deferred,
				"budget_left_ms", time.Until(dl).Milliseconds())
			_ = h.metrics.Count("DeferredMessages", deferred)
			for _, r := range ev.Records[i:] {
				fail(r.MessageId)
			}
			break
		}
		log := h.log.With("message_id", rec.MessageId)
		f, err := notify.DecodeMessage(rec.Body)
		if err != nil {
			log.ErrorContext(ctx, "undecodable message, reporting it for the DLQ", "error", err, "body_bytes", len(rec.Body))
			_ = h.metrics.Count("UndecodableMessages", 1)
			fail(rec.MessageId)
			continue
		}
		log = log.With("finding_id", f.ID, "delivery_key", notify.DeliveryKey(f), "detector", f.Detector, "severity", f.Severity)
		res, err := h.webhook.DeliverResult(dctx, f)
		_ = h.metrics.Webhook(h.format, res, err != nil)
		attrs := []any{"attempts", res.Attempts, "latency_ms", res.Latency.Milliseconds(), "status", res.Status}

		var perm *notify.PermanentError
		var retry *notify.RetryableError
		switch {
		case err == nil:
			delivered++
			attrs = append(attrs, "action", res.Action)
			if res.Ticket != "" {
				attrs = append(attrs, "ticket", res.Ticket)
			}
			log.InfoContext(ctx, "ticket delivered", attrs...)
		case errors.As(err, &perm):
			log.ErrorContext(ctx, "webhook rejected the finding permanently; reporting it for the DLQ",
				append(attrs, "error_type", "PermanentError", "response_status", perm.Status, "response_body", perm.Body, "error", err)...)
			fail(rec.MessageId)
		case errors.As(err, &retry):
			msg := "webhook delivery failed, message returns to the queue"
			if retry.Reason == "canceled" && dctx.Err() != nil && ctx.Err() == nil {
				msg = "delivery cut off by the time budget, message returns to the queue"
			}
			log.WarnContext(ctx, msg, append(attrs, "error_type", "RetryableError", "reason", retry.Reason, "error", err)...)
			fail(rec.MessageId)
		default:
			log.ErrorContext(ctx, "webhook delivery failed", append(attrs, "error", err)...)
			fail(rec.MessageId)
		}
	}
	h.log.InfoContext(ctx, "batch done", "records", len(ev.Records), "delivered", delivered,
		"failed", len(resp.BatchItemFailures), "not_started", deferred)
	return resp, nil
}
