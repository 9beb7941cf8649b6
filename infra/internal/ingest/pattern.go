package ingest

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/jsii-runtime-go"
)

// Selection is the CloudTrail selection that the EventBridge rules (central
// and forwarder) apply.
//
// It MUST stay equal to the selection `trailwatch replay` applies in the
// events/ package, so that a backtest sees exactly what production sees:
// source aws.*, one of DetailTypes, and (mutating call OR console sign-in OR
// a call denied for authorization, by AuthorizationDeniedErrorCodes).
// Change both together; the tests in infra/ pin this value.
var Selection = struct {
	// SourcePrefix matches every AWS service source ("aws.ec2", "aws.signin", ...).
	SourcePrefix string
	// DetailTypes are the CloudTrail-delivered EventBridge detail types.
	DetailTypes []string
	// ConsoleSignInEventType is detail.eventType of console sign-ins.
	ConsoleSignInEventType string
	// AuthorizationDeniedErrorCodes are the detail.errorCode values of calls
	// refused for authorization (enumeration attempts), read-only or not.
	AuthorizationDeniedErrorCodes []string
}{
	SourcePrefix:           "aws.",
	DetailTypes:            []string{"AWS API Call via CloudTrail", "AWS Console Sign In via CloudTrail"},
	ConsoleSignInEventType: "AwsConsoleSignIn",
	AuthorizationDeniedErrorCodes: []string{
		"AccessDenied",
		"AccessDeniedException",
		"UnauthorizedOperation",
		"Client.UnauthorizedOperation",
		"UnauthorizedAccess",
		"AuthorizationError",
		"AuthorizationErrorException",
		"NotAuthorized",
		"Forbidden",
		"InvalidClientTokenId",
	},
}

// TestSource is the source of synthetic test events. PutEvents refuses
// sources that start with "aws.", so `aws events put-events` cannot fake a
// CloudTrail event; with enableTestEvents a rule on the central bus accepts
// this source, put by the central account only, with otherwise the same
// selection. It MUST equal events.TestSource (TestTestSourceMatchesInfra):
// the detect function keys such events in a test namespace of their own.
const TestSource = "trailwatch.test"

// TestEventPattern is EventPattern with source TestSource and account
// account (the central stack's own): EventBridge sets an event's account to
// the account that put it, so no other account of the organization, which
// the bus policy lets put events, can send test events.
func TestEventPattern(account *string) *awsevents.EventPattern {
	p := EventPattern()
	p.Source = jsii.Strings(TestSource)
	p.Account = &[]*string{account}
	return p
}

// EventPattern returns the EventBridge pattern for Selection:
//
//	{"source": [{"prefix": "aws."}],
//	 "detail-type": [...DetailTypes],
//	 "detail": {"$or": [{"readOnly": [false]},
//	                    {"eventType": ["AwsConsoleSignIn"]},
//	                    {"errorCode": [...AuthorizationDeniedErrorCodes]}]}}
func EventPattern() *awsevents.EventPattern {
	codes := make([]interface{}, len(Selection.AuthorizationDeniedErrorCodes))
	for i, c := range Selection.AuthorizationDeniedErrorCodes {
		codes[i] = c
	}
	return &awsevents.EventPattern{
		Source:     awsevents.Match_Prefix(jsii.String(Selection.SourcePrefix)),
		DetailType: jsii.Strings(Selection.DetailTypes...),
		Detail: &map[string]interface{}{
			"$or": []interface{}{
				map[string]interface{}{"readOnly": []interface{}{false}},
				map[string]interface{}{"eventType": []interface{}{Selection.ConsoleSignInEventType}},
				map[string]interface{}{"errorCode": codes},
			},
		},
	}
}
