// Package notify delivers Trailwatch findings: to an SNS topic, and from
// there (through an SQS queue and functions/notify) to a ticketing webhook
// or to AWS Security Hub.
//
// # SNS
//
// SNSPublisher.Publish sends a per-protocol message (MessageStructure
// "json", ProtocolMessage): the default body, which SQS, Lambda and HTTP
// subscribers get, is the finding JSON, always valid JSON (EncodeFinding
// trims the bounded lists and marks "truncated": true in the evidence; it
// never cuts bytes); e-mail subscribers get the readable text
// (render.FindingText, as `trailwatch replay --format text` prints it),
// https subscribers (AWS Chatbot) a chat custom notification (render.Chat),
// SMS the subject; the whole structure stays below the 256 KB SNS limit.
// It also sets a readable ASCII Subject of at most 100 characters such as
//
//	[HIGH] first-seen: alice@example.com called iam:CreateAccessKey
//
// and the String message attributes severity, detector, account_id and
// mode, so that subscriptions can filter, e.g. {"severity":["HIGH","CRITICAL"]}.
//
// # Webhooks
//
// Webhook.Deliver sends a finding in one of four formats, once per
// (finding, routed severity): DeliveryKey, "<id>:<SEVERITY>", is the same
// on a redelivery and new on an escalation.
//
//   - generic: the finding JSON, with headers X-Trailwatch-Timestamp (Unix
//     seconds), X-Trailwatch-Signature ("v1=" + hex HMAC-SHA256 keyed with
//     the signing secret over timestamp + "." + body; during a rotation a
//     second "v1=" signature after a comma, made with the secondary
//     secret), Idempotency-Key (DeliveryKey), X-Trailwatch-Finding-Id and
//     X-Trailwatch-Severity. Receivers check requests with Verify, which
//     rejects timestamps outside a tolerance (replay protection) and
//     compares in constant time; they should also drop repeated
//     Idempotency-Keys.
//   - jira: one issue per finding, found by its label JiraFindingLabel
//     through the Jira Cloud REST API v3 enhanced search; created (ADF
//     description, Basic auth email:api_token) when there is none; on an
//     escalation commented on and relabelled (JiraEscalation); left alone
//     when it already shows the severity.
//   - pagerduty: an Events API v2 trigger event, dedup_key = DeliveryKey,
//     so an escalation opens a new alert (and pages) at the higher
//     severity while a redelivery is deduplicated.
//   - ocsf: an OCSF Detection Finding (render.OCSF), with the generic
//     format's headers and signature; finding_info.uid is the finding ID.
//
// # Security Hub
//
// SecurityHub.DeliverResult imports a finding in the AWS Security Finding
// Format (render.ASFF) with securityhub:BatchImportFindings into the
// target account's default product. The Id is the finding ID, so an
// escalation or a recurrence updates the Security Hub finding; a refused
// finding is a *PermanentError, a throttled or failed call a
// *RetryableError.
//
// The URL must be https (AllowHTTP exists for local tests). Redirects are
// never followed: a 3xx is a *PermanentError. Of the URL only the scheme
// and host are ever logged or put in errors. Credentials come
// from Secrets Manager through SecretSource, cached for five minutes, and are
// held in Secret values that print as "[redacted]". Secret documents:
// generic a plain string, {"signing_secret": "..."} or, during a rotation,
// {"signing_secret": "...", "secondary_signing_secret": "..."}; jira
// {"email": "...", "api_token": "..."}; pagerduty {"routing_key": "..."}.
//
// Network errors, timeouts, 429 (honouring Retry-After, capped at MaxDelay)
// and 5xx are retried with exponential backoff and full jitter, as long as
// the context deadline (the Lambda time budget) leaves room for another
// attempt; running out gives a *RetryableError. Any other 4xx is a
// *PermanentError carrying the status and a bounded snippet of the response
// body. DeliverResult reports attempts and latency for metrics, which
// Metrics writes in CloudWatch Embedded Metric Format.
//
// # Failure handling in functions/notify
//
// The handler ends every delivery a reserve before the invocation's
// deadline and starts a record only while enough time remains; records not
// started or cut off are reported as batch item failures, so the function
// always returns in time and what it delivered is acknowledged.
//
// functions/notify reports SQS partial batch failures. The queue's redrive
// policy (maxReceiveCount) then moves a message that keeps failing to the
// dead-letter queue, from where it can be redriven; nothing is dropped:
//
//   - retryable failures are reported, so the message returns to the queue
//     and is tried again after the visibility timeout;
//   - permanent failures (4xx, bad credentials, bad configuration) are
//     logged with the response status and body snippet, counted, and also
//     reported: they end in the DLQ after maxReceiveCount receives and can be
//     redriven once the configuration is fixed;
//   - undecodable messages are logged, counted (UndecodableMessages) and
//     also reported, so they land in the DLQ for inspection instead of being
//     lost. They cannot block other messages: each record is handled and
//     reported on its own.
package notify
