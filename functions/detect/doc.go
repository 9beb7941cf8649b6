// Command detect is the Lambda function that reads CloudTrail events from
// the SQS buffer queue, scores them against the per-principal baselines in
// DynamoDB and publishes new and escalated findings to the SNS alert topic.
//
// Environment:
//
//	TABLE_NAME          DynamoDB table of baselines and dedupe state (required)
//	TOPIC_ARN           SNS topic the findings are published to (required)
//	CONFIG_PARAMETER    SSM parameter holding thresholds.yaml; absent: embedded defaults
//	CONFIG_TTL          how long a fetched parameter is trusted, a Go duration (default 60s)
//	AWS_IP_RANGES_FILE  ip-ranges.json (plain or gzip) bundled with the function; optional
//	LOG_LEVEL           DEBUG | INFO | WARN | ERROR (default INFO)
//
// AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_SNS and AWS_ENDPOINT_URL_SSM,
// honoured by the AWS SDK, point the clients at local servers in tests.
//
// # Batches and retries
//
// Each SQS message body is an EventBridge event carrying a CloudTrail
// record, or a bare record (SQS and SNS wrappers are unwrapped too). The
// handler runs the engine once over the whole batch: one BatchGetItem for
// all principals and one conditional write per principal (plus reloads on
// write conflicts). It reports partial failures (ReportBatchItemFailures):
//
//   - A message that can never be decoded (malformed JSON, not a CloudTrail
//     record, missing eventTime, ...) is logged with its message ID and skip
//     reason, counted in EventsSkipped (dimension Reason) and acknowledged,
//     NOT reported as a failure: retrying cannot fix it, and cycling it to
//     the DLQ would only delay the good messages of its batches. Records
//     the production rule would not have forwarded are counted
//     (Reason=not_selected) and dropped.
//   - The messages carrying the events of a principal whose state could not
//     be written (Result.Failed), or whose finding could not be published,
//     are reported in BatchItemFailures; SQS redelivers only those.
//   - If the engine cannot run at all (store unreachable, or no config can
//     be read) the handler returns the error and the whole batch returns.
//
// # Publish, then commit
//
// The dedupe state that says "this finding was routed" is saved with the
// principal's baseline. If it were written before publishing, a failed
// publication would be lost: the redelivered events are already in the
// baseline, so they raise no new finding. So the function publishes first:
// the store handed to the engine publishes, inside Save and before the
// conditional write, each finding whose routed severity rose since the
// state was loaded (UpdateNew and UpdateEscalated with Routed true). Then:
//
//   - publication fails: Save returns a *PublishError, the state is not
//     written, the principal's messages are reported as failed; the
//     redelivery computes the same finding from the unchanged state and
//     publishes it. No alert is lost.
//   - publication succeeds: the state is written with the finding marked
//     routed; a plain redelivery of the same messages finds it and
//     publishes nothing (no double page). A write conflict reloads and
//     recomputes; findings already published in this invocation are not
//     published again.
//
// The delivery is at least once: a second publication of the same finding
// is possible only when the write after a successful publication fails, or
// when one of several findings of a principal fails after the others were
// published. The finding ID is stable (from its dedupe key), and the
// ticketing webhook uses it as Idempotency-Key / PagerDuty dedup_key.
//
// # Metrics
//
// CloudWatch Embedded Metric Format, namespace Trailwatch: EventsProcessed,
// Conflicts, ReadCapacityUnits and WriteCapacityUnits (per invocation),
// EventsSkipped (dimension Reason), Findings (dimensions Detector and
// Severity: findings routed to SNS as new or escalated) and
// ConfigReloadFailures (no dimensions; emitted on every refresh that finds
// a rejected parameter value, so an alarm stays on while it is deployed).
package main
