package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/internal/testenv"
	"github.com/trailwatch/trailwatch/render"
)

// TestSNSPublishGoaws publishes a HIGH and a LOW finding to goaws and checks
// what subscriptions with the filter policy {"severity":["HIGH","CRITICAL"]}
// receive: an HTTP endpoint (the SNS notification document) and an SQS
// queue (the envelope functions/notify decodes).
//
// goaws v0.4.5 evaluates filter policies for SQS subscriptions only; it
// posts every message to HTTP subscriptions. So exactly-one is asserted on
// the queue, and the HTTP delivery is checked for subject, attributes and
// body of the HIGH finding.
//
// The publication is a per-protocol message (MessageStructure "json").
// goaws resolves it for SQS (the queue gets the finding JSON, the
// "default" body) but posts the structure itself to HTTP subscriptions and
// never delivers e-mail; so the HTTP delivery is where the e-mail, chat and
// SMS bodies goaws accepted are checked (checkProtocolBodies).
func TestSNSPublishGoaws(t *testing.T) {
	endpoint := testenv.Goaws(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	client := sns.New(sns.Options{
		BaseEndpoint: aws.String(endpoint),
		Region:       testenv.GoawsRegion,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	})

	var mu sync.Mutex
	var notes []SNSEnvelope
	hook := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var env SNSEnvelope
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &env); err != nil {
			t.Errorf("HTTP subscriber: bad JSON: %v", err)
			return
		}
		if env.Type == "SubscriptionConfirmation" {
			return // goaws delivers without confirmation
		}
		mu.Lock()
		notes = append(notes, env)
		mu.Unlock()
	}))

	topicName := fmt.Sprintf("trailwatch-findings-%d", time.Now().UnixNano())
	topic, err := client.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(topicName)})
	if err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	policy := `{"severity":["HIGH","CRITICAL"]}`
	if _, err := client.Subscribe(ctx, &sns.SubscribeInput{
		TopicArn: topic.TopicArn, Protocol: aws.String("http"), Endpoint: aws.String(hook.URL + "/sns"),
		Attributes: map[string]string{"FilterPolicy": policy},
	}); err != nil {
		t.Fatalf("Subscribe http: %v", err)
	}
	queue := topicName + "-tickets"
	queueURL := testenv.GoawsSQS(t, endpoint, url.Values{"Action": {"CreateQueue"}, "QueueName": {queue}}).QueueURL
	if _, err := client.Subscribe(ctx, &sns.SubscribeInput{
		TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint:   aws.String(fmt.Sprintf("arn:aws:sqs:%s:%s:%s", testenv.GoawsRegion, testenv.GoawsAccountID, queue)),
		Attributes: map[string]string{"FilterPolicy": policy},
	}); err != nil {
		t.Fatalf("Subscribe sqs: %v", err)
	}

	pub := &SNSPublisher{Client: client, TopicARN: *topic.TopicArn}
	high := testFinding()
	low := testFinding()
	low.ID, low.Severity, low.Detector, low.Title = "tw-low", detectors.SeverityLow, "unusual-hour", "bob called s3:ListBuckets at 03:12"
	for _, f := range []detectors.Finding{high, low} {
		u := detectors.Update{Finding: f, Kind: detectors.UpdateNew, Routed: true, Ticket: f.Severity >= detectors.SeverityHigh}
		if err := pub.Publish(ctx, u); err != nil {
			t.Fatalf("Publish %s: %v", f.Severity, err)
		}
	}

	// SQS subscription: the filter policy lets exactly the HIGH one through.
	if queueURL == "" {
		queueURL = fmt.Sprintf("%s/%s/%s", endpoint, testenv.GoawsAccountID, queue)
	}
	msgs := testenv.GoawsSQS(t, endpoint, url.Values{"Action": {"ReceiveMessage"}, "QueueUrl": {queueURL}, "MaxNumberOfMessages": {"10"}}).Messages
	if len(msgs) != 1 {
		t.Fatalf("queue received %d messages, want exactly 1 (the HIGH finding)", len(msgs))
	}
	got, err := DecodeMessage(msgs[0].Body)
	if err != nil {
		t.Fatalf("DecodeMessage(queue body): %v\n%s", err, msgs[0].Body)
	}
	if got.ID != high.ID || got.Severity != detectors.SeverityHigh {
		t.Errorf("queued finding = %s %s, want the HIGH one", got.ID, got.Severity)
	}
	var env SNSEnvelope
	if err := json.Unmarshal([]byte(msgs[0].Body), &env); err != nil {
		t.Fatal(err)
	}
	checkNotification(t, "sqs", env, high)

	// HTTP subscription: the HIGH notification arrives intact.
	deadline := time.Now().Add(5 * time.Second)
	var highNote *SNSEnvelope
	for highNote == nil && time.Now().Before(deadline) {
		mu.Lock()
		for i := range notes {
			if notes[i].MessageAttributes[AttrSeverity].Value == "HIGH" {
				highNote = &notes[i]
			}
		}
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	if highNote == nil {
		t.Fatal("HTTP subscriber got no HIGH notification")
	}
	checkNotification(t, "http", *highNote, high)
	checkProtocolBodies(t, highNote.Message, high)
	mu.Lock()
	t.Logf("HTTP subscriber got %d notification(s) for 2 publications (goaws ignores filter policies on http)", len(notes))
	mu.Unlock()
}

// checkProtocolBodies checks the per-protocol structure of a publication:
// e-mail subscribers get the readable text of the finding (the same
// rendering as replay --format text), https (AWS Chatbot) a custom
// notification, SMS the subject, everyone else the finding JSON.
func checkProtocolBodies(t *testing.T, message string, want detectors.Finding) {
	t.Helper()
	var bodies map[string]string
	if err := json.Unmarshal([]byte(message), &bodies); err != nil {
		t.Fatalf("published message is not a per-protocol structure: %v\n%.300s", err, message)
	}
	if got := bodies[ProtocolEmail]; got != render.FindingText(want) {
		t.Errorf("e-mail body is not the text rendering:\n got %q\nwant %q", got, render.FindingText(want))
	}
	email := bodies[ProtocolEmail]
	if json.Valid([]byte(email)) || !strings.Contains(email, want.Title) || !strings.Contains(email, "    why:\n      - "+want.Reasons[0]) {
		t.Errorf("e-mail body is not readable text with the title and reasons:\n%s", email)
	}
	var chat render.ChatNotification
	if err := json.Unmarshal([]byte(bodies[ProtocolHTTPS]), &chat); err != nil || chat.Version != "1.0" || chat.Source != "custom" ||
		chat.Content.Title == "" || chat.Content.Description == "" || chat.Metadata.ThreadID != want.ID {
		t.Errorf("https body is not a chat custom notification (%v): %s", err, bodies[ProtocolHTTPS])
	}
	if bodies[ProtocolSMS] != Subject(want) {
		t.Errorf("sms body %q, want the subject", bodies[ProtocolSMS])
	}
	var f detectors.Finding
	if err := json.Unmarshal([]byte(bodies[ProtocolDefault]), &f); err != nil || f.ID != want.ID {
		t.Errorf("default body is not the finding JSON: %v", err)
	}
}

func checkNotification(t *testing.T, via string, env SNSEnvelope, want detectors.Finding) {
	t.Helper()
	if env.Type != "Notification" || env.Subject != "[HIGH] first-seen: alice@example.com called iam:CreateAccessKey" {
		t.Errorf("%s: type %q subject %q", via, env.Type, env.Subject)
	}
	attrs := map[string]string{}
	for k, v := range env.MessageAttributes {
		if v.Type != "String" {
			t.Errorf("%s: attribute %s has type %q", via, k, v.Type)
		}
		attrs[k] = v.Value
	}
	wantAttrs := map[string]string{AttrSeverity: "HIGH", AttrDetector: "first-seen", AttrAccountID: "123456789012", AttrMode: "alert", AttrTicket: "true"}
	if fmt.Sprint(attrs) != fmt.Sprint(wantAttrs) {
		t.Errorf("%s: attributes %v, want %v", via, attrs, wantAttrs)
	}
	if !json.Valid([]byte(env.Message)) {
		t.Fatalf("%s: message is not valid JSON", via)
	}
	var f detectors.Finding
	if err := json.Unmarshal(defaultBody([]byte(env.Message)), &f); err != nil || f.ID != want.ID || f.Title != want.Title {
		t.Errorf("%s: message finding %+v (%v)", via, f, err)
	}
}
