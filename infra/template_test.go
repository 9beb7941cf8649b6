package infra

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// wantPattern is written out literally (not built from ingest.Selection) so
// that any change to the selection is a visible change to this test, to be
// made together with the replay selection in events/.
const wantPattern = `{
  "source": [{"prefix": "aws."}],
  "detail-type": ["AWS API Call via CloudTrail", "AWS Console Sign In via CloudTrail"],
  "detail": {"$or": [
    {"readOnly": [false]},
    {"eventType": ["AwsConsoleSignIn"]},
    {"errorCode": ["AccessDenied", "AccessDeniedException", "UnauthorizedOperation",
                   "Client.UnauthorizedOperation", "UnauthorizedAccess", "AuthorizationError",
                   "AuthorizationErrorException", "NotAuthorized", "Forbidden", "InvalidClientTokenId"]}
  ]}
}`

func TestEventPatternIsTheReplaySelection(t *testing.T) {
	var want interface{}
	if err := json.Unmarshal([]byte(wantPattern), &want); err != nil {
		t.Fatal(err)
	}
	for name, tpl := range templates() {
		rules := patternRules(tpl)
		wantRules := map[string]int{CentralStackName: 2, ForwarderStackName: 1}[name]
		if len(rules) != wantRules {
			t.Errorf("%s: %d rules, want %d", name, len(rules), wantRules)
		}
		for id, r := range rules {
			got := props(r)["EventPattern"]
			if !reflect.DeepEqual(got, want) {
				g, _ := json.MarshalIndent(got, "", "  ")
				t.Errorf("%s/%s: event pattern\n%s\nwant\n%s", name, id, g, wantPattern)
			}
			if props(r)["State"] != "ENABLED" {
				t.Errorf("%s/%s: rule state %v", name, id, props(r)["State"])
			}
		}
	}
	// One rule on the default bus, one on the central bus.
	var onCentral, onDefault int
	for _, r := range patternRules(fixture.centralTpl) {
		if ref(props(r)["EventBusName"]) != "" {
			onCentral++
		} else {
			onDefault++
		}
	}
	if onCentral != 1 || onDefault != 1 {
		t.Errorf("rules on central bus %d, on default bus %d; want 1 and 1", onCentral, onDefault)
	}
}

func TestCentralBusAcceptsTheOrganization(t *testing.T) {
	noPanic(t, "central bus", func() {
		fixture.central.HasResourceProperties(jsii.String("AWS::Events::EventBus"), map[string]interface{}{
			"Name": "trailwatch-central",
		})
		fixture.central.HasResourceProperties(jsii.String("AWS::Events::EventBusPolicy"), map[string]interface{}{
			"Statement": map[string]interface{}{
				"Effect":    "Allow",
				"Action":    "events:PutEvents",
				"Principal": map[string]interface{}{"AWS": "*"},
				"Condition": map[string]interface{}{"StringEquals": map[string]interface{}{"aws:PrincipalOrgID": testOrgID}},
			},
		})
	})
}

func TestEverythingIsEncryptedWithCustomerManagedKeys(t *testing.T) {
	for name, tpl := range templates() {
		keys := resources(tpl, "AWS::KMS::Key")
		isKey := func(v interface{}) bool { _, ok := keys[ref(v)]; return ok }
		for id, k := range keys {
			if props(k)["EnableKeyRotation"] != true {
				t.Errorf("%s/%s: key rotation off", name, id)
			}
			if k["DeletionPolicy"] != "Retain" {
				t.Errorf("%s/%s: key DeletionPolicy %v, want Retain", name, id, k["DeletionPolicy"])
			}
		}
		for id, q := range resources(tpl, "AWS::SQS::Queue") {
			if !isKey(props(q)["KmsMasterKeyId"]) {
				t.Errorf("%s/%s: queue not encrypted with a key of this stack: %v", name, id, props(q)["KmsMasterKeyId"])
			}
		}
		for id, tp := range resources(tpl, "AWS::SNS::Topic") {
			if !isKey(props(tp)["KmsMasterKeyId"]) {
				t.Errorf("%s/%s: topic not encrypted with a key of this stack", name, id)
			}
		}
		for id, s := range resources(tpl, "AWS::SecretsManager::Secret") {
			if !isKey(props(s)["KmsKeyId"]) {
				t.Errorf("%s/%s: secret not encrypted with a key of this stack", name, id)
			}
		}
		for id, tb := range resources(tpl, "AWS::DynamoDB::Table") {
			sse, _ := props(tb)["SSESpecification"].(map[string]interface{})
			if sse["SSEEnabled"] != true || sse["SSEType"] != "KMS" || !isKey(sse["KMSMasterKeyId"]) {
				t.Errorf("%s/%s: table SSE %v", name, id, sse)
			}
		}
	}
	if n := len(resources(fixture.centralTpl, "AWS::SNS::Topic")); n != 2 {
		t.Errorf("central stack has %d topics, want 2 (findings, operations)", n)
	}
}

func TestTopicsAndQueuesRefuseNonTLS(t *testing.T) {
	for name, tpl := range templates() {
		guarded := map[string]bool{}
		for _, typ := range []string{"AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"} {
			for _, p := range resources(tpl, typ) {
				doc := props(p)["PolicyDocument"].(map[string]interface{})
				for _, st := range asList(doc["Statement"]) {
					s := st.(map[string]interface{})
					if s["Effect"] == "Deny" && isTLSGuard(s) {
						targets := props(p)["Queues"]
						if typ == "AWS::SNS::TopicPolicy" {
							targets = props(p)["Topics"]
						}
						for _, q := range asList(targets) {
							guarded[ref(q)] = true
						}
					}
				}
			}
		}
		for _, typ := range []string{"AWS::SQS::Queue", "AWS::SNS::Topic"} {
			for id := range resources(tpl, typ) {
				if !guarded[id] {
					t.Errorf("%s/%s (%s) has no TLS-only policy", name, id, typ)
				}
			}
		}
	}
}

// dlqRefs returns the queues used as dead-letter queues, by who uses them.
func dlqRefs(tpl map[string]interface{}) map[string]string {
	used := map[string]string{}
	for id, q := range resources(tpl, "AWS::SQS::Queue") {
		if rp, ok := props(q)["RedrivePolicy"].(map[string]interface{}); ok {
			used[ref(rp["deadLetterTargetArn"])] = "redrive of " + id
		}
	}
	for id, r := range resources(tpl, "AWS::Events::Rule") {
		for _, tg := range asList(props(r)["Targets"]) {
			if dl, ok := tg.(map[string]interface{})["DeadLetterConfig"].(map[string]interface{}); ok {
				used[ref(dl["Arn"])] = "target DLQ of " + id
			}
		}
	}
	for id, s := range resources(tpl, "AWS::SNS::Subscription") {
		if rp, ok := props(s)["RedrivePolicy"].(map[string]interface{}); ok {
			used[ref(rp["deadLetterTargetArn"])] = "subscription DLQ of " + id
		}
	}
	return used
}

func TestDeadLetterQueuesWhereverMessagesFlow(t *testing.T) {
	for name, tpl := range templates() {
		dlqs := dlqRefs(tpl)
		for id, q := range resources(tpl, "AWS::SQS::Queue") {
			if _, isDLQ := dlqs[id]; isDLQ {
				if props(q)["MessageRetentionPeriod"] != float64(14*24*3600) {
					t.Errorf("%s/%s: DLQ retention %v, want 14 days", name, id, props(q)["MessageRetentionPeriod"])
				}
				continue
			}
			rp, ok := props(q)["RedrivePolicy"].(map[string]interface{})
			if !ok {
				t.Errorf("%s/%s: queue receives messages but has no DLQ", name, id)
				continue
			}
			if rp["maxReceiveCount"] != float64(5) {
				t.Errorf("%s/%s: maxReceiveCount %v, want 5", name, id, rp["maxReceiveCount"])
			}
		}
		for id, r := range resources(tpl, "AWS::Events::Rule") {
			for _, tg := range asList(props(r)["Targets"]) {
				m := tg.(map[string]interface{})
				if _, ok := m["DeadLetterConfig"]; !ok {
					t.Errorf("%s/%s: target %v has no DLQ", name, id, m["Id"])
				}
				rp, ok := m["RetryPolicy"].(map[string]interface{})
				if !ok || rp["MaximumRetryAttempts"] == nil || rp["MaximumEventAgeInSeconds"] == nil {
					t.Errorf("%s/%s: target %v retry policy %v", name, id, m["Id"], m["RetryPolicy"])
				}
			}
		}
		for id, s := range resources(tpl, "AWS::SNS::Subscription") {
			if props(s)["Protocol"] == "sqs" {
				if _, ok := props(s)["RedrivePolicy"]; !ok {
					t.Errorf("%s/%s: SQS subscription without a DLQ", name, id)
				}
			}
		}
	}
	if n := len(dlqRefs(fixture.centralTpl)); n != 8 {
		t.Errorf("central stack has %d DLQs, want 8 (ingest, ingest target, notify, notify subscription, ip-ranges schedule, security hub, security hub subscription, forwarder alarms)", n)
	}
}

// alarmsOn returns the alarms by metric name and the logical ID of the
// queue or function in their dimensions.
func alarmsOn(tpl map[string]interface{}) map[string]map[string]map[string]interface{} {
	out := map[string]map[string]map[string]interface{}{}
	for _, a := range resources(tpl, "AWS::CloudWatch::Alarm") {
		p := props(a)
		metric, _ := p["MetricName"].(string)
		target := ""
		for _, d := range asList(p["Dimensions"]) {
			if v := ref(d.(map[string]interface{})["Value"]); v != "" {
				target = v
			}
		}
		if out[metric] == nil {
			out[metric] = map[string]map[string]interface{}{}
		}
		out[metric][target] = p
	}
	return out
}

func TestAlarms(t *testing.T) {
	alarms := alarmsOn(fixture.centralTpl)
	opsTopic := *fixture.central.GetResourceId(jsii.String("AWS::SNS::Topic"), map[string]interface{}{
		"Properties": map[string]interface{}{"DisplayName": "Trailwatch operations"},
	})
	check := func(metric, target string) {
		t.Helper()
		a, ok := alarms[metric][target]
		if !ok {
			t.Errorf("no %s alarm on %q", metric, target)
			return
		}
		actions := asList(a["AlarmActions"])
		if len(actions) != 1 || ref(actions[0]) != opsTopic {
			t.Errorf("%s alarm on %q: actions %v, want the operations topic %s", metric, target, actions, opsTopic)
		}
	}
	for dlq := range dlqRefs(fixture.centralTpl) {
		check("ApproximateNumberOfMessagesVisible", dlq)
	}
	for id := range resources(fixture.centralTpl, "AWS::Lambda::Function") {
		check("Errors", id)
		check("Throttles", id)
	}
	ingest := *fixture.central.GetResourceId(jsii.String("AWS::SQS::Queue"), map[string]interface{}{
		"Properties": map[string]interface{}{"VisibilityTimeout": 360},
	})
	check("ApproximateAgeOfOldestMessage", ingest)
	for _, m := range []string{"ConfigReloadFailures", "UnusableStates"} {
		check(m, "")
		if ns := alarms[m][""]["Namespace"]; ns != "Trailwatch" {
			t.Errorf("%s namespace %v", m, ns)
		}
	}
	want := len(dlqRefs(fixture.centralTpl)) + 2*len(resources(fixture.centralTpl, "AWS::Lambda::Function")) + 5
	if n := len(resources(fixture.centralTpl, "AWS::CloudWatch::Alarm")); n != want {
		t.Errorf("%d alarms, want %d (one per DLQ, two per function, ingest age, config reload, unusable states, silent sources, no heartbeat checks)", n, want)
	}
	// The forwarder's DLQ is watched too.
	for dlq := range dlqRefs(fixture.fwdTpl) {
		if _, ok := alarmsOn(fixture.fwdTpl)["ApproximateNumberOfMessagesVisible"][dlq]; !ok {
			t.Errorf("forwarder DLQ %s has no alarm", dlq)
		}
	}
}

func TestDashboardShowsTheEMFMetrics(t *testing.T) {
	boards := resources(fixture.centralTpl, "AWS::CloudWatch::Dashboard")
	if len(boards) != 1 {
		t.Fatalf("%d dashboards, want 1", len(boards))
	}
	for _, b := range boards {
		body, _ := json.Marshal(props(b)["DashboardBody"])
		for _, m := range []string{"EventsProcessed", "EventsSkipped", "Findings", "WebhookLatency", "WebhookFailures", "ConfigReloadFailures"} {
			if !strings.Contains(string(body), `MetricName=\\\"`+m+`\\\"`) {
				t.Errorf("dashboard does not graph %s", m)
			}
		}
		if !strings.Contains(string(body), `Namespace=\\\"Trailwatch\\\"`) {
			t.Errorf("dashboard does not use namespace Trailwatch")
		}
	}
}

func TestBaselinesTable(t *testing.T) {
	noPanic(t, "BaselinesTable", func() {
		fixture.central.HasResource(jsii.String("AWS::DynamoDB::Table"), map[string]interface{}{
			"DeletionPolicy":      "Retain",
			"UpdateReplacePolicy": "Retain",
		})
	})
	tb, ok := resources(fixture.centralTpl, "AWS::DynamoDB::Table")["BaselinesTable"]
	if !ok {
		t.Fatal("no table with the stable logical ID BaselinesTable")
	}
	p := props(tb)
	want := map[string]interface{}{
		"BillingMode": "PAY_PER_REQUEST",
		"KeySchema": []interface{}{
			map[string]interface{}{"AttributeName": "pk", "KeyType": "HASH"},
			map[string]interface{}{"AttributeName": "sk", "KeyType": "RANGE"},
		},
		"AttributeDefinitions": []interface{}{
			map[string]interface{}{"AttributeName": "pk", "AttributeType": "S"},
			map[string]interface{}{"AttributeName": "sk", "AttributeType": "S"},
		},
		"PointInTimeRecoverySpecification": map[string]interface{}{"PointInTimeRecoveryEnabled": true},
		"TimeToLiveSpecification":          map[string]interface{}{"AttributeName": "expires_at", "Enabled": true},
		"DeletionProtectionEnabled":        true,
	}
	for k, v := range want {
		if !reflect.DeepEqual(p[k], v) {
			t.Errorf("BaselinesTable %s = %v, want %v", k, p[k], v)
		}
	}
	if tb["DeletionPolicy"] != "Retain" {
		t.Errorf("BaselinesTable DeletionPolicy %v", tb["DeletionPolicy"])
	}
}

func TestFunctions(t *testing.T) {
	fns := resources(fixture.centralTpl, "AWS::Lambda::Function")
	if len(fns) != 4 {
		t.Fatalf("%d functions, want 4", len(fns))
	}
	wantEnv := map[string][]string{
		"securityhub": {"LOG_LEVEL", "NOTIFY_SINK", "SECURITYHUB_PRODUCT_ARN"},
		"detect":      {"AWS_IP_RANGES_FILE", "CONFIG_PARAMETER", "IP_RANGES_BUCKET", "IP_RANGES_KEY", "LOG_LEVEL", "SELF_PROTECTION", "SILENT_HOURS", "TABLE_NAME", "TOPIC_ARN"},
		"ipranges":    {"IP_RANGES_BUCKET", "IP_RANGES_KEY", "LOG_LEVEL"},
		"notify":      {"JIRA_ISSUE_TYPE", "JIRA_PROJECT_KEY", "LOG_LEVEL", "WEBHOOK_FORMAT", "WEBHOOK_SECRET_ARN", "WEBHOOK_URL"},
	}
	secrets := resources(fixture.centralTpl, "AWS::SecretsManager::Secret")
	seen := map[string]bool{}
	for id, f := range fns {
		p := props(f)
		if p["Runtime"] != "provided.al2023" || p["Handler"] != "bootstrap" ||
			!reflect.DeepEqual(p["Architectures"], []interface{}{"arm64"}) {
			t.Errorf("%s: runtime %v handler %v arch %v", id, p["Runtime"], p["Handler"], p["Architectures"])
		}
		if ref(p["Role"]) == "" || ref(asMap(p["LoggingConfig"])["LogGroup"]) == "" {
			t.Errorf("%s: want its own role and explicit log group", id)
		}
		vars := asMap(asMap(p["Environment"])["Variables"])
		names := make([]string, 0, len(vars))
		for k := range vars {
			names = append(names, k)
		}
		sort.Strings(names)
		kind := "detect"
		if _, ok := vars["WEBHOOK_URL"]; ok {
			kind = "notify"
		}
		if _, ok := vars["TABLE_NAME"]; !ok && vars["IP_RANGES_BUCKET"] != nil {
			kind = "ipranges"
		}
		if vars["NOTIFY_SINK"] == "securityhub" {
			kind = "securityhub"
		}
		seen[kind] = true
		if !reflect.DeepEqual(names, wantEnv[kind]) {
			t.Errorf("%s (%s): env %v, want %v", id, kind, names, wantEnv[kind])
		}
		// No secret value in the environment: no dynamic reference, and the
		// only reference to a secret is its ARN in WEBHOOK_SECRET_ARN.
		raw, _ := json.Marshal(vars)
		if strings.Contains(string(raw), "resolve:secretsmanager") || strings.Contains(string(raw), "SecretString") {
			t.Errorf("%s: environment resolves a secret value: %s", id, raw)
		}
		for k, v := range vars {
			if _, isSecret := secrets[ref(v)]; isSecret && k != "WEBHOOK_SECRET_ARN" {
				t.Errorf("%s: %s refers to a secret", id, k)
			}
		}
		if kind == "notify" && ref(vars["WEBHOOK_SECRET_ARN"]) == "" {
			t.Errorf("notify: WEBHOOK_SECRET_ARN %v is not the secret's ARN", vars["WEBHOOK_SECRET_ARN"])
		}
	}
	if !seen["detect"] || !seen["notify"] || !seen["ipranges"] || !seen["securityhub"] {
		t.Errorf("functions seen %v", seen)
	}
	noPanic(t, "event source mappings", func() {
		fixture.central.HasResourceProperties(jsii.String("AWS::Lambda::EventSourceMapping"), map[string]interface{}{
			"BatchSize":                      100,
			"MaximumBatchingWindowInSeconds": 5,
			"FunctionResponseTypes":          []interface{}{"ReportBatchItemFailures"},
		})
		fixture.central.ResourcePropertiesCountIs(jsii.String("AWS::Lambda::EventSourceMapping"), map[string]interface{}{
			"FunctionResponseTypes": []interface{}{"ReportBatchItemFailures"},
		}, jsii.Number(3)) // detect, notify, securityhub
	})
	for id, lg := range resources(fixture.centralTpl, "AWS::Logs::LogGroup") {
		if props(lg)["RetentionInDays"] != float64(90) {
			t.Errorf("%s: retention %v, want 90", id, props(lg)["RetentionInDays"])
		}
	}
}

func asMap(v interface{}) map[string]interface{} {
	m, _ := v.(map[string]interface{})
	if m == nil {
		return map[string]interface{}{}
	}
	return m
}

func TestSubscriptions(t *testing.T) {
	noPanic(t, "subscriptions", func() {
		for email, sevs := range map[string][]interface{}{
			"oncall@example.com":  {"LOW", "MEDIUM", "HIGH", "CRITICAL"}, // listed under LOW and HIGH: the lower wins
			"analyst@example.com": {"LOW", "MEDIUM", "HIGH", "CRITICAL"},
		} {
			fixture.central.HasResourceProperties(jsii.String("AWS::SNS::Subscription"), map[string]interface{}{
				"Protocol":     "email",
				"Endpoint":     email,
				"FilterPolicy": map[string]interface{}{"severity": sevs},
			})
		}
		// The ticket queue gets only what the detect function marks for a
		// ticket under the live config.
		fixture.central.HasResourceProperties(jsii.String("AWS::SNS::Subscription"), map[string]interface{}{
			"Protocol":           "sqs",
			"RawMessageDelivery": false,
			"FilterPolicy":       map[string]interface{}{"ticket": []interface{}{"true"}},
		})
		fixture.central.HasResourceProperties(jsii.String("AWS::SNS::Subscription"), map[string]interface{}{
			"Protocol":     "email",
			"Endpoint":     "ops@example.com",
			"FilterPolicy": assertions.Match_Absent(),
		})
	})
	// oncall@ is subscribed once, not once per severity list.
	n := 0
	for _, s := range resources(fixture.centralTpl, "AWS::SNS::Subscription") {
		if props(s)["Endpoint"] == "oncall@example.com" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("oncall@example.com subscribed %d times", n)
	}
}

func TestThresholdsParameterHoldsTheFile(t *testing.T) {
	noPanic(t, "thresholds parameter", func() {
		fixture.central.HasResourceProperties(jsii.String("AWS::SSM::Parameter"), map[string]interface{}{
			"Type":  "String",
			"Value": fixture.thresholds,
			"Tier":  "Standard",
		})
	})
}

func TestForwarderIsStackSetReady(t *testing.T) {
	tpl := fixture.fwdTpl
	if _, ok := asMap(tpl["Parameters"])["BootstrapVersion"]; ok {
		t.Error("forwarder template needs a bootstrapped account (BootstrapVersion parameter)")
	}
	if _, ok := tpl["Rules"]; ok {
		t.Error("forwarder template has a CheckBootstrapVersion rule")
	}
	for id, r := range resources(tpl, "") {
		switch r["Type"] {
		case "AWS::Lambda::Function", "AWS::S3::Bucket", "AWS::CloudFormation::CustomResource":
			t.Errorf("forwarder has %s %s; a StackSet template must be self-contained", r["Type"], id)
		}
	}
	rules := resources(tpl, "AWS::Events::Rule")
	for id, r := range rules {
		targets := asList(props(r)["Targets"])
		if len(targets) != 1 {
			t.Fatalf("%s: %d targets", id, len(targets))
		}
		tg := targets[0].(map[string]interface{})
		if tg["Arn"] != testCentralBusArn {
			t.Errorf("%s: target %v, want the central bus", id, tg["Arn"])
		}
		role := ref(tg["RoleArn"])
		// The role's only permission: events:PutEvents on exactly that bus.
		for pid, p := range resources(tpl, "AWS::IAM::Policy") {
			attached := false
			for _, r := range asList(props(p)["Roles"]) {
				attached = attached || ref(r) == role
			}
			if !attached {
				continue
			}
			doc := props(p)["PolicyDocument"].(map[string]interface{})
			want := []interface{}{map[string]interface{}{"Action": "events:PutEvents", "Effect": "Allow", "Resource": testCentralBusArn}}
			if !reflect.DeepEqual(asList(doc["Statement"]), want) {
				t.Errorf("%s: role policy %v, want %v", pid, doc["Statement"], want)
			}
		}
		trust := props(resources(tpl, "AWS::IAM::Role")[role])["AssumeRolePolicyDocument"]
		raw, _ := json.Marshal(trust)
		if !strings.Contains(string(raw), `"events.amazonaws.com"`) || !strings.Contains(string(raw), "aws:SourceAccount") {
			t.Errorf("forwarder role trust %s", raw)
		}
	}
}
