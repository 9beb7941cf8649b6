// Package state is the state concern: the DynamoDB table holding every
// principal's baseline and the dedupe state of findings.
package state

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/trailwatch/trailwatch/infra/internal/secure"
)

// TableLogicalID is the CloudFormation logical ID of the baselines table. It
// is pinned so that refactoring the construct tree never replaces the table
// (and with it every learned baseline).
const TableLogicalID = "BaselinesTable"

// TTLAttribute holds the epoch second after which DynamoDB deletes an item.
const TTLAttribute = "expires_at"

// DetectTableActions are the only table actions the detect function gets:
// exactly what baselines.DynamoDB calls. No Query, Scan, UpdateItem or
// DeleteItem (expiry is TTL's job), no table management.
var DetectTableActions = []string{
	"dynamodb:BatchGetItem", // one read per batch (baselines.DynamoDB.Load)
	"dynamodb:PutItem",      // conditional writes and spilled parts
	"dynamodb:GetItem",      // recognising a write whose answer was lost
}

// HeartbeatPartition is the partition of the heartbeat items
// (heartbeat.PartitionKey), the only one detect may update and query.
const HeartbeatPartition = "HB#heartbeat"

// HeartbeatTableActions are the table actions detect gets on the heartbeat
// partition only (condition dynamodb:LeadingKeys): moving a heartbeat
// forward and listing the heartbeats.
var HeartbeatTableActions = []string{"dynamodb:UpdateItem", "dynamodb:Query"}

// State is the constructed state concern.
type State struct {
	Table awsdynamodb.Table
	Key   awskms.Key
}

// New creates the state construct id.
func New(scope constructs.Construct, id string) *State {
	c := constructs.NewConstruct(scope, jsii.String(id))
	s := &State{}
	s.Key = secure.NewKey(c, "Key", "Trailwatch baselines table")
	s.Table = awsdynamodb.NewTable(c, jsii.String("Baselines"), &awsdynamodb.TableProps{
		PartitionKey:  &awsdynamodb.Attribute{Name: jsii.String("pk"), Type: awsdynamodb.AttributeType_STRING},
		SortKey:       &awsdynamodb.Attribute{Name: jsii.String("sk"), Type: awsdynamodb.AttributeType_STRING},
		BillingMode:   awsdynamodb.BillingMode_PAY_PER_REQUEST,
		Encryption:    awsdynamodb.TableEncryption_CUSTOMER_MANAGED,
		EncryptionKey: s.Key,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		TimeToLiveAttribute: jsii.String(TTLAttribute),
		DeletionProtection:  jsii.Bool(true),
		RemovalPolicy:       awscdk.RemovalPolicy_RETAIN,
	})
	s.Table.Node().DefaultChild().(awscdk.CfnResource).OverrideLogicalId(jsii.String(TableLogicalID))
	return s
}

// GrantDetect gives grantee the DetectTableActions on the table, the
// HeartbeatTableActions on the heartbeat partition only, and the KMS
// actions DynamoDB needs on the table key, only through DynamoDB.
func (s *State) GrantDetect(grantee awsiam.IGrantable) {
	grantee.GrantPrincipal().AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("BaselinesTableData"),
		Actions:   jsii.Strings(DetectTableActions...),
		Resources: jsii.Strings(*s.Table.TableArn()),
	}))
	grantee.GrantPrincipal().AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("HeartbeatItems"),
		Actions:   jsii.Strings(HeartbeatTableActions...),
		Resources: jsii.Strings(*s.Table.TableArn()),
		Conditions: &map[string]interface{}{
			"ForAllValues:StringEquals": map[string]interface{}{"dynamodb:LeadingKeys": []interface{}{HeartbeatPartition}},
		},
	}))
	grantee.GrantPrincipal().AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("BaselinesTableKey"),
		Actions:   jsii.Strings("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"),
		Resources: jsii.Strings(*s.Key.KeyArn()),
		Conditions: &map[string]interface{}{
			"StringEquals": map[string]interface{}{
				"kms:ViaService": "dynamodb." + *awscdk.Stack_Of(s.Table).Region() + ".amazonaws.com",
			},
		},
	}))
}
