// Package events decodes CloudTrail in every shape users actually have and
// normalizes each record into what the detectors need.
//
// Inputs are detected per file: CloudTrail S3 log files ({"Records":[...]},
// plain or gzip), JSON Lines of records, JSON Lines of EventBridge envelopes,
// and SQS-wrapped EventBridge messages (a Lambda SQS event, the output of
// `aws sqs receive-message`, or JSON Lines of SQS messages). A record that
// cannot be used is skipped with a counted reason; nothing in this package
// panics on bad input. A record from an EventBridge envelope keeps the
// envelope's source and account (Record.Envelope): CloudTrail's events come
// with source aws.*, which no PutEvents caller may use; synthetic test events
// (TestSource) are keyed in a namespace of their own (TestPrincipalPrefix).
//
// Normalization derives the principal key that baselines are built on, whether
// a call mutates state, the source network at the grain detectors judge it,
// the user-agent family, and the error class. Selection applies the same rule
// as the production EventBridge pattern, so a replay sees exactly what the
// deployed pipeline sees.
package events
