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
//	AWS_IP_RANGES_FILE  ip-ranges.json (plain or gzip) bundled with the function, relative to
//	                    the bootstrap's directory (/var/task on Lambda) or absolute; optional
//	IP_RANGES_BUCKET    bucket of the copy of AWS's ranges the ipranges function keeps current;
//	                    optional (without it, the bundled file only)
//	IP_RANGES_KEY       that copy's object key (required with IP_RANGES_BUCKET)
//	IP_RANGES_TTL       how long the ranges in hand are used before the copy is checked again
//	                    (a conditional GET), a Go duration (default 10m)
//	LOG_LEVEL           DEBUG | INFO | WARN | ERROR (default INFO)
//	INGEST              eventbridge (default): messages carry CloudTrail events; s3: messages
//	                    are S3 event notifications of the trail's log files (see S3 ingest)
//	TRAIL_BUCKET        the trail bucket S3 ingest reads (required with INGEST=s3; objects of
//	                    other buckets are skipped)
//
// AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_SNS, AWS_ENDPOINT_URL_SSM and
// AWS_ENDPOINT_URL_S3, honoured by the AWS SDK, point the clients at local
// servers in tests (S3 then with path-style addressing).
//
// # AWS's address ranges
//
// Source addresses are classified against AWS's published ranges: at cold
// start the file bundled beside the bootstrap, then the bucket copy, checked
// on the first invocation and once per IP_RANGES_TTL and swapped in
// atomically when it is at least as new (syncToken). A failed check keeps
// the ranges in hand, logs a warning and counts IPRangesRefreshFailures; a
// bundled file that cannot be read is fatal only without a bucket.
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
// # S3 ingest
//
// With INGEST=s3 each message is an S3 event notification (directly from
// the bucket, or through SNS) of CloudTrail log files created in
// TRAIL_BUCKET. For each file the handler GETs the object once and decodes
// it as a stream (gzip, then the Records array element by element; the file
// is never held whole), keeps the events the selection takes (the
// production selection plus thresholds.yaml selection:, as replay), sorts
// them by event time (then event ID) and runs the engine over them in
// chunks of 100. Digest and Insights files, objects of other buckets,
// non-creation events and S3's s3:TestEvent are acknowledged unread; a body
// that is no S3 notification is logged, counted (EventsSkipped, Reason
// not_an_s3_notification) and acknowledged. Malformed records inside a good
// file are skipped and counted as with EventBridge ingest.
//
// A message is reported in BatchItemFailures, alone, when one of its files
// cannot be read (GetObject error, corrupt or cut gzip: nothing of that
// file is applied) or a chunk of its events could not be saved; after the
// queue's maxReceiveCount it moves to the DLQ. The other messages are
// acknowledged.
//
// Redelivery: a baseline recognises only its latest 128 event IDs
// (detectors.RecentEventIDs), and a file may hold thousands of events of
// one principal, so the handler records its progress per file in the table
// (pk "OBJ#<bucket>/<key>", sk "E#<etag>": the last applied event's time
// and ID, then done; expires_at after 15 days) after every chunk. A
// redelivered file resumes after its last recorded event, and a finished
// file is acknowledged without a GET. What may be applied twice is at most
// the chunk that was being saved when the delivery failed (100 events,
// within what each baseline remembers). Files without a selected event
// record nothing and are read again when redelivered.
//
// Metrics of S3 ingest: ObjectsRead (GETs of log files), ObjectsResumed,
// ObjectsAlreadyDone and FailedMessages, beside the metrics above.
//
// # Deadline
//
// The handler works to the invocation's deadline less a margin (2 s) kept
// to return its response, and the engine starts a principal only while more
// than a reserve (5 s) remains (detectors.Engine.Reserve). Principals not
// started are reported in BatchItemFailures (metric EventsDeferred), so
// under throttling or a slow table the function returns what it finished
// and what it did not, rather than timing out and having the whole batch,
// already-saved principals included, delivered again.
//
// # Publish, then commit
//
// The dedupe state that says "this finding was routed" is saved with the
// principal's baseline. If it were written before publishing, a failed
// publication would be lost: the redelivered events are already in the
// baseline, so they raise no new finding. So the engine publishes first
// (detectors.Engine.Process, with the handler's SNS publisher as its
// Publisher): each finding whose routed severity rose in this batch
// (UpdateNew and UpdateEscalated with Routed true) is published before the
// principal's conditional write. Then:
//
//   - publication fails: the state is not written, the principal's
//     messages are reported as failed (metric PublishFailures); the
//     redelivery computes the same finding from the unchanged state and
//     publishes it. No alert is lost.
//   - publication succeeds: the state is written with the finding marked
//     routed; a plain redelivery of the same messages finds it and
//     publishes nothing (no double page). A write conflict reloads and
//     recomputes; findings already published in this invocation are not
//     published again.
//
// The delivery is at least once: a second publication of the same finding
// at the same severity is possible only when the write after a successful
// publication fails, or when one of several findings of a principal fails
// after the others were published. Downstream, each (finding ID, severity)
// is one delivery with its own idempotency key (see notify), so such a
// repeat is recognised, and an escalation is a new delivery.
//
// Each publication carries the message attribute ticket, from
// detectors.Routing.Ticket on the live config; the notify subscription
// filters on it.
//
// # Metrics
//
// CloudWatch Embedded Metric Format, namespace Trailwatch: EventsProcessed,
// Conflicts, EventsDeferred, PublishFailures, ReadCapacityUnits and WriteCapacityUnits (per invocation),
// EventsSkipped (dimension Reason), Findings (dimensions Detector and
// Severity: findings routed to SNS as new or escalated),
// ConfigReloadFailures (no dimensions; emitted on every refresh that finds
// a rejected parameter value, so an alarm stays on while it is deployed)
// and IPRangesRefreshFailures (no dimensions; one per failed check of the
// bucket copy of AWS's ranges).
package main
