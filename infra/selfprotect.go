package infra

import (
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// protectedTypes says, per CloudFormation resource type, the
// self-protection kind (detectors.ProtectedKinds) and the attribute that
// gives the identifier API calls name it by ("Ref" for the reference).
// Rules, log groups, roles and alarms are left out to stay well within
// Lambda's 4 KB environment: CloudFormation derives their names from the
// stack name ("TrailwatchCentral-…"), which the built-in protection covers,
// as it covers the central bus (a fixed name) and the stacks. Keys and
// parameters have names the built-in protection cannot know.
var protectedTypes = map[string][2]string{
	"AWS::SQS::Queue":       {"queue", "QueueName"},
	"AWS::Lambda::Function": {"function", "Ref"},
	"AWS::DynamoDB::Table":  {"table", "Ref"},
	"AWS::SNS::Topic":       {"topic", "TopicName"},
	"AWS::SSM::Parameter":   {"parameter", "Ref"},
	"AWS::KMS::Key":         {"key", "Ref"},
	"AWS::S3::Bucket":       {"bucket", "Ref"},
}

// protectedResources lists every resource of stack that self-protection
// guards, as "KIND/identifier" with deploy-time tokens, in a stable order.
// The resources of except (the detect function itself: referring to its
// own name would be a circular dependency; the built-in protection covers
// it by its stack-derived name) are left out.
func protectedResources(stack awscdk.Stack, except ...constructs.IConstruct) []string {
	skip := map[string]bool{}
	for _, c := range except {
		skip[*c.Node().Path()] = true
	}
	var out []string
	for _, child := range *stack.Node().FindAll(constructs.ConstructOrder_PREORDER) {
		if !*awscdk.CfnResource_IsCfnResource(child) || skip[*child.Node().Path()] {
			continue
		}
		r := child.(awscdk.CfnResource)
		t, ok := protectedTypes[*r.CfnResourceType()]
		if !ok {
			continue
		}
		var id *string
		if t[1] == "Ref" {
			id = r.Ref()
		} else {
			id = awscdk.Token_AsString(r.GetAtt(jsii.String(t[1]), awscdk.ResolutionTypeHint_STRING), nil)
		}
		out = append(out, t[0]+"/"+*id)
	}
	sort.Strings(out)
	return out
}
