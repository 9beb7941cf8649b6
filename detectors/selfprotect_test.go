package detectors_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/baselines"
	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/detectors/rulestest"
	"github.com/trailwatch/trailwatch/events"
)

// Names as CloudFormation derives them for the deployed central stack, and
// identifiers only the CDK app knows (passed as SELF_PROTECTION).
const (
	spFunction = "TrailwatchCentral-DetectFunction5E3C9172-Xy12Ab34Cd56"
	spQueueURL = "https://sqs.us-east-1.amazonaws.com/111122223333/TrailwatchCentral-IngestionQueue4F2A1B3C-AbCdEf123456"
	spTopic    = "arn:aws:sns:us-east-1:111122223333:TrailwatchCentral-FindingsTopic1A2B3C4D-Q1w2E3r4T5y6"
	spTable    = "TrailwatchCentral-StateTable12AB34CD-1A2B3C4D5E6F"
	spKeyID    = "1234abcd-12ab-34cd-56ef-1234567890ab"
	spParam    = "CFN-Thresholds8F7E6D5C-AbCdEfGh1234"
	spBucket   = "trailwatchcentral-iprangesbucket1a2b3c4d-abcdef123456"
)

// spDeployed is the protection the CDK app passes for the names above.
var spDeployed = detectors.Protection{Resources: []string{
	"function/" + spFunction, "queue/TrailwatchCentral-IngestionQueue4F2A1B3C-AbCdEf123456",
	"topic/TrailwatchCentral-FindingsTopic1A2B3C4D-Q1w2E3r4T5y6", "table/" + spTable,
	"key/" + spKeyID, "parameter/" + spParam, "bucket/" + spBucket,
}}

// cfnExecRole is the identity of the CDK bootstrap's CloudFormation
// execution role acting for a deployment.
var cfnExecRole = map[string]any{
	"type":        "AssumedRole",
	"principalId": "AROAEXAMPLECFNEXEC:AWSCloudFormation",
	"arn":         "arn:aws:sts::111122223333:assumed-role/cdk-hnb659fds-cfn-exec-role-111122223333-us-east-1/AWSCloudFormation",
	"accountId":   "111122223333",
	"invokedBy":   "cloudformation.amazonaws.com",
	"sessionContext": map[string]any{
		"sessionIssuer": map[string]any{"type": "Role", "principalId": "AROAEXAMPLECFNEXEC", "arn": "arn:aws:iam::111122223333:role/cdk-hnb659fds-cfn-exec-role-111122223333-us-east-1", "accountId": "111122223333", "userName": "cdk-hnb659fds-cfn-exec-role-111122223333-us-east-1"},
		"attributes":    map[string]any{"creationDate": "2025-03-10T10:14:00Z", "mfaAuthenticated": "false"},
	},
}

type spCall struct {
	kind, source, name, params, response string
}

// spCalls change one protected resource of each kind.
var spCalls = []spCall{
	{"bus", "events", "PutPermission", `{"eventBusName":"trailwatch-central","action":"events:PutEvents","principal":"*","statementId":"x"}`, ""},
	{"rule", "events", "DisableRule", `{"name":"TrailwatchCentral-IngestionCentralBusRule1A2B3C4D-AbCdEfGh12","eventBusName":"trailwatch-central"}`, ""},
	{"rule targets", "events", "RemoveTargets", `{"rule":"TrailwatchCentral-IngestionDefaultBusRule9F8E7D6C-ZyXwVu98","ids":["Target0"]}`, ""},
	{"queue", "sqs", "DeleteQueue", `{"queueUrl":"` + spQueueURL + `"}`, ""},
	{"function code", "lambda", "UpdateFunctionCode20150331v2", `{"functionName":"` + spFunction + `"}`, ""},
	{"function configuration", "lambda", "UpdateFunctionConfiguration20150331v2", `{"functionName":"arn:aws:lambda:us-east-1:111122223333:function:` + spFunction + `:$LATEST"}`, ""},
	{"function concurrency", "lambda", "PutFunctionConcurrency20171031", `{"functionName":"` + spFunction + `","reservedConcurrentExecutions":0}`, ""},
	{"event source mapping", "lambda", "UpdateEventSourceMapping20150331", `{"uUID":"6d9bce8e","enabled":false}`, `{"uUID":"6d9bce8e","functionArn":"arn:aws:lambda:us-east-1:111122223333:function:` + spFunction + `","state":"Disabling"}`},
	{"table", "dynamodb", "UpdateTimeToLive", `{"tableName":"` + spTable + `","timeToLiveSpecification":{"enabled":false,"attributeName":"ttl"}}`, ""},
	{"topic", "sns", "DeleteTopic", `{"topicArn":"` + spTopic + `"}`, ""},
	{"subscription", "sns", "Unsubscribe", `{"subscriptionArn":"` + spTopic + `:0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"}`, ""},
	{"parameter", "ssm", "PutParameter", `{"name":"` + spParam + `","type":"String","overwrite":true}`, ""},
	{"parameters", "ssm", "DeleteParameters", `{"names":["unrelated","/` + spParam + `"]}`, ""},
	{"key", "kms", "ScheduleKeyDeletion", `{"keyId":"arn:aws:kms:us-east-1:111122223333:key/` + spKeyID + `","pendingWindowInDays":7}`, ""},
	{"key policy", "kms", "PutKeyPolicy", `{"keyId":"` + spKeyID + `","policyName":"default"}`, ""},
	{"bucket", "s3", "DeleteBucketPolicy", `{"bucketName":"` + spBucket + `"}`, ""},
	{"stack", "cloudformation", "DeleteStack", `{"stackName":"TrailwatchCentral"}`, ""},
	{"stackset", "cloudformation", "UpdateStackSet", `{"stackSetName":"trailwatch-forwarder"}`, ""},
	{"log group", "logs", "PutRetentionPolicy", `{"logGroupName":"/aws/lambda/` + spFunction + `","retentionInDays":1}`, ""},
	{"alarm", "monitoring", "DeleteAlarms", `{"alarmNames":["TrailwatchCentral-IngestDLQ"]}`, ""},
	{"role", "iam", "DetachRolePolicy", `{"roleName":"TrailwatchCentral-DetectFunctionServiceRole1A2B3C-AbCd","policyArn":"arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}`, ""},
}

// spRecord is a CloudTrail record of the call, by alice unless identity
// says otherwise.
func spRecord(t *testing.T, c spCall, identity map[string]any, eventTime string) []byte {
	t.Helper()
	rec := rulestest.ExampleDefaults()
	rec["eventID"] = "sp-" + c.name + "-" + eventTime
	rec["eventSource"] = c.source + ".amazonaws.com"
	rec["eventName"] = c.name
	rec["eventTime"] = eventTime
	rec["requestParameters"] = json.RawMessage(c.params)
	if c.response != "" {
		rec["responseElements"] = json.RawMessage(c.response)
	}
	if identity != nil {
		rec["userIdentity"] = identity
		rec["sourceIPAddress"] = "cloudformation.amazonaws.com"
		rec["userAgent"] = "cloudformation.amazonaws.com"
	}
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// spRun runs records through an engine with cfg and returns the updates'
// severities and the high-risk rules their findings carry.
func spRun(t *testing.T, cfg *detectors.Config, store detectors.Store, raws ...[]byte) (sevs []detectors.Severity, rules []string) {
	t.Helper()
	var evs []events.Event
	n := &events.Normalizer{Keying: cfg.Keying}
	for _, raw := range raws {
		var recs []*events.Record
		d := events.Decoder{Record: func(r *events.Record) { recs = append(recs, r) }}
		if err := d.Decode(strings.NewReader(string(raw))); err != nil || len(recs) != 1 {
			t.Fatalf("decode: %v (%d records)", err, len(recs))
		}
		ev, err := n.NormalizeSelected(recs[0])
		if err != nil {
			t.Fatalf("not selected: %v", err)
		}
		evs = append(evs, ev)
	}
	eng := detectors.NewEngine(cfg, store, nil)
	eng.Clock = func() time.Time { return evs[len(evs)-1].Time.Add(time.Minute) }
	out, err := eng.Process(context.Background(), evs)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range out.Updates {
		sevs = append(sevs, u.Finding.Severity)
		sigs, _ := u.Finding.Evidence["signals"].([]any)
		for _, s := range sigs {
			if m, _ := s.(map[string]any); m["detector"] == detectors.IDHighRiskAction {
				r, _ := m["rule"].(string)
				rules = append(rules, r)
			}
		}
	}
	return sevs, rules
}

func spConfig(t *testing.T, p *detectors.Protection) *detectors.Config {
	t.Helper()
	cfg := detectors.DefaultConfig()
	if p != nil {
		set, err := detectors.NewProtectedSet(*p)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Protected = set
	}
	return cfg
}

// TestSelfProtectionKinds: a change to each kind of Trailwatch resource
// by another principal is CRITICAL; the same change by the deployment
// role produces no finding at all.
func TestSelfProtectionKinds(t *testing.T) {
	cfg := spConfig(t, &spDeployed)
	for _, c := range spCalls {
		t.Run(c.kind, func(t *testing.T) {
			sevs, rules := spRun(t, cfg, baselines.NewMemory(), spRecord(t, c, nil, "2025-03-10T10:15:00Z"))
			if len(sevs) != 1 || sevs[0] != detectors.SeverityCritical || !slices.Equal(rules, []string{"trailwatch-self-protection"}) {
				t.Errorf("another principal: severities %v rules %v, want one CRITICAL by trailwatch-self-protection", sevs, rules)
			}
			sevs, rules = spRun(t, cfg, baselines.NewMemory(), spRecord(t, c, cfnExecRole, "2025-03-10T10:15:00Z"))
			if len(sevs) != 0 {
				t.Errorf("deployment role: severities %v rules %v, want no finding", sevs, rules)
			}
		})
	}
}

// TestSelfProtectionNeedsDeployedNames: the key and the parameter have
// names CloudFormation does not derive from the stack name; only the
// identifiers the CDK app passes protect them, and without them the
// catalog's other rules judge the call as before.
func TestSelfProtectionNeedsDeployedNames(t *testing.T) {
	for _, kind := range []string{"key", "parameter"} {
		i := slices.IndexFunc(spCalls, func(c spCall) bool { return c.kind == kind })
		_, rules := spRun(t, spConfig(t, nil), baselines.NewMemory(), spRecord(t, spCalls[i], nil, "2025-03-10T10:15:00Z"))
		if slices.Contains(rules, "trailwatch-self-protection") {
			t.Errorf("%s: self-protection fired without the deployed names", kind)
		}
	}
}

// TestSelfProtectionLookAlikes: resources whose names resemble ours, and
// the default bus, are not protected.
func TestSelfProtectionLookAlikes(t *testing.T) {
	cfg := spConfig(t, &spDeployed)
	for _, c := range []spCall{
		{"queue of another stack", "sqs", "DeleteQueue", `{"queueUrl":"https://sqs.us-east-1.amazonaws.com/111122223333/TrailwatchCentralDev-IngestionQueue4F2A1B3C-AbCdEf123456"}`, ""},
		{"function without the stack dash", "lambda", "PutFunctionConcurrency20171031", `{"functionName":"TrailwatchCentralDetect"}`, ""},
		{"function of another stack", "lambda", "UpdateFunctionCode20150331v2", `{"functionName":"MyTrailwatchCentral-Detect"}`, ""},
		{"default bus", "events", "PutPermission", `{"action":"events:PutEvents","principal":"123456789012","statementId":"x"}`, ""},
		{"another key", "kms", "ScheduleKeyDeletion", `{"keyId":"1234abcd-12ab-34cd-56ef-1234567890ac","pendingWindowInDays":7}`, ""},
		{"another parameter", "ssm", "PutParameter", `{"name":"` + spParam + `-copy","type":"String"}`, ""},
		{"stack named alike", "cloudformation", "DeleteStack", `{"stackName":"TrailwatchCentral2"}`, ""},
		{"topic named alike", "sns", "DeleteTopic", `{"topicArn":"arn:aws:sns:us-east-1:111122223333:TrailwatchCentral"}`, ""},
	} {
		t.Run(c.kind, func(t *testing.T) {
			_, rules := spRun(t, cfg, baselines.NewMemory(), spRecord(t, c, nil, "2025-03-10T10:15:00Z"))
			if slices.Contains(rules, "trailwatch-self-protection") {
				t.Errorf("self-protection fired on a look-alike")
			}
		})
	}
}

// TestSelfProtectionHistory: a principal that changed Trailwatch before is
// still CRITICAL the next time (no history makes it expected).
func TestSelfProtectionHistory(t *testing.T) {
	cfg := spConfig(t, &spDeployed)
	store := baselines.NewMemory()
	c := spCalls[slices.IndexFunc(spCalls, func(c spCall) bool { return c.kind == "function concurrency" })]
	for _, day := range []string{"2025-03-10", "2025-03-12", "2025-04-20"} {
		sevs, _ := spRun(t, cfg, store, spRecord(t, c, nil, day+"T10:15:00Z"))
		if len(sevs) != 1 || sevs[0] != detectors.SeverityCritical {
			t.Errorf("%s: severities %v, want CRITICAL", day, sevs)
		}
	}
}

// TestSelfProtectionDeployers: the deployers added by configuration are
// expected too; an assumed-role ARN without session context is read for
// its role.
func TestSelfProtectionDeployers(t *testing.T) {
	p := spDeployed
	p.Deployers = []string{"arn:aws:iam::111122223333:role/release-*"}
	cfg := spConfig(t, &p)
	c := spCalls[0]
	release := map[string]any{"type": "AssumedRole", "principalId": "AROAREL:ci", "arn": "arn:aws:sts::111122223333:assumed-role/release-pipeline/ci", "accountId": "111122223333"}
	if sevs, _ := spRun(t, cfg, baselines.NewMemory(), spRecord(t, c, release, "2025-03-10T10:15:00Z")); len(sevs) != 0 {
		t.Errorf("configured deployer: severities %v, want none", sevs)
	}
	other := map[string]any{"type": "AssumedRole", "principalId": "AROAREL:ci", "arn": "arn:aws:sts::111122223333:assumed-role/releases/ci", "accountId": "111122223333"}
	if sevs, _ := spRun(t, cfg, baselines.NewMemory(), spRecord(t, c, other, "2025-03-10T10:15:00Z")); len(sevs) != 1 || sevs[0] != detectors.SeverityCritical {
		t.Errorf("role named alike: severities %v, want CRITICAL", sevs)
	}
}

// TestSelfProtectionRuleCoversAPIs: the built-in rule lists exactly the
// APIs whose targets the condition reads.
func TestSelfProtectionRuleCoversAPIs(t *testing.T) {
	for _, r := range detectors.BuiltinRules() {
		if r.ID != "trailwatch-self-protection" {
			continue
		}
		got := slices.Clone(r.APIs)
		slices.Sort(got)
		if want := detectors.ProtectedAPIs(); !slices.Equal(got, want) {
			t.Errorf("rule apis %v\nwant %v", got, want)
		}
		if r.Floor != detectors.SeverityCritical {
			t.Errorf("floor %v, want CRITICAL", r.Floor)
		}
		return
	}
	t.Fatal("no trailwatch-self-protection rule")
}

func TestParseProtection(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{`{"resources":["queue/a","key/1234"],"deployers":["arn:aws:iam::111122223333:role/x"]}`, true},
		{`{}`, true},
		{`{"resources":["nosuchkind/a"]}`, false},
		{`{"resources":["queue/*"]}`, false},
		{`{"resources":["queue"]}`, false},
		{`{"deployers":["*"]}`, false},
		{`{"deployers":["arn:*"]}`, false},
		{`{"resource":["queue/a"]}`, false},
		{`not json`, false},
	} {
		_, err := detectors.ParseProtection(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("%s: error %v, want ok %t", tc.in, err, tc.ok)
		}
	}
}
