// Package e2e holds the end-to-end test of the Trailwatch pipeline on real
// parts: the built detect and notify bootstraps under the Lambda Runtime
// Interface Emulator, dynalite for DynamoDB, goaws for SNS (and the SQS
// queue subscribed to the topic), and httptest servers for SSM Parameter
// Store, Secrets Manager and the signature-verifying ticketing receiver.
package e2e
