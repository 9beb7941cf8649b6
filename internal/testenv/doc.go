// Package testenv starts the real local components Trailwatch tests run
// against: goaws (SNS) in-process on loopback, Lambda function binaries
// built as bootstrap, and the AWS Lambda Runtime Interface Emulator. Every
// server binds to 127.0.0.1 and is stopped through t.Cleanup.
package testenv
