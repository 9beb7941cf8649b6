// Package sample generates realistic, deterministic AWS CloudTrail records
// for tests, demos and backtests of trailwatch, and holds the generator of
// the bundled sample in testdata/sample.
//
// The simulated organization has three accounts (111122223333 prod,
// 444455556666 staging, 777788889999 security) in us-east-1 and eu-west-1:
// IAM Identity Center humans working 09:00-18:00 New York time on weekdays
// (their UTC hours shift when US daylight saving time ends on 2026-11-01),
// GitHub Actions and Terraform roles deploying in bursts (with CloudFormation
// calling on their behalf), Lambda functions and ECS tasks calling from
// ever-changing EC2 addresses around the clock, AWS service-linked roles and
// service events, a cross-account security scanner, two legacy IAM users
// with long-term AKIA keys, and one root console sign-in. Read-only calls
// are about 70% of the records, as in real accounts.
//
// In the final days, Generate injects labelled attacks (stolen-access-key,
// cloudtrail-stopped, bucket-made-public, lambda-credentials-stolen,
// snapshot-shared-out, sg-opened-to-world) and labelled benign surprises
// (new-employee, ci-new-service, back-from-vacation, terraform-big-run,
// new-laptop, dst-shift). Each Label lists the eventIDs it covers and what a
// detector should make of them: "HIGH+" for attacks, "LOW-" for benign.
//
// Everything is a function of Config.Seed: the same seed gives byte-identical
// output. Writers produce gzip JSON Lines (WriteJSONLGzip), the CloudTrail S3
// layout (WriteS3) and EventBridge envelopes (WriteEventBridge).
// GenerateLoad streams any number of records for benchmarks.
//
// Regenerate the bundled sample from the repository root with:
//
//	go run ./cmd/gensample -seed 1 -format jsonl -out testdata/sample
package sample

//go:generate go run ../cmd/gensample -seed 1 -format jsonl -out ../testdata/sample

import _ "time/tzdata" // America/New_York without relying on the host's zoneinfo
