package infra

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/trailwatch/trailwatch/infra/internal/backfill"
	"github.com/trailwatch/trailwatch/infra/internal/secure"
)

const (
	testArchiveBucket = "org-trail-archive"
	testArchiveKey    = "arn:aws:kms:eu-west-1:111122223333:key/11111111-2222-3333-4444-555555555555"
)

// warmStartApp is the app synthesized with -c warmStart=true (once).
var warmStartApp = sync.OnceValues(func() (*Stacks, error) {
	funcs := fixture.funcsDir
	if err := os.MkdirAll(filepath.Join(funcs, backfill.FunctionName), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(funcs, backfill.FunctionName, "bootstrap"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		return nil, err
	}
	app, err := newTestApp(filepath.Join(filepath.Dir(funcs), "cdk.out.warm"), map[string]interface{}{
		"functionsDir":                    funcs,
		"thresholdsFile":                  filepath.Join(filepath.Dir(funcs), "thresholds.yaml"),
		backfill.ContextEnable:            "true",
		backfill.ContextBucket:            testArchiveBucket,
		backfill.ContextKey:               testArchiveKey,
		backfill.ContextMaxConcurrency:    "7",
		backfill.ContextToleratedFailures: "1",
	})
	if err != nil {
		return nil, err
	}
	cfg, err := ConfigFromContext(app.Node())
	if err != nil {
		return nil, err
	}
	return Build(app, cfg)
})

func warmStartTemplate(t *testing.T) (*Stacks, map[string]interface{}) {
	t.Helper()
	stacks, err := warmStartApp()
	if err != nil {
		t.Fatal(err)
	}
	var tpl map[string]interface{}
	noPanic(t, "synthesize with warmStart=true", func() {
		tpl = *assertions.Template_FromStack(stacks.Central.Stack, nil).ToJSON()
	})
	if tpl == nil {
		t.FailNow()
	}
	return stacks, tpl
}

// TestWarmStartOffByDefault: the default synth has no state machine and
// no backfill function.
func TestWarmStartOffByDefault(t *testing.T) {
	if n := len(resources(fixture.centralTpl, "AWS::StepFunctions::StateMachine")); n != 0 {
		t.Errorf("%d state machines without warmStart", n)
	}
	for id, fn := range resources(fixture.centralTpl, "AWS::Lambda::Function") {
		if d, _ := props(fn)["Description"].(string); strings.Contains(d, "backfill") {
			t.Errorf("function %s (%s) without warmStart", id, d)
		}
	}
	if fixture.stacks.Central.WarmStart != nil {
		t.Error("Central.WarmStart set without warmStart")
	}
}

// joinString renders an Fn::Join of strings and references, references as
// <ref>.
func joinString(v interface{}) string {
	if s, ok := v.(string); ok {
		return s
	}
	j := asList(asMap(v)["Fn::Join"])
	if len(j) != 2 {
		return "<ref>"
	}
	var b strings.Builder
	for i, p := range asList(j[1]) {
		if i > 0 {
			b.WriteString(j[0].(string))
		}
		b.WriteString(joinString(p))
	}
	return b.String()
}

// TestWarmStartStateMachine checks the definition: list the accounts, a
// Distributed Map over them (its items from the list, at most
// warmStartMaxConcurrency at a time, warmStartToleratedFailures), and per
// account the backfill invoked in a loop until its answer says done, every
// invocation retried on Lambda's errors and on BackfillError; logged (ALL,
// to an encrypted log group) and traced.
func TestWarmStartStateMachine(t *testing.T) {
	stacks, tpl := warmStartTemplate(t)
	if stacks.Central.WarmStart == nil {
		t.Fatal("Central.WarmStart not set with warmStart=true")
	}
	sms := resources(tpl, "AWS::StepFunctions::StateMachine")
	if len(sms) != 1 {
		t.Fatalf("%d state machines, want 1", len(sms))
	}
	var sm map[string]interface{}
	for _, r := range sms {
		sm = props(r)
	}
	var def struct {
		StartAt string
		States  map[string]map[string]interface{}
	}
	raw := joinString(sm["DefinitionString"])
	if err := json.Unmarshal([]byte(raw), &def); err != nil {
		t.Fatalf("definition: %v\n%s", err, raw)
	}
	t.Logf("definition: %s", raw)
	list := def.States[def.StartAt]
	if def.StartAt != "ListAccounts" || list["Type"] != "Task" || !strings.HasSuffix(fmt.Sprint(list["Resource"]), ":states:::lambda:invoke") ||
		asMap(asMap(list["Parameters"])["Payload"])["list_accounts"] != true || list["ResultPath"] != "$.list" || list["Next"] != "Accounts" {
		t.Errorf("first state %s: %v", def.StartAt, list)
	}
	retried := func(name string, st map[string]interface{}, want ...string) {
		var errs []string
		for _, r := range asList(st["Retry"]) {
			for _, e := range asList(asMap(r)["ErrorEquals"]) {
				errs = append(errs, e.(string))
			}
		}
		for _, w := range want {
			if !slices.Contains(errs, w) {
				t.Errorf("%s: no retry on %s (retries on %v)", name, w, errs)
			}
		}
		if slices.Contains(errs, "States.ALL") || slices.Contains(errs, "InputError") || slices.Contains(errs, "NoProgressError") {
			t.Errorf("%s retries on %v: an input error or no progress would loop", name, errs)
		}
	}
	retried("ListAccounts", list, backfill.LambdaServiceErrors...)

	m := def.States["Accounts"]
	pc := asMap(asMap(m["ItemProcessor"])["ProcessorConfig"])
	if m["Type"] != "Map" || pc["Mode"] != "DISTRIBUTED" || pc["ExecutionType"] != "STANDARD" ||
		m["ItemsPath"] != "$.list.accounts" || m["MaxConcurrency"] != 7.0 || m["ToleratedFailureCount"] != 1.0 || m["End"] != true {
		t.Errorf("map state: %v", m)
	}
	sel := asMap(m["ItemSelector"])
	for k, v := range map[string]string{"account.$": "$$.Map.Item.Value.account", "prefix.$": "$$.Map.Item.Value.prefix", "bucket.$": "$.bucket", "since.$": "$.since", "until.$": "$.until"} {
		if sel[k] != v {
			t.Errorf("ItemSelector %s = %v, want %s", k, sel[k], v)
		}
	}
	var proc struct {
		StartAt string
		States  map[string]map[string]interface{}
	}
	b, _ := json.Marshal(asMap(m["ItemProcessor"]))
	if err := json.Unmarshal(b, &proc); err != nil {
		t.Fatal(err)
	}
	task, choice := proc.States[proc.StartAt], proc.States["Done?"]
	if proc.StartAt != "BackfillAccount" || task["Type"] != "Task" || task["Next"] != "Done?" || task["ResultPath"] != "$.result" {
		t.Errorf("per-account task %s: %v", proc.StartAt, task)
	}
	for _, k := range []string{"bucket.$", "prefix.$", "account.$", "since.$", "until.$"} {
		if asMap(asMap(task["Parameters"])["Payload"])[k] == nil {
			t.Errorf("per-account payload lacks %s: %v", k, task["Parameters"])
		}
	}
	retried("BackfillAccount", task, append(backfill.LambdaServiceErrors, backfill.FunctionErrors...)...)
	cs := asList(choice["Choices"])
	if choice["Type"] != "Choice" || len(cs) != 1 || asMap(cs[0])["Variable"] != "$.result.done" || asMap(cs[0])["BooleanEquals"] != true ||
		choice["Default"] != "BackfillAccount" || proc.States[fmt.Sprint(asMap(cs[0])["Next"])]["End"] != true {
		t.Errorf("the loop: %v", choice)
	}

	lc := asMap(sm["LoggingConfiguration"])
	if lc["Level"] != "ALL" || asMap(sm["TracingConfiguration"])["Enabled"] != true {
		t.Errorf("logging %v, tracing %v", lc, sm["TracingConfiguration"])
	}
	for id, lg := range resources(tpl, "AWS::Logs::LogGroup") {
		if strings.HasPrefix(id, "WarmStart") && props(lg)["KmsKeyId"] == nil {
			t.Errorf("log group %s is not encrypted", id)
		}
	}
}

// TestWarmStartPolicies: the function reads only the archive bucket (and
// decrypts with its key through S3), writes only the baselines table with
// the item actions of a backfill, and reads the thresholds and AWS's
// ranges as detect does; the state machine invokes only that function;
// no wildcard action anywhere in the stack.
func TestWarmStartPolicies(t *testing.T) {
	_, tpl := warmStartTemplate(t)
	fnRole, smRole := "", ""
	for id, r := range resources(tpl, "AWS::IAM::Role") {
		switch {
		case strings.HasPrefix(id, "WarmStartFunctionRole"):
			fnRole = id
		case strings.HasPrefix(id, "WarmStartStateMachineRole"):
			smRole = id
		}
		_ = r
	}
	if fnRole == "" || smRole == "" {
		t.Fatalf("roles: function %q, state machine %q", fnRole, smRole)
	}
	grants := map[string][]string{} // role -> "action resource" lines
	for id, r := range resources(tpl, "AWS::IAM::Policy") {
		p := props(r)
		for _, role := range asList(p["Roles"]) {
			for _, s := range asList(asMap(p["PolicyDocument"])["Statement"]) {
				st := asMap(s)
				for _, a := range asList(st["Action"]) {
					if wildcardAction.MatchString(a.(string)) {
						t.Errorf("%s: wildcard action %v", id, a)
					}
					for _, res := range asList(st["Resource"]) {
						b, _ := json.Marshal(res)
						grants[ref(role)] = append(grants[ref(role)], a.(string)+" "+joinString(res)+" "+string(b))
					}
				}
			}
		}
	}
	fn := grants[fnRole]
	sort.Strings(fn)
	t.Logf("function grants:\n%s", strings.Join(fn, "\n"))
	actions := map[string]bool{}
	for _, g := range fn {
		action, res, _ := strings.Cut(g, " ")
		actions[action] = true
		switch {
		case strings.HasPrefix(action, "s3:"):
			if (action == "s3:ListBucket" && !strings.HasPrefix(res, "arn:<ref>:s3:::"+testArchiveBucket+" ")) ||
				(action == "s3:GetObject" && !strings.HasPrefix(res, "arn:<ref>:s3:::"+testArchiveBucket+"/AWSLogs/* ") && !strings.Contains(res, "IPRangesBucket")) {
				t.Errorf("function: %s", g)
			}
		case strings.HasPrefix(action, "dynamodb:"):
			if !slices.Contains(backfill.TableActions, action) || !strings.Contains(res, "BaselinesTable") {
				t.Errorf("function: %s", g)
			}
		case action == "kms:Decrypt" && strings.HasPrefix(res, testArchiveKey+" "):
		case strings.HasPrefix(action, "kms:"):
			if !strings.Contains(res, "StateKey") && !strings.Contains(res, "IPRangesKey") {
				t.Errorf("function: %s", g)
			}
		case strings.HasPrefix(action, "ssm:"), strings.HasPrefix(action, "logs:"):
		default:
			t.Errorf("function: unexpected grant %s", g)
		}
	}
	for _, want := range append([]string{"s3:ListBucket", "s3:GetObject", "kms:Decrypt", "ssm:GetParameter"}, backfill.TableActions...) {
		if !actions[want] {
			t.Errorf("function lacks %s", want)
		}
	}
	for _, g := range grants[smRole] {
		action, res, _ := strings.Cut(g, " ")
		if strings.HasPrefix(action, "lambda:") && (action != "lambda:InvokeFunction" || !strings.Contains(res, "WarmStartFunction") || strings.Contains(res, ":*")) {
			t.Errorf("state machine: %s", g)
		}
		if strings.HasPrefix(action, "s3:") || strings.HasPrefix(action, "dynamodb:") {
			t.Errorf("state machine: %s", g)
		}
	}
}

// TestWarmStartCdkNagClean: cdk-nag's AwsSolutions checks find nothing
// unsuppressed in the stack with the warm start, and each suppression the
// warm start adds has a reason and is limited to the findings it names.
func TestWarmStartCdkNagClean(t *testing.T) {
	stacks, tpl := warmStartTemplate(t)
	ann := assertions.Annotations_FromStack(stacks.Central.Stack)
	nag := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
	for _, m := range *ann.FindError(jsii.String("*"), nag) {
		t.Errorf("unsuppressed cdk-nag error at %s: %v", *m.Id, m.Entry.Data)
	}
	for _, m := range *ann.FindWarning(jsii.String("*"), nag) {
		t.Errorf("unsuppressed cdk-nag warning at %s: %v", *m.Id, m.Entry.Data)
	}
	for _, m := range *ann.FindError(jsii.String("*"), assertions.Match_AnyValue()) {
		t.Errorf("error at %s: %v", *m.Id, m.Entry.Data)
	}
	for id, r := range resources(tpl, "") {
		if !strings.HasPrefix(id, "WarmStart") {
			continue
		}
		for _, s := range asList(asMap(asMap(r["Metadata"])["cdk_nag"])["rules_to_suppress"]) {
			m := asMap(s)
			if reason, _ := m["reason"].(string); len(reason) < secure.MinReasonLength {
				t.Errorf("%s: suppression %v without a reason", id, m["id"])
			}
			if m["id"] == "AwsSolutions-IAM5" && len(asList(m["applies_to"])) == 0 {
				t.Errorf("%s: IAM5 suppressed for every finding, not the ones named", id)
			}
		}
	}
}
