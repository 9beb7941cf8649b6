package detectors_test

import (
	"strings"
	"testing"

	"github.com/trailwatch/trailwatch/detectors"
	dt "github.com/trailwatch/trailwatch/detectors/detectorstest"
	"github.com/trailwatch/trailwatch/events"
)

// TestHighRiskParamsWhitespace: the same request parameters, compact as
// CloudTrail writes them or indented as people paste them into tests and
// tools, are judged the same.
func TestHighRiskParamsWhitespace(t *testing.T) {
	cases := []struct{ api, compact, indented string }{
		{"ec2:ModifySnapshotAttribute",
			`{"snapshotId":"snap-1","createVolumePermission":{"add":{"items":[{"group":"all"}]}}}`,
			`{"snapshotId": "snap-1", "createVolumePermission": {"add": {"items": [{"group": "all"}]}}}`},
		{"cloudtrail:PutEventSelectors",
			`{"trailName":"org","eventSelectors":[{"readWriteType":"All","includeManagementEvents":false}]}`,
			`{"trailName": "org", "eventSelectors": [{"readWriteType": "All", "includeManagementEvents": false}]}`},
		{"ec2:AuthorizeSecurityGroupIngress",
			`{"groupId":"sg-1","ipPermissions":{"items":[{"fromPort":22,"ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"}]}}]}}`,
			`{"groupId": "sg-1", "ipPermissions": {"items": [{"fromPort": 22, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}`},
	}
	b := detectors.NewBaseline(alice)
	c := &detectors.Context{Baseline: b, Config: detectors.DefaultConfig(), Name: "alice"}
	for _, tc := range cases {
		compact := dt.Event(alice, tc.api, at(10, 10, 0), dt.Params(tc.compact))
		if len(detectors.HighRiskAction{}.Check(c, &compact)) == 0 {
			t.Errorf("%s: compact parameters not flagged", tc.api)
			continue
		}
		t.Run(tc.api, func(t *testing.T) {
			indented := dt.Event(alice, tc.api, at(10, 10, 0), dt.Params(tc.indented))
			if len(detectors.HighRiskAction{}.Check(c, &indented)) == 0 {
				t.Errorf("%s: indented parameters not flagged", tc.api)
			}
		})
	}
}

// TestHighRiskUnreadableParams: a policy, ACL or rule that is present but
// cannot be read is flagged in the lesser form (Trailwatch cannot vouch
// for it: at most the MEDIUM floor, a base of at most 0.6); one that is
// absent is not judged at all.
func TestHighRiskUnreadableParams(t *testing.T) {
	cases := []struct {
		name, api, params string
		fires             bool
	}{
		{"bucket policy not JSON", "s3:PutBucketPolicy", `{"bucketName":"b","bucketPolicy":"{\"Statement\":[{\"Effect\":\"Allow\""}`, true},
		{"inline policy with an object for Action", "iam:PutUserPolicy", `{"userName":"carol","policyDocument":"{\"Statement\":{\"Effect\":\"Allow\",\"Action\":{\"x\":1},\"Resource\":\"*\"}}"}`, true},
		{"trust policy not JSON", "iam:UpdateAssumeRolePolicy", `{"roleName":"r","policyDocument":"%7Bbroken"}`, true},
		{"security group permissions of the wrong type", "ec2:AuthorizeSecurityGroupIngress", `{"groupId":"sg-1","ipPermissions":{"items":[{"ipRanges":{"items":[{"cidrIp":["0.0.0.0/0"]}]}}]}}`, true},
		{"ACL grant of the wrong type", "s3:PutBucketAcl", `{"bucketName":"b","x-amz-acl":{"value":"public-read"}}`, true},
		{"bucket policy absent", "s3:PutBucketPolicy", `{"bucketName":"b","policy":""}`, false},
		{"inline policy absent", "iam:PutUserPolicy", `{"userName":"carol"}`, false},
		{"no parameters", "ec2:AuthorizeSecurityGroupIngress", ``, false},
		{"null parameters", "s3:PutBucketAcl", `null`, false},
	}
	b := detectors.NewBaseline(alice)
	c := &detectors.Context{Baseline: b, Config: detectors.DefaultConfig(), Name: "alice"}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var opts []dt.Opt
			if tc.params != "" {
				opts = append(opts, dt.Params(tc.params))
			}
			ev := dt.Event(alice, tc.api, at(10, 10, 0), opts...)
			sigs := detectors.HighRiskAction{}.Check(c, &ev)
			if !tc.fires {
				if len(sigs) != 0 {
					t.Errorf("unexpected signal: %s", sigs[0].Reason)
				}
				return
			}
			if len(sigs) != 1 {
				t.Fatalf("%d signals, want 1", len(sigs))
			}
			s := sigs[0]
			t.Logf("%s score %.2f floor %s", s.Reason, s.Score, s.Floor)
			if s.Score <= 0 || s.Score > 0.6 || s.Floor > detectors.SeverityMedium {
				t.Errorf("score %.2f floor %s, want the lesser form (0 < score <= 0.6, floor at most MEDIUM)", s.Score, s.Floor)
			}
			if !strings.Contains(s.Title, "could not read") {
				t.Errorf("title %q does not say the parameters could not be read", s.Title)
			}
		})
	}
}

// TestRiskHistoryAfterMigration: a baseline migrated from a model that
// kept only APIs (RiskSince set) judges a high-risk API it used before the
// migration by the API's history, so upgrading does not make every routine
// risky action "never before"; a risk first taken after the migration is
// judged by its own history.
func TestRiskHistoryAfterMigration(t *testing.T) {
	key := "111122223333:role/dr-copier"
	share := func(acct string, d int) events.Event {
		return dt.Event(key, "ec2:ModifySnapshotAttribute", at(d, 2, 0),
			dt.Params(`{"snapshotId":"snap-1","createVolumePermission":{"add":{"items":[{"userId":"`+acct+`"}]}}}`))
	}
	b := detectors.NewBaseline(key)
	for d := 1; d <= 20; d++ {
		ev := share("555566667777", d)
		b.Observe(&ev, dt.Forget) // as the older model did: the API only
	}
	b.RiskSince = b.LastDay + 1
	cfg := detectors.DefaultConfig()
	check := func(ev events.Event) detectors.Signal {
		t.Helper()
		c := &detectors.Context{Baseline: b, Config: cfg, Name: "dr-copier"}
		sigs := detectors.HighRiskAction{}.Check(c, &ev)
		if len(sigs) != 1 {
			t.Fatalf("%d signals", len(sigs))
		}
		detectors.Learn(cfg, b, &ev)
		return sigs[0]
	}
	routine := check(share("555566667777", 21))
	if routine.Evidence["history_of"] != "api" || routine.Floor != detectors.SeverityInfo || routine.Score > 0.3 {
		t.Errorf("routine share after migration: %+v; want the API's history, no floor", routine.Evidence)
	}
	again := check(share("555566667777", 22))
	if again.Evidence["history_of"] != "risk" || again.Evidence["days_done_before"] != 1 {
		t.Errorf("second share after migration: %+v; want its own history (1 day)", again.Evidence)
	}
	// Once the rule's risks are kept, a new counterparty is new.
	out := check(share("999988887777", 23))
	if out.Evidence["history_of"] != "risk" || out.Evidence["days_done_before"] != 0 || out.Floor < detectors.SeverityHigh {
		t.Errorf("new counterparty after migration: %+v floor %s; want never before, HIGH", out.Evidence, out.Floor)
	}
}
