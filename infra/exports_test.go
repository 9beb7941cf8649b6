package infra

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/jsii-runtime-go"

	"github.com/trailwatch/trailwatch/infra/internal/forwarder"
)

// TestSecurityHubExport: with securityHub=true the notify code runs a second
// time as the Security Hub sink, fed by its own queue (every finding), and
// may call securityhub:BatchImportFindings on this account's default
// product only.
func TestSecurityHubExport(t *testing.T) {
	tpl := fixture.centralTpl
	var fnID string
	for id, fn := range resources(tpl, "AWS::Lambda::Function") {
		env := asMap(asMap(props(fn)["Environment"])["Variables"])
		if env["NOTIFY_SINK"] == "securityhub" {
			if fnID != "" {
				t.Fatalf("two Security Hub functions: %s, %s", fnID, id)
			}
			fnID = id
			arn, _ := json.Marshal(env["SECURITYHUB_PRODUCT_ARN"])
			for _, part := range []string{`"arn:"`, `AWS::Partition`, `:securityhub:`, `AWS::Region`, `AWS::AccountId`, `:product/`, `/default`} {
				if !strings.Contains(string(arn), part) {
					t.Errorf("SECURITYHUB_PRODUCT_ARN %s lacks %s", arn, part)
				}
			}
		}
	}
	if fnID == "" {
		t.Fatal("no function with NOTIFY_SINK=securityhub")
	}
	role := ref(props(resources(tpl, "AWS::Lambda::Function")[fnID])["Role"])
	var found int
	for _, p := range resources(tpl, "AWS::IAM::Policy") {
		attached := false
		for _, r := range asList(props(p)["Roles"]) {
			attached = attached || ref(r) == role
		}
		if !attached {
			continue
		}
		for _, st := range asList(asMap(props(p)["PolicyDocument"])["Statement"]) {
			st := asMap(st)
			for _, a := range asList(st["Action"]) {
				if !strings.HasPrefix(a.(string), "securityhub:") {
					continue
				}
				found++
				res, _ := json.Marshal(st["Resource"])
				if a != "securityhub:BatchImportFindings" || !strings.Contains(string(res), ":product/") || strings.Contains(string(res), `"*"`) {
					t.Errorf("Security Hub permission %v on %s; want BatchImportFindings on the default product only", a, res)
				}
			}
		}
	}
	if found != 1 {
		t.Errorf("%d Security Hub actions granted, want exactly securityhub:BatchImportFindings", found)
	}
	// Its queue is subscribed to the findings topic without a filter.
	subscribed := false
	for _, m := range resources(tpl, "AWS::Lambda::EventSourceMapping") {
		if ref(props(m)["FunctionName"]) != fnID {
			continue
		}
		q := ref(props(m)["EventSourceArn"])
		for _, s := range resources(tpl, "AWS::SNS::Subscription") {
			if ref(props(s)["Endpoint"]) == q {
				subscribed = true
				if _, filtered := props(s)["FilterPolicy"]; filtered {
					t.Error("the Security Hub subscription filters findings; it should import every routed finding")
				}
			}
		}
	}
	if !subscribed {
		t.Error("the Security Hub function's queue is not subscribed to the findings topic")
	}
}

// TestForwarderAlarmReachesCentralOperations: the forwarder's DLQ alarm
// state changes are forwarded to the central bus, where a rule sends them
// to the operations topic (with a DLQ of its own).
func TestForwarderAlarmReachesCentralOperations(t *testing.T) {
	fwd := fixture.fwdTpl
	var alarmID string
	for id, a := range resources(fwd, "AWS::CloudWatch::Alarm") {
		if props(a)["AlarmName"] == forwarder.AlarmName {
			alarmID = id
		}
	}
	if alarmID == "" {
		t.Fatalf("forwarder has no alarm named %s", forwarder.AlarmName)
	}
	forwarded := false
	for _, r := range resources(fwd, "AWS::Events::Rule") {
		pat := asMap(props(r)["EventPattern"])
		if fmtList(pat["source"]) == "aws.cloudwatch" && ref(asList(pat["resources"])[0]) == alarmID {
			tg := asMap(asList(props(r)["Targets"])[0])
			forwarded = tg["Arn"] == testCentralBusArn
		}
	}
	if !forwarded {
		t.Error("no forwarder rule sends the DLQ alarm's state changes to the central bus")
	}

	central := fixture.centralTpl
	opsTopic := *fixture.central.GetResourceId(jsii.String("AWS::SNS::Topic"), map[string]interface{}{
		"Properties": map[string]interface{}{"DisplayName": "Trailwatch operations"},
	})
	routed := false
	for id, r := range resources(central, "AWS::Events::Rule") {
		p := props(r)
		pat := asMap(p["EventPattern"])
		if fmtList(pat["source"]) != "aws.cloudwatch" {
			continue
		}
		if fmtList(asMap(pat["detail"])["alarmName"]) != forwarder.AlarmName || ref(p["EventBusName"]) == "" {
			t.Errorf("%s: pattern %v on bus %v; want the forwarder alarm on the central bus", id, pat, p["EventBusName"])
		}
		tg := asMap(asList(p["Targets"])[0])
		routed = ref(tg["Arn"]) == opsTopic && tg["DeadLetterConfig"] != nil && tg["InputTransformer"] != nil
	}
	if !routed {
		t.Error("no central rule routes the forwarder alarms to the operations topic")
	}
}

func fmtList(v interface{}) string {
	var parts []string
	for _, x := range asList(v) {
		if s, ok := x.(string); ok {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ",")
}

// TestHeartbeatAlarms: the operations topic hears of an account and region
// silent for silentHours (SilentSources > 0) and of a pipeline that
// received nothing at all for as long (HeartbeatChecks missing, treated as
// breaching, in every one of silentHours hourly periods).
func TestHeartbeatAlarms(t *testing.T) {
	alarms := alarmsOn(fixture.centralTpl)
	opsTopic := *fixture.central.GetResourceId(jsii.String("AWS::SNS::Topic"), map[string]interface{}{
		"Properties": map[string]interface{}{"DisplayName": "Trailwatch operations"},
	})
	tests := []struct {
		metric, op, missing string
		threshold, periods  float64
	}{
		{"SilentSources", "GreaterThanThreshold", "notBreaching", 0, 1},
		{"HeartbeatChecks", "LessThanThreshold", "breaching", 1, 24},
	}
	for _, tt := range tests {
		a, ok := alarms[tt.metric][""]
		if !ok {
			t.Errorf("no %s alarm", tt.metric)
			continue
		}
		if a["Namespace"] != "Trailwatch" || a["Period"] != float64(3600) || a["ComparisonOperator"] != tt.op ||
			a["Threshold"] != tt.threshold || a["TreatMissingData"] != tt.missing || a["EvaluationPeriods"] != tt.periods {
			t.Errorf("%s alarm: %v", tt.metric, a)
		}
		if tt.periods > 1 && a["DatapointsToAlarm"] != tt.periods {
			t.Errorf("%s: DatapointsToAlarm %v, want every one of the %v periods", tt.metric, a["DatapointsToAlarm"], tt.periods)
		}
		if actions := asList(a["AlarmActions"]); len(actions) != 1 || ref(actions[0]) != opsTopic {
			t.Errorf("%s alarm actions %v, want the operations topic", tt.metric, actions)
		}
	}
	env := asMap(asMap(props(resources(fixture.centralTpl, "AWS::Lambda::Function")[detectFunctionID(t)])["Environment"])["Variables"])
	if env["SILENT_HOURS"] != "24" {
		t.Errorf("detect SILENT_HOURS %v, want the default 24", env["SILENT_HOURS"])
	}
}

// TestHeartbeatGrantIsOnePartition: detect's UpdateItem and Query are
// limited to the heartbeat partition.
func TestHeartbeatGrantIsOnePartition(t *testing.T) {
	role := ref(props(resources(fixture.centralTpl, "AWS::Lambda::Function")[detectFunctionID(t)])["Role"])
	found := 0
	for _, p := range resources(fixture.centralTpl, "AWS::IAM::Policy") {
		attached := false
		for _, r := range asList(props(p)["Roles"]) {
			attached = attached || ref(r) == role
		}
		if !attached {
			continue
		}
		for _, st := range asList(asMap(props(p)["PolicyDocument"])["Statement"]) {
			st := asMap(st)
			for _, a := range asList(st["Action"]) {
				if a != "dynamodb:UpdateItem" && a != "dynamodb:Query" {
					continue
				}
				found++
				keys := asMap(asMap(st["Condition"])["ForAllValues:StringEquals"])["dynamodb:LeadingKeys"]
				if fmtList(keys) != "HB#heartbeat" {
					t.Errorf("%s without the heartbeat partition condition: %v", a, st["Condition"])
				}
			}
		}
	}
	if found != 2 {
		t.Errorf("%d heartbeat actions, want UpdateItem and Query", found)
	}
}

func TestSilentHoursValidated(t *testing.T) {
	for _, h := range []int{0, 25} {
		cfg := DefaultConfig()
		cfg.SilentHours = h
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "silentHours") {
			t.Errorf("silentHours %d: err %v", h, err)
		}
	}
}
