// Package infra is the Trailwatch CDK app: the configuration it reads from
// cdk.json context, and the two stacks it deploys — TrailwatchCentral in the
// security account and TrailwatchForwarder in every member account. The
// stacks only compose the constructs in internal/, one per concern
// (ingestion, state, detection, findings, thresholds, operations,
// forwarding). cmd/trailwatch-infra is the thin entry point `cdk` runs.
//
// This is a separate Go module (github.com/trailwatch/trailwatch/infra) so
// that the CDK dependencies never enter the main module.
package infra
