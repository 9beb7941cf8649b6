//go:build unix

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/trailwatch/trailwatch/baselines"
	"github.com/trailwatch/trailwatch/config"
	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/internal/lambdatest"
	"github.com/trailwatch/trailwatch/internal/testenv"
	"github.com/trailwatch/trailwatch/notify"
)

const (
	table          = "trailwatch-e2e"
	attackedARN    = "arn:aws:iam::111122223333:user/svc-backup"
	selectedAttack = 14 // the attack's 17 records minus 3 successful read-only calls
)

var initReport = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)|Init Duration: ([0-9.]+) ms`)

// invokeSQS invokes a function under the emulator with an SQS event and
// decodes its batch response; a function error fails the test.
func invokeSQS(t *testing.T, url string, ev lambdaevents.SQSEvent) lambdaevents.SQSEventResponse {
	t.Helper()
	out, err := testenv.Invoke(t, url, ev)
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	var resp lambdaevents.SQSEventResponse
	if err := json.Unmarshal(out, &resp); err != nil || strings.Contains(string(out), "errorType") {
		t.Fatalf("function response %s (%v)", out, err)
	}
	return resp
}

// TestPipeline runs CloudTrail events through the built detect function,
// DynamoDB (dynalite), SNS (goaws) and the built notify function to a
// signature-verifying ticketing receiver.
func TestPipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the functions; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s := loadSample(t)
	detectBin := testenv.BuildFunction(t, "github.com/trailwatch/trailwatch/functions/detect")
	notifyBin := testenv.BuildFunction(t, "github.com/trailwatch/trailwatch/functions/notify")

	// DynamoDB.
	ddbEndpoint := testenv.Dynalite(t)
	ddb := baselines.NewDynamoDBClient(aws.Config{
		Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	}, ddbEndpoint)
	if err := baselines.CreateTable(ctx, ddb, table); err != nil {
		t.Fatal(err)
	}

	// SNS: the alert topic, an HTTP subscription that sees every
	// publication, and the tickets queue with the deployed filter policy
	// (ticket = true, which detect sets from routing.ticket_min_severity).
	snsEndpoint := testenv.Goaws(t)
	snsClient := sns.New(sns.Options{
		BaseEndpoint: aws.String(snsEndpoint), Region: testenv.GoawsRegion,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	})
	topicName := fmt.Sprintf("trailwatch-findings-%d", time.Now().UnixNano())
	topic, err := snsClient.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(topicName)})
	if err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	capture := &snsCapture{t: t}
	hook := httptest.NewServer(capture)
	t.Cleanup(hook.Close)
	if _, err := snsClient.Subscribe(ctx, &sns.SubscribeInput{
		TopicArn: topic.TopicArn, Protocol: aws.String("http"), Endpoint: aws.String(hook.URL + "/sns"),
	}); err != nil {
		t.Fatalf("Subscribe http: %v", err)
	}
	queue := topicName + "-tickets"
	queueURL := testenv.GoawsSQS(t, snsEndpoint, url.Values{"Action": {"CreateQueue"}, "QueueName": {queue}}).QueueURL
	if queueURL == "" {
		queueURL = fmt.Sprintf("%s/%s/%s", snsEndpoint, testenv.GoawsAccountID, queue)
	}
	if _, err := snsClient.Subscribe(ctx, &sns.SubscribeInput{
		TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint:   aws.String(fmt.Sprintf("arn:aws:sqs:%s:%s:%s", testenv.GoawsRegion, testenv.GoawsAccountID, queue)),
		Attributes: map[string]string{"FilterPolicy": deployedFilter(t, "notify")},
	}); err != nil {
		t.Fatalf("Subscribe sqs: %v", err)
	}
	receiveTickets := func() []string {
		msgs := testenv.GoawsSQS(t, snsEndpoint, url.Values{"Action": {"ReceiveMessage"}, "QueueUrl": {queueURL}, "MaxNumberOfMessages": {"10"}}).Messages
		bodies := make([]string, len(msgs))
		for i, m := range msgs {
			bodies[i] = m.Body
		}
		return bodies
	}

	// SSM (thresholds) and Secrets Manager (signing secret).
	ssmSrv, ssmCalls := ssmServer(t, string(config.DefaultYAML))
	smSrv, smCalls := secretsServer(t)

	detectEnv := map[string]string{
		"TABLE_NAME":                table,
		"TOPIC_ARN":                 *topic.TopicArn,
		"CONFIG_PARAMETER":          paramName,
		"AWS_ENDPOINT_URL_DYNAMODB": ddbEndpoint,
		"AWS_ENDPOINT_URL_SNS":      snsEndpoint,
		"AWS_ENDPOINT_URL_SSM":      ssmSrv.URL,
		"LOG_LEVEL":                 "INFO",
	}
	if root, err := testenv.RepoRoot(); err == nil {
		// The snapshot of AWS's ranges, as bundled with the function.
		p := filepath.Join(filepath.Dir(root), "shared", "data", "aws-ip-ranges.json.gz")
		if _, err := os.Stat(p); err == nil {
			detectEnv["AWS_IP_RANGES_FILE"] = p
		}
	}
	detect := testenv.RIE(t, detectBin, detectEnv)

	// 1. History: svc-backup's baseline matures.
	for i, ev := range sqsBatches("hist", s.history, 100) {
		if resp := invokeSQS(t, detect, ev); len(resp.BatchItemFailures) != 0 {
			t.Fatalf("history batch %d: failures %v", i, resp.BatchItemFailures)
		}
	}
	if m := initReport.FindStringSubmatch(testenv.RIELogs(detect)); m != nil {
		t.Logf("detect cold start: %s", m[0])
	}
	historyNotes := len(capture.settle(0, 300*time.Millisecond, 5*time.Second))
	historyTickets := receiveTickets()
	t.Logf("history: %d publications, %d on the tickets queue", historyNotes, len(historyTickets))

	// 2. The attack, with one malformed message.
	attack := sqsBatches("atk", s.attack, 100)[0]
	attack.Records = append(attack.Records, sqsMessage("bad-1", `{"detail-type":"AWS API Call via CloudTrail","detail":{"eventTime":`, "trailwatch-events"))
	resp := invokeSQS(t, detect, attack)
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("attack batch: failures %v, want none (the malformed message is counted as skipped)", resp.BatchItemFailures)
	}
	wants := []string{`"message_id":"bad-1"`, `"reason":"malformed_json"`, `"EventsSkipped"`, `"Reason":"malformed_json"`, `"requestId":`, `"Findings"`, `"ReadCapacityUnits"`}
	// The function's output reaches the emulator's log a moment after its
	// response: wait until the batch's metric lines are in.
	logs := testenv.WaitRIELogs(detect, 5*time.Second, wants...)
	published := publishedIDs(logs)
	if len(published) == 0 {
		t.Fatalf("detect published nothing for the attack:\n%s", tail(logs, 40))
	}
	for _, want := range wants {
		if !strings.Contains(logs, want) {
			t.Errorf("detect output lacks %s", want)
		}
	}

	// Exactly one SNS publication per new finding, with its attributes.
	notes := capture.settle(historyNotes+len(published), 500*time.Millisecond, 10*time.Second)[historyNotes:]
	perID := map[string]int{}
	var attackFindings []detectors.Finding
	for _, n := range notes {
		f, err := notify.DecodeMessage(n.Message) // goaws posts the per-protocol structure to HTTP
		if err != nil {
			t.Fatalf("notification message is not a finding: %v\n%.500s", err, n.Message)
		}
		perID[f.ID]++
		attackFindings = append(attackFindings, f)
		attrs := map[string]string{}
		for k, v := range n.MessageAttributes {
			attrs[k] = v.Value
		}
		want := map[string]string{notify.AttrSeverity: f.Severity.String(), notify.AttrDetector: f.Detector,
			notify.AttrAccountID: f.AccountID, notify.AttrMode: string(f.Mode),
			notify.AttrTicket: fmt.Sprint(f.Severity >= detectors.SeverityHigh)}
		if fmt.Sprint(attrs) != fmt.Sprint(want) || f.AccountID != "111122223333" || f.Mode != detectors.ModeAlert {
			t.Errorf("finding %s: attributes %v, want %v", f.ID, attrs, want)
		}
		if f.PrincipalARN != attackedARN {
			t.Errorf("finding %s is for %s", f.ID, f.PrincipalARN)
		}
		if n.Subject == "" || len(n.Subject) > notify.SNSMaxSubject {
			t.Errorf("finding %s: subject %q", f.ID, n.Subject)
		}
		t.Logf("published: %s [%s] %s", f.ID, f.Severity, n.Subject)
	}
	if fmt.Sprint(sortedKeys(perID)) != fmt.Sprint(sortedKeys(published)) {
		t.Errorf("SNS publications %v, detect logged %v", perID, published)
	}
	for id, n := range perID {
		if n != 1 {
			t.Errorf("finding %s published %d times, want once", id, n)
		}
	}

	// The baseline and the dedupe state are in DynamoDB.
	items := principalItems(ctx, t, ddb, "svc-backup")
	if len(items) == 0 {
		t.Fatal("no DynamoDB item for svc-backup")
	}
	t.Logf("dynalite: %d item(s) for svc-backup: %v", len(items), items)

	// 3. The tickets queue (the default ticket minimum is HIGH) feeds notify.
	queued := receiveTickets()
	wantTickets := 0
	for _, f := range attackFindings {
		if f.Severity >= detectors.SeverityHigh {
			wantTickets++
		}
	}
	if wantTickets == 0 {
		t.Fatal("no HIGH or CRITICAL finding for the stolen access key")
	}
	if len(queued) != wantTickets {
		t.Fatalf("tickets queue holds %d messages, want %d (the filter policy passes HIGH and CRITICAL)", len(queued), wantTickets)
	}
	rv := &lambdatest.TicketReceiver{T: t, Secret: []byte(signingSecret)}
	recvSrv := httptest.NewServer(rv)
	t.Cleanup(recvSrv.Close)
	notifyEnv := func(webhook string) map[string]string {
		return map[string]string{
			"WEBHOOK_FORMAT": "generic", "WEBHOOK_URL": webhook, "WEBHOOK_SECRET_ARN": secretARN,
			"WEBHOOK_ALLOW_HTTP": "true", "WEBHOOK_MAX_ATTEMPTS": "4", "WEBHOOK_BASE_DELAY": "50ms",
			"AWS_ENDPOINT_URL_SECRETS_MANAGER": smSrv.URL,
		}
	}
	notifyURL := testenv.RIE(t, notifyBin, notifyEnv(recvSrv.URL+"/tickets"))
	var ticketEvent lambdaevents.SQSEvent
	for i, body := range queued {
		ticketEvent.Records = append(ticketEvent.Records, sqsMessage(fmt.Sprintf("tkt-%d", i), body, queue))
	}
	if resp := invokeSQS(t, notifyURL, ticketEvent); len(resp.BatchItemFailures) != 0 {
		t.Errorf("notify: failures %v", resp.BatchItemFailures)
	}
	tickets := rv.Tickets()
	if len(tickets) != wantTickets {
		t.Errorf("receiver got tickets %v, want %d", tickets, wantTickets)
	}
	for _, id := range tickets {
		if perID[id] != 1 {
			t.Errorf("ticket %s is not one of the published findings %v", id, perID)
		}
	}

	// 4. SQS delivers the attack batch again: no publication, no ticket.
	if resp := invokeSQS(t, detect, attack); len(resp.BatchItemFailures) != 0 {
		t.Errorf("redelivery: failures %v", resp.BatchItemFailures)
	}
	time.Sleep(500 * time.Millisecond)
	if again := capture.all()[historyNotes+len(notes):]; len(again) != 0 {
		t.Errorf("redelivery published %d notification(s), want none", len(again))
	}
	if again := receiveTickets(); len(again) != 0 {
		t.Errorf("redelivery queued %d ticket message(s), want none", len(again))
	}
	if got := rv.Tickets(); len(got) != wantTickets {
		t.Errorf("after redelivery the receiver has %d tickets, want %d", len(got), wantTickets)
	}

	// 5. Fault: the receiver answers 500 twice, then 200: one ticket.
	flaky := &lambdatest.TicketReceiver{T: t, Secret: []byte(signingSecret), Status: func(n int) int {
		if n <= 2 {
			return http.StatusInternalServerError
		}
		return 0
	}}
	flakySrv := httptest.NewServer(flaky)
	t.Cleanup(flakySrv.Close)
	one := lambdaevents.SQSEvent{Records: ticketEvent.Records[:1]}
	if resp := invokeSQS(t, testenv.RIE(t, notifyBin, notifyEnv(flakySrv.URL)), one); len(resp.BatchItemFailures) != 0 {
		t.Errorf("flaky receiver: failures %v", resp.BatchItemFailures)
	}
	if got := flaky.Tickets(); len(got) != 1 || flaky.Calls.Load() != 3 {
		t.Errorf("flaky receiver: tickets %v after %d calls, want exactly 1 after 3", got, flaky.Calls.Load())
	}

	if ssmCalls.Load() < 1 || smCalls.Load() < 1 {
		t.Errorf("SSM called %d times, Secrets Manager %d times; want both used", ssmCalls.Load(), smCalls.Load())
	}
	if m := initReport.FindStringSubmatch(testenv.RIELogs(notifyURL)); m != nil {
		t.Logf("notify cold start: %s", m[0])
	}
}

var publishedLine = regexp.MustCompile(`"msg":"finding published".*?"finding_id":"([^"]+)"|"message":"finding published".*?"finding_id":"([^"]+)"`)

// publishedIDs counts the findings detect logged as published.
func publishedIDs(logs string) map[string]int {
	m := map[string]int{}
	for _, sm := range publishedLine.FindAllStringSubmatch(logs, -1) {
		m[sm[1]+sm[2]]++
	}
	return m
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// principalItems returns "pk sk" of the table's items whose key mentions
// name.
func principalItems(ctx context.Context, t *testing.T, c *dynamodb.Client, name string) []string {
	t.Helper()
	out, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	var keys []string
	for _, it := range out.Items {
		pk, _ := it["pk"].(*types.AttributeValueMemberS)
		sk, _ := it["sk"].(*types.AttributeValueMemberS)
		if pk != nil && strings.Contains(pk.Value, name) {
			k := pk.Value
			if sk != nil {
				k += " " + sk.Value
			}
			keys = append(keys, k)
		}
	}
	return keys
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestDetectColdStart reports the detect function's Init Duration under
// the emulator, with and without the bundled ip-ranges.json (target: below
// 50 ms on Lambda).
func TestDetectColdStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the function; skipped with -short")
	}
	bin := testenv.BuildFunction(t, "github.com/trailwatch/trailwatch/functions/detect")
	ranges := ""
	if root, err := testenv.RepoRoot(); err == nil {
		p := filepath.Join(filepath.Dir(root), "shared", "data", "aws-ip-ranges.json.gz")
		if _, err := os.Stat(p); err == nil {
			ranges = p
		}
	}
	for _, withRanges := range []bool{false, true} {
		if withRanges && ranges == "" {
			continue
		}
		env := map[string]string{"TABLE_NAME": table, "TOPIC_ARN": "arn:aws:sns:us-east-1:000000000000:none"}
		if withRanges {
			env["AWS_IP_RANGES_FILE"] = ranges
		}
		var ms []string
		for range 3 {
			url := testenv.RIE(t, bin, env)
			invokeSQS(t, url, lambdaevents.SQSEvent{})
			if m := initReport.FindStringSubmatch(testenv.RIELogs(url)); m != nil {
				ms = append(ms, m[1]+m[2])
			}
		}
		t.Logf("detect Init Duration (ms), ip ranges %v: %v", withRanges, ms)
	}
}
