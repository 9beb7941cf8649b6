package infra

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/trailwatch/trailwatch/infra/internal/ingest"
)

// TestAdversarialTestEventsOnlyFromCentralAccount: with enableTestEvents and
// an organization, the bus policy lets every account of the organization
// put events on the central bus, and the test-events rule matched source
// trailwatch.test from any of them, so any principal in the organization
// could feed synthetic events to the detectors. The rule now also matches
// the event's account, which EventBridge sets to the account that put it:
// the central stack's own. The benign twin: the rule for CloudTrail events
// forwarded by member accounts has no account condition.
func TestAdversarialTestEventsOnlyFromCentralAccount(t *testing.T) {
	var base map[string]interface{}
	if err := json.Unmarshal([]byte(wantPattern), &base); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		env         *awscdk.Environment
		wantAccount interface{}
	}{
		{"environment-agnostic stack", nil, map[string]interface{}{"Ref": "AWS::AccountId"}},
		{"stack with an explicit account", &awscdk.Environment{Account: jsii.String("210987654321"), Region: jsii.String("eu-west-1")}, "210987654321"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := awscdk.NewApp(&awscdk.AppProps{AutoSynth: jsii.Bool(false), Outdir: jsii.String(t.TempDir())})
			stack := awscdk.NewStack(app, jsii.String("S"), &awscdk.StackProps{Env: tt.env})
			in := ingest.New(stack, "Ingestion", ingest.Props{
				OrganizationID:         testOrgID,
				QueueVisibilityTimeout: awscdk.Duration_Minutes(jsii.Number(6)),
				MaxEventAge:            awscdk.Duration_Hours(jsii.Number(1)),
				RetryAttempts:          3,
				TestEvents:             true,
			})
			tpl := *assertions.Template_FromStack(stack, nil).ToJSON()
			rules := resources(tpl, "AWS::Events::Rule")
			testID := *stack.GetLogicalId(in.TestEventsRule.Node().DefaultChild().(awscdk.CfnElement))
			centralID := *stack.GetLogicalId(in.CentralBusRule.Node().DefaultChild().(awscdk.CfnElement))
			if rules[testID] == nil || rules[centralID] == nil || len(rules) != 3 {
				t.Fatalf("rules %v; want the test-events and central-bus rules among 3", logicalIDs(rules))
			}

			want := map[string]interface{}{}
			for k, v := range base {
				want[k] = v
			}
			want["source"] = []interface{}{ingest.TestSource}
			want["account"] = []interface{}{tt.wantAccount}
			if got := props(rules[testID])["EventPattern"]; !reflect.DeepEqual(got, want) {
				g, _ := json.MarshalIndent(got, "", "  ")
				w, _ := json.MarshalIndent(want, "", "  ")
				t.Errorf("test-events rule pattern\n%s\nwant\n%s", g, w)
			}
			if ref(props(rules[testID])["EventBusName"]) == "" {
				t.Error("the test-events rule is not on the central bus")
			}
			// Member accounts still forward CloudTrail to the central bus.
			if got := props(rules[centralID])["EventPattern"]; !reflect.DeepEqual(got, base) {
				g, _ := json.MarshalIndent(got, "", "  ")
				t.Errorf("central-bus rule pattern changed:\n%s", g)
			}
		})
	}
}

func logicalIDs[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
