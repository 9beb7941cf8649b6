package detectors_test

import (
	"testing"

	"github.com/trailwatch/trailwatch/detectors"
	dt "github.com/trailwatch/trailwatch/detectors/detectorstest"
)

// TestCoverageConditions: the conditions added for known attack techniques
// (coverage_conditions.go), each with a call that meets it and a benign
// twin that does not. The caller is in account 111122223333.
func TestCoverageConditions(t *testing.T) {
	tests := []struct {
		name, cond, params string
		fires              bool
	}{
		{"logging off", `param_absent: BucketLoggingStatus.LoggingEnabled`, `{"bucketName":"b","BucketLoggingStatus":{"xmlns":"x"}}`, true},
		{"logging off, empty", `param_absent: BucketLoggingStatus.LoggingEnabled`, `{"BucketLoggingStatus":{"LoggingEnabled":{}}}`, true},
		{"logging on", `param_absent: BucketLoggingStatus.LoggingEnabled`, `{"BucketLoggingStatus":{"LoggingEnabled":{"TargetBucket":"logs"}}}`, false},
		{"at least: number", `param_at_least: {path: items.maxCount, value: "10"}`, `{"items":[{"maxCount":1},{"maxCount":10}]}`, true},
		{"at least: numeric string", `param_at_least: {path: n, value: "10"}`, `{"n":"12"}`, true},
		{"at least: below", `param_at_least: {path: n, value: "10"}`, `{"n":9}`, false},
		{"at least: not a number", `param_at_least: {path: n, value: "10"}`, `{"n":"many"}`, false},
		{"at least: bound not a number", `param_at_least: {path: n, value: ten}`, `{"n":12}`, false},
		{"at most: one day", `param_at_most: {path: Rule.Expiration.Days, value: "7"}`, `{"Rule":[{"Expiration":{"Days":400}},{"Expiration":{"Days":1}}]}`, true},
		{"at most: a year", `param_at_most: {path: Rule.Expiration.Days, value: "7"}`, `{"Rule":{"Expiration":{"Days":365}}}`, false},
		{"at most: absent", `param_at_most: {path: Rule.Expiration.Days, value: "7"}`, `{"Rule":{"Transition":{"Days":1}}}`, false},
		{"policy: outside account", `resource_policy_outside_account: true`, `{"bucketName":"b","bucketPolicy":{"Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:root","arn:aws:iam::444455556666:root"]},"Action":"s3:GetObject","Resource":"*"}]}}`, true},
		{"policy: outside account id, string policy", `resource_policy_outside_account: true`, `{"keyId":"k","policy":"{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"444455556666\"},\"Action\":\"kms:Decrypt\",\"Resource\":\"*\"}}"}`, true},
		{"policy: own account", `resource_policy_outside_account: true`, `{"bucketName":"b","bucketPolicy":{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/r"},"Action":"s3:GetObject","Resource":"*"}]}}`, false},
		{"policy: outside account denied", `resource_policy_outside_account: true`, `{"bucketName":"b","bucketPolicy":{"Statement":[{"Effect":"Deny","Principal":{"AWS":"444455556666"},"Action":"s3:*","Resource":"*"}]}}`, false},
		{"policy: service principal", `resource_policy_outside_account: true`, `{"bucketName":"b","bucketPolicy":{"Statement":[{"Effect":"Allow","Principal":{"Service":"logging.s3.amazonaws.com"},"Action":"s3:PutObject","Resource":"*"}]}}`, false},
		{"policy: unreadable", `resource_policy_outside_account: true`, `{"bucketName":"b","bucketPolicy":"not a policy"}`, true},
		{"lambda: outside account", `resource_policy_outside_account: true`, `{"functionName":"f","principal":"arn:aws:iam::444455556666:root","action":"lambda:InvokeFunction"}`, true},
		{"lambda: own account", `resource_policy_outside_account: true`, `{"functionName":"f","principal":"111122223333"}`, false},
		{"lambda: service", `resource_policy_outside_account: true`, `{"functionName":"f","principal":"s3.amazonaws.com","sourceAccount":"111122223333"}`, false},
		{"replication: other account", `replication_outside_account: true`, `{"bucketName":"b","ReplicationConfiguration":{"Rule":{"Destination":{"Bucket":"arn:aws:s3:::d","Account":"444455556666"}}}}`, true},
		{"replication: owner override", `replication_outside_account: true`, `{"bucketName":"b","ReplicationConfiguration":{"Rule":[{"Destination":{"Bucket":"arn:aws:s3:::d","AccessControlTranslation":{"Owner":"Destination"}}}]}}`, true},
		{"replication: same account", `replication_outside_account: true`, `{"bucketName":"b","ReplicationConfiguration":{"Rule":{"Destination":{"Bucket":"arn:aws:s3:::d","Account":"111122223333"}}}}`, false},
		{"replication: no account", `replication_outside_account: true`, `{"bucketName":"b","ReplicationConfiguration":{"Rule":{"Destination":{"Bucket":"arn:aws:s3:::d"}}}}`, false},
		{"instance: GPU", `instance_type_unusual: true`, `{"instanceType":"g5.xlarge"}`, true},
		{"instance: Trainium", `instance_type_unusual: true`, `{"instanceType":"trn1.32xlarge"}`, true},
		{"instance: Inferentia", `instance_type_unusual: true`, `{"instanceType":"inf2.xlarge"}`, true},
		{"instance: Gaudi", `instance_type_unusual: true`, `{"instanceType":"dl1.24xlarge"}`, true},
		{"instance: 48xlarge", `instance_type_unusual: true`, `{"instanceType":"c6i.48xlarge"}`, true},
		{"instance: metal", `instance_type_unusual: true`, `{"instanceType":"m7i.metal-24xl"}`, true},
		{"instance: launch template", `instance_type_unusual: true`, `{"LaunchTemplateData":{"InstanceType":"p5.48xlarge"}}`, true},
		{"instance: 16xlarge", `instance_type_unusual: true`, `{"instanceType":"r6i.16xlarge"}`, false},
		{"instance: graviton", `instance_type_unusual: true`, `{"instanceType":"m7g.large"}`, false},
		{"instance: t3.micro", `instance_type_unusual: true`, `{"instanceType":"t3.micro"}`, false},
		{"instance: none", `instance_type_unusual: true`, `{"launchTemplate":{"launchTemplateId":"lt-1"}}`, false},
		{"session: admin", `session_policy_admin: true`, `{"name":"n","policy":"{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}]}"}`, true},
		{"session: narrow", `session_policy_admin: true`, `{"name":"n","policy":"{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::r/*\"}]}"}`, false},
		{"session: none", `session_policy_admin: true`, `{"name":"n"}`, false},
		{"web ACL: allow, no rules", `web_acl_allows_all: true`, `{"name":"w","defaultAction":{"allow":{}},"rules":[]}`, true},
		{"web ACL: PascalCase, rules absent", `web_acl_allows_all: true`, `{"Name":"w","DefaultAction":{"Allow":{}}}`, true},
		{"web ACL: allow with rules", `web_acl_allows_all: true`, `{"name":"w","defaultAction":{"allow":{}},"rules":[{"name":"common"}]}`, false},
		{"web ACL: block", `web_acl_allows_all: true`, `{"name":"w","defaultAction":{"block":{}},"rules":[]}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, errs := detectors.CompileRules(userRules(t, "- id: probe\n  apis: [ssm:*]\n  when:\n    - "+tt.cond+"\n  category: c\n  base_score: 0.5"+okExamples), "t.yaml")
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			cfg := detectors.DefaultConfig()
			cfg.Rules = set
			ev := dt.Event(alice, "ssm:PutParameter", at(10, 10, 0), dt.Params(tt.params))
			c := &detectors.Context{Baseline: detectors.NewBaseline(alice), Config: cfg, Name: "alice"}
			sigs := detectors.HighRiskAction{}.Check(c, &ev)
			if got := len(sigs) == 1 && sigs[0].Evidence["rule"] == "probe"; got != tt.fires {
				t.Errorf("fired = %v, want %v (%+v)", got, tt.fires, sigs)
			}
		})
	}
}
