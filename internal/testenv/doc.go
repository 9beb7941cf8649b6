// Package testenv starts the real local components Trailwatch tests run
// against: goaws (SNS) in-process on loopback, gofakes3 (S3) in-process
// (S3) or in a process of its own for benchmarks (S3Process), Lambda function binaries
// built as bootstrap, and the AWS Lambda Runtime Interface Emulator. Every
// server binds to 127.0.0.1 and is stopped through t.Cleanup.
package testenv
