package detectors_test

import (
	"testing"

	"github.com/trailwatch/trailwatch/detectors"
	dt "github.com/trailwatch/trailwatch/detectors/detectorstest"
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
