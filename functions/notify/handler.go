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

// handler sends the findings of an SQS batch (SNS notifications, or bare
// finding JSON) to the ticketing webhook and reports the records that must
// come back: see the package doc of notify for the failure policy.
type handler struct {
	webhook deliverer
	format  notify.Format
	log     *slog.Logger
	metrics *notify.Metrics
	// reserve is kept free of the function's time budget: records not
	// started before the deadline minus reserve are returned for retry.
	reserve time.Duration
}

// Handle processes one SQS batch.
func (h *handler) Handle(ctx context.Context, ev lambdaevents.SQSEvent) (lambdaevents.SQSEventResponse, error) {
	var resp lambdaevents.SQSEventResponse
	fail := func(id string) {
		resp.BatchItemFailures = append(resp.BatchItemFailures, lambdaevents.SQSBatchItemFailure{ItemIdentifier: id})
	}
	delivered := 0
	for i, rec := range ev.Records {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < h.reserve {
			h.log.WarnContext(ctx, "time budget exhausted, returning remaining records", "remaining", len(ev.Records)-i)
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
		log = log.With("finding_id", f.ID, "detector", f.Detector, "severity", f.Severity)
		res, err := h.webhook.DeliverResult(ctx, f)
		_ = h.metrics.Webhook(h.format, res, err != nil)
		attrs := []any{"attempts", res.Attempts, "latency_ms", res.Latency.Milliseconds(), "status", res.Status}

		var perm *notify.PermanentError
		var retry *notify.RetryableError
		switch {
		case err == nil:
			delivered++
			log.InfoContext(ctx, "ticket delivered", attrs...)
		case errors.As(err, &perm):
			log.ErrorContext(ctx, "webhook rejected the finding permanently; reporting it for the DLQ",
				append(attrs, "error_type", "PermanentError", "response_status", perm.Status, "response_body", perm.Body)...)
			fail(rec.MessageId)
		case errors.As(err, &retry):
			log.WarnContext(ctx, "webhook delivery failed, message returns to the queue",
				append(attrs, "error_type", "RetryableError", "reason", retry.Reason, "error", err)...)
			fail(rec.MessageId)
		default:
			log.ErrorContext(ctx, "webhook delivery failed", append(attrs, "error", err)...)
			fail(rec.MessageId)
		}
	}
	h.log.InfoContext(ctx, "batch done", "records", len(ev.Records), "delivered", delivered, "failed", len(resp.BatchItemFailures))
	return resp, nil
}
