package infra

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// policyDoc is one policy document found in a template, with what kind of
// policy it is.
type policyDoc struct {
	where     string // stack/logicalID (and policy name)
	identity  bool   // IAM identity policy (attached to a role, user or group)
	keyPolicy bool   // KMS key policy
	trust     bool   // role trust policy
	typ       string
	stmts     []map[string]interface{}
}

// allPolicies walks every policy document of both templates: IAM policies
// and managed policies, roles' inline and trust policies, and the resource
// policies of queues, topics, event buses, keys, secrets and functions.
func allPolicies(t *testing.T) []policyDoc {
	t.Helper()
	var out []policyDoc
	add := func(where, typ string, identity, key, trust bool, doc interface{}) {
		var stmts []map[string]interface{}
		d, ok := doc.(map[string]interface{})
		if !ok {
			t.Errorf("%s: policy document %v", where, doc)
			return
		}
		raw := asList(d["Statement"])
		if _, isStatement := d["Effect"]; isStatement { // EventBusPolicy Statement
			raw = []interface{}{d}
		}
		for _, s := range raw {
			stmts = append(stmts, s.(map[string]interface{}))
		}
		out = append(out, policyDoc{where: where, typ: typ, identity: identity, keyPolicy: key, trust: trust, stmts: stmts})
	}
	for stack, tpl := range templates() {
		for id, r := range resources(tpl, "") {
			p := props(r)
			where := stack + "/" + id
			typ, _ := r["Type"].(string)
			switch typ {
			case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy":
				add(where, typ, true, false, false, p["PolicyDocument"])
			case "AWS::IAM::Role":
				add(where+" (trust)", typ, false, false, true, p["AssumeRolePolicyDocument"])
				for _, ip := range asList(p["Policies"]) {
					m := ip.(map[string]interface{})
					add(fmt.Sprintf("%s (inline %v)", where, m["PolicyName"]), typ, true, false, false, m["PolicyDocument"])
				}
				for _, arn := range asList(p["ManagedPolicyArns"]) {
					t.Errorf("%s: managed policy %v attached; grant what the code needs instead", where, arn)
				}
			case "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy", "AWS::SecretsManager::ResourcePolicy", "AWS::S3::BucketPolicy":
				doc := p["PolicyDocument"]
				if typ == "AWS::SecretsManager::ResourcePolicy" {
					doc = p["ResourcePolicy"]
				}
				add(where, typ, false, false, false, doc)
			case "AWS::Events::EventBusPolicy":
				if st, ok := p["Statement"]; ok {
					add(where, typ, false, false, false, st)
				} else {
					add(where, typ, false, false, false, map[string]interface{}{"Statement": map[string]interface{}{
						"Effect": "Allow", "Action": p["Action"], "Principal": p["Principal"], "Condition": p["Condition"],
					}})
				}
			case "AWS::KMS::Key":
				add(where, typ, false, true, false, p["KeyPolicy"])
			case "AWS::Lambda::Permission":
				add(where, typ, false, false, false, map[string]interface{}{"Statement": map[string]interface{}{
					"Effect": "Allow", "Action": p["Action"], "Principal": p["Principal"], "Resource": p["FunctionName"],
				}})
			case "AWS::DynamoDB::Table":
				if rp, ok := p["ResourcePolicy"]; ok {
					add(where, typ, false, false, false, rp.(map[string]interface{})["PolicyDocument"])
				}
			}
		}
	}
	return out
}

var wildcardAction = regexp.MustCompile(`^(\*|[a-z0-9-]+:\*)$`)

// isTLSGuard reports whether a statement is the standard deny-without-TLS
// guard (CDK enforceSSL): Deny, condition aws:SecureTransport false.
func isTLSGuard(s map[string]interface{}) bool {
	if s["Effect"] != "Deny" {
		return false
	}
	b := asMap(asMap(s["Condition"])["Bool"])
	return b["aws:SecureTransport"] == "false"
}

// Wildcard exceptions, each with its reason:
//
//   - Resource "*" in a KMS key policy means "this key" (a key policy cannot
//     name its own key); allowed only there.
//   - Action "sqs:*" in the TLS-only guard of a queue policy: it is a Deny
//     that must cover every SQS action (cdk-nag AwsSolutions-SQS4 demands
//     exactly this form); a Deny only ever narrows access.
//   - Principal "*" in that Deny guard (applies to everyone), and in the
//     central bus policy where it is limited by aws:PrincipalOrgID.
func TestNoWildcardPermissions(t *testing.T) {
	docs := allPolicies(t)
	if len(docs) < 10 {
		t.Fatalf("found only %d policy documents; the walk is broken", len(docs))
	}
	kinds := map[string]int{}
	for _, d := range docs {
		kinds[d.typ]++
		for i, s := range d.stmts {
			at := fmt.Sprintf("%s statement %d (%v)", d.where, i, s["Sid"])
			if _, ok := s["NotAction"]; ok {
				t.Errorf("%s: NotAction", at)
			}
			if _, ok := s["NotResource"]; ok && s["Effect"] == "Allow" {
				t.Errorf("%s: Allow with NotResource", at)
			}
			if _, ok := s["NotPrincipal"]; ok {
				t.Errorf("%s: NotPrincipal", at)
			}
			for _, a := range asList(s["Action"]) {
				as, ok := a.(string)
				if !ok {
					t.Errorf("%s: action %v is not a literal", at, a)
					continue
				}
				if wildcardAction.MatchString(as) && !isTLSGuard(s) {
					t.Errorf("%s: wildcard action %q", at, as)
				}
			}
			for _, r := range asList(s["Resource"]) {
				if r == "*" && !d.keyPolicy {
					t.Errorf("%s: Resource \"*\" outside a KMS key policy", at)
				}
			}
			if d.identity && s["Resource"] == nil {
				t.Errorf("%s: identity statement without Resource", at)
			}
			if d.trust {
				continue
			}
			// Principals: "*" only in TLS guards and the org-scoped bus policy.
			if p := s["Principal"]; p == "*" || asMap(p)["AWS"] == "*" {
				orgScoped := asMap(asMap(s["Condition"])["StringEquals"])["aws:PrincipalOrgID"] != nil
				if !isTLSGuard(s) && !(d.typ == "AWS::Events::EventBusPolicy" && orgScoped) {
					t.Errorf("%s: Principal * without a deny-TLS or organization condition", at)
				}
			}
			// A service principal in a key or resource policy is scoped by a
			// condition (confused-deputy protection).
			if svc := asMap(s["Principal"])["Service"]; svc != nil && s["Effect"] == "Allow" && !d.identity {
				if len(asMap(s["Condition"])) == 0 {
					t.Errorf("%s: service principal %v without a condition", at, svc)
				}
			}
		}
	}
	for _, k := range []string{"AWS::IAM::Policy", "AWS::IAM::Role", "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy", "AWS::Events::EventBusPolicy", "AWS::KMS::Key"} {
		if kinds[k] == 0 {
			t.Errorf("walked no %s", k)
		}
	}
	t.Logf("walked %d policy documents: %v", len(docs), kinds)
}

// TestKeyPoliciesAreScoped checks each key policy: the account administers
// the key without kms:*, and nobody but this account and conditioned
// service principals is named.
func TestKeyPoliciesAreScoped(t *testing.T) {
	for _, d := range allPolicies(t) {
		if !d.keyPolicy {
			continue
		}
		admin := false
		for _, s := range d.stmts {
			raw, _ := json.Marshal(s["Principal"])
			principal := string(raw)
			switch {
			case strings.Contains(principal, ":root"):
				for _, a := range asList(s["Action"]) {
					admin = admin || a == "kms:PutKeyPolicy" || a == "kms:Put*"
				}
			case strings.Contains(principal, `"Service"`):
			default:
				t.Errorf("%s: unexpected key policy principal %s", d.where, principal)
			}
		}
		if !admin {
			t.Errorf("%s: the account cannot administer the key (lockout)", d.where)
		}
	}
}

// TestDetectGrantsAreNarrow pins the detect role's table permissions.
func TestDetectGrantsAreNarrow(t *testing.T) {
	role := ref(props(resources(fixture.centralTpl, "AWS::Lambda::Function")[detectFunctionID(t)])["Role"])
	var actions []string
	for _, p := range resources(fixture.centralTpl, "AWS::IAM::Policy") {
		attached := false
		for _, r := range asList(props(p)["Roles"]) {
			attached = attached || ref(r) == role
		}
		if !attached {
			continue
		}
		for _, s := range asList(props(p)["PolicyDocument"].(map[string]interface{})["Statement"]) {
			for _, a := range asList(s.(map[string]interface{})["Action"]) {
				actions = append(actions, a.(string))
			}
		}
	}
	want := map[string]bool{
		"logs:CreateLogStream": true, "logs:PutLogEvents": true,
		"dynamodb:GetItem": true, "dynamodb:BatchGetItem": true, "dynamodb:PutItem": true,
		"dynamodb:UpdateItem": true, "dynamodb:Query": true, // heartbeat partition only: TestHeartbeatGrantIsOnePartition
		"kms:Decrypt": true, "kms:Encrypt": true, "kms:GenerateDataKey": true, "kms:DescribeKey": true,
		"sns:Publish": true, "ssm:GetParameter": true, "s3:GetObject": true,
		"sqs:ReceiveMessage": true, "sqs:DeleteMessage": true, "sqs:ChangeMessageVisibility": true,
		"sqs:GetQueueAttributes": true, "sqs:GetQueueUrl": true,
	}
	for _, a := range actions {
		if !want[a] {
			t.Errorf("detect role has unexpected action %s", a)
		}
	}
	if len(actions) == 0 {
		t.Fatal("no detect role policy found")
	}
}

func detectFunctionID(t *testing.T) string {
	t.Helper()
	for id, f := range resources(fixture.centralTpl, "AWS::Lambda::Function") {
		if _, ok := asMap(asMap(props(f)["Environment"])["Variables"])["TABLE_NAME"]; ok {
			return id
		}
	}
	t.Fatal("no detect function")
	return ""
}
