// Package warmstart is the warm start's unit of work, shared by
// `trailwatch backfill` and the backfill Lambda function: it applies a date
// range of the CloudTrail archive to the principals' baselines in the
// DynamoDB table the deployed stack uses, with the production detection
// engine and no publisher (nothing is routed).
//
// A run is resumable: after each batch's principals are saved it writes a
// checkpoint item (pk "BACKFILL#<id>", sk "PROGRESS") beside the
// principals; a run with the same inputs reads the same time-ordered
// sequence again, skips what the checkpoint says is applied (checking that
// the last applied event sits where it says) and continues. Given a
// context deadline and a Reserve, a run stops cleanly once the deadline is
// nearer than the reserve, after its last checkpoint, and reports
// Done=false; calling it again continues. That is how a Lambda invocation
// (at most 15 minutes) and a Step Functions loop share one backfill.
//
// A Job scoped to an Account (the archive prefix
// AWSLogs/[o-…/]<account>/) applies only the events of that account's
// principals, and its newer-state check looks only at them: the accounts of
// an organization are backfilled in parallel without touching each other.
package warmstart
