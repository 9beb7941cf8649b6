package infra

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/trailwatch/trailwatch/infra/internal/ingest"
)

const (
	testTrailBucket = "example-org-trail"
	testTrailKey    = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
)

// s3IngestStacks synthesizes the app as `cdk synth -c ingest=s3
// -c trailBucket=… -c trailBucketKey=…` with the main fixture's other
// settings.
func s3IngestStacks(t *testing.T) (*Stacks, map[string]interface{}) {
	t.Helper()
	dir := t.TempDir()
	thresholdsFile := filepath.Join(dir, "thresholds.yaml")
	if err := os.WriteFile(thresholdsFile, []byte(testThresholds), 0o644); err != nil {
		t.Fatal(err)
	}
	app, err := newTestApp(filepath.Join(dir, "cdk.out"), map[string]interface{}{
		"organizationId": testOrgID, "webhookFormat": "jira", "webhookUrl": testWebhookURL, "jiraProjectKey": "SEC",
		"thresholdsFile": thresholdsFile, "functionsDir": fixture.funcsDir, "centralBusArn": testCentralBusArn,
		"ingest": "s3", "trailBucket": testTrailBucket, "trailBucketKey": testTrailKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ConfigFromContext(app.Node())
	if err != nil {
		t.Fatal(err)
	}
	stacks, err := Build(app, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var tpl map[string]interface{}
	noPanic(t, "synth with ingest=s3", func() {
		tpl = *assertions.Template_FromStack(stacks.Central.Stack, nil).ToJSON()
	})
	if tpl == nil {
		t.FailNow()
	}
	return stacks, tpl
}

// TestS3Ingest synthesizes ingest=s3 and checks its wiring: the bucket's
// notification of created .json.gz objects to an encrypted, TLS-only queue
// with a DLQ (and its alarm), S3 allowed to send to it only from the trail
// bucket, the event source with partial batch failures, the detect
// function's environment (the default's plus INGEST and TRAIL_BUCKET), its
// grants (s3:GetObject on the bucket's objects, kms:Decrypt on the trail
// key through S3, no wildcard action), no EventBridge ingest, and cdk-nag.
func TestS3Ingest(t *testing.T) {
	stacks, tpl := s3IngestStacks(t)

	// The notification.
	var notif map[string]interface{}
	for _, r := range resources(tpl, "Custom::S3BucketNotifications") {
		notif = props(r)
	}
	if notif == nil {
		t.Fatal("no bucket notification")
	}
	if notif["BucketName"] != testTrailBucket {
		t.Errorf("notification on bucket %v", notif["BucketName"])
	}
	qcs := asList(asMap(notif["NotificationConfiguration"])["QueueConfigurations"])
	if len(qcs) != 1 {
		t.Fatalf("queue configurations %v", qcs)
	}
	qc := asMap(qcs[0])
	trailQueue := ref(qc["QueueArn"])
	if fmt.Sprint(qc["Events"]) != "[s3:ObjectCreated:*]" {
		t.Errorf("notified events %v", qc["Events"])
	}
	if b, _ := json.Marshal(qc["Filter"]); !strings.Contains(string(b), `"Name":"suffix","Value":".json.gz"`) {
		t.Errorf("filter %s, want suffix .json.gz", b)
	}

	// The queue: encrypted, DLQ after 5 receives, TLS only, S3 of the
	// trail bucket only.
	queues := resources(tpl, "AWS::SQS::Queue")
	q := props(queues[trailQueue])
	if q == nil || ref(q["KmsMasterKeyId"]) == "" {
		t.Fatalf("trail queue %s not encrypted with a customer key: %v", trailQueue, q)
	}
	rp := asMap(q["RedrivePolicy"])
	dlq := ref(rp["deadLetterTargetArn"])
	if rp["maxReceiveCount"] != float64(5) || ref(props(queues[dlq])["KmsMasterKeyId"]) == "" {
		t.Errorf("trail queue redrive %v (DLQ %s)", rp, dlq)
	}
	tlsOnly, fromBucket := false, false
	for _, r := range resources(tpl, "AWS::SQS::QueuePolicy") {
		p := props(r)
		if b, _ := json.Marshal(p["Queues"]); !strings.Contains(string(b), trailQueue) {
			continue
		}
		for _, s := range asList(asMap(p["PolicyDocument"])["Statement"]) {
			st := asMap(s)
			b, _ := json.Marshal(st)
			if st["Effect"] == "Deny" && strings.Contains(string(b), `"aws:SecureTransport":"false"`) {
				tlsOnly = true
			}
			if st["Effect"] == "Allow" && strings.Contains(string(b), `"Service":"s3.amazonaws.com"`) &&
				strings.Contains(string(b), `"aws:SourceArn"`) && strings.Contains(string(b), testTrailBucket) {
				fromBucket = true
			}
		}
	}
	if !tlsOnly || !fromBucket {
		t.Errorf("trail queue policy: TLS only %v, S3 from the trail bucket only %v", tlsOnly, fromBucket)
	}
	dlqAlarm := false
	for _, r := range resources(tpl, "AWS::CloudWatch::Alarm") {
		if b, _ := json.Marshal(props(r)["Dimensions"]); strings.Contains(string(b), dlq) {
			dlqAlarm = true
		}
	}
	if !dlqAlarm {
		t.Error("no alarm on the trail DLQ")
	}

	// The event source.
	var detectID string
	for id := range resources(tpl, "AWS::Lambda::Function") {
		if functionName(id) == "detect" {
			detectID = id
		}
	}
	mapped := false
	for _, m := range resources(tpl, "AWS::Lambda::EventSourceMapping") {
		mp := props(m)
		if ref(mp["FunctionName"]) != detectID {
			continue
		}
		mapped = true
		if ref(mp["EventSourceArn"]) != trailQueue || fmt.Sprint(mp["FunctionResponseTypes"]) != "[ReportBatchItemFailures]" ||
			mp["BatchSize"] != float64(ingest.TrailBatchSize) {
			t.Errorf("detect event source %v", mp)
		}
	}
	if !mapped {
		t.Error("detect has no event source")
	}

	// The environment: the default deployment's plus INGEST and TRAIL_BUCKET.
	env := map[string]string{}
	for k, v := range asMap(asMap(props(resources(tpl, "AWS::Lambda::Function")[detectID])["Environment"])["Variables"]) {
		if s, ok := v.(string); ok {
			env[k] = s
		} else {
			env[k] = DeployTime
		}
	}
	if env["INGEST"] != "s3" || env["TRAIL_BUCKET"] != testTrailBucket {
		t.Errorf("INGEST=%q TRAIL_BUCKET=%q", env["INGEST"], env["TRAIL_BUCKET"])
	}
	def := extractDeployed(t)["detect"].Environment
	var added, missing []string
	for k := range env {
		if _, ok := def[k]; !ok {
			added = append(added, k)
		}
	}
	for k := range def {
		if _, ok := env[k]; !ok {
			missing = append(missing, k)
		}
	}
	sort.Strings(added)
	if fmt.Sprint(added) != "[INGEST TRAIL_BUCKET]" || len(missing) != 0 {
		t.Errorf("environment adds %v and lacks %v; internal/e2e's S3 parity test runs the default's plus INGEST and TRAIL_BUCKET", added, missing)
	}

	// The grants.
	var getObject, decrypt []interface{}
	for _, r := range resources(tpl, "AWS::IAM::Policy") {
		p := props(r)
		if b, _ := json.Marshal(p["Roles"]); !strings.Contains(string(b), "DetectRole") {
			continue
		}
		for _, s := range asList(asMap(p["PolicyDocument"])["Statement"]) {
			st := asMap(s)
			for _, a := range asList(st["Action"]) {
				if strings.Contains(fmt.Sprint(a), "*") {
					t.Errorf("detect has a wildcard action %v", a)
				}
			}
			if a, ok := st["Action"].(string); ok && strings.Contains(a, "*") {
				t.Errorf("detect has a wildcard action %v", a)
			}
			switch st["Sid"] {
			case "TrailLogFiles":
				getObject = append(getObject, st["Action"], st["Resource"])
			case "TrailLogFilesKey":
				decrypt = append(decrypt, st["Action"], st["Resource"], st["Condition"])
			}
			if b, _ := json.Marshal(st); strings.Contains(string(b), "s3:") && st["Sid"] != "TrailLogFiles" &&
				strings.Contains(string(b), testTrailBucket) {
				t.Errorf("another statement reaches the trail bucket: %s", b)
			}
		}
	}
	if b, _ := json.Marshal(getObject); !strings.Contains(string(b), `"s3:GetObject"`) || !strings.Contains(string(b), `:s3:::`+testTrailBucket+`/*"]]}]`) {
		t.Errorf("GetObject grant %s, want s3:GetObject on the trail bucket's objects", b)
	}
	if want := []interface{}{"kms:Decrypt", testTrailKey, map[string]interface{}{"StringLike": map[string]interface{}{"kms:ViaService": "s3.*.amazonaws.com"}}}; !reflect.DeepEqual(decrypt, want) {
		t.Errorf("trail key grant %v, want %v", decrypt, want)
	}

	// No EventBridge ingest: no CloudTrail rule, no central bus.
	for id, r := range resources(tpl, "AWS::Events::Rule") {
		if b, _ := json.Marshal(props(r)["EventPattern"]); strings.Contains(string(b), "AWS API Call via CloudTrail") {
			t.Errorf("rule %s still selects CloudTrail events", id)
		}
	}
	if n := len(resources(tpl, "AWS::Events::EventBus")); n != 0 {
		t.Errorf("%d event buses with ingest=s3", n)
	}

	// cdk-nag.
	ann := assertions.Annotations_FromStack(stacks.Central.Stack)
	nag := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
	for _, m := range *ann.FindError(jsii.String("*"), nag) {
		t.Errorf("unsuppressed cdk-nag error at %s: %v", *m.Id, m.Entry.Data)
	}
	for _, m := range *ann.FindWarning(jsii.String("*"), nag) {
		t.Errorf("unsuppressed cdk-nag warning at %s: %v", *m.Id, m.Entry.Data)
	}
}

// TestS3IngestConfig: the S3 ingest context keys are checked before any
// construct exists.
func TestS3IngestConfig(t *testing.T) {
	tests := []struct {
		name    string
		set     func(*Config)
		wantErr string
	}{
		{"default is EventBridge", func(c *Config) {}, ""},
		{"s3 with bucket", func(c *Config) { c.Ingest, c.TrailBucket = "s3", "org-trail" }, ""},
		{"s3 with bucket and key", func(c *Config) { c.Ingest, c.TrailBucket, c.TrailBucketKey = "s3", "org-trail", testTrailKey }, ""},
		{"s3 without bucket", func(c *Config) { c.Ingest = "s3" }, "needs trailBucket"},
		{"s3 with an ARN for a bucket", func(c *Config) { c.Ingest, c.TrailBucket = "s3", "arn:aws:s3:::org-trail" }, "needs trailBucket"},
		{"s3 with a key alias", func(c *Config) { c.Ingest, c.TrailBucket, c.TrailBucketKey = "s3", "org-trail", "alias/trail" }, "not a KMS key ARN"},
		{"bucket without s3", func(c *Config) { c.TrailBucket = "org-trail" }, "need ingest=s3"},
		{"unknown mode", func(c *Config) { c.Ingest = "kinesis" }, "want eventbridge or s3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.set(&c)
			err := c.Validate()
			if tt.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
}
