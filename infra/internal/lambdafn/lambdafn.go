// Package lambdafn builds a Trailwatch Lambda function the same way for every
// function: the arm64 bootstrap on provided.al2023 (Makefile-built, or from
// a release zip: see Source), its own role with no managed policies, and an
// explicit log group with retention that the role may write to and nothing
// else.
package lambdafn

import (
	"fmt"
	"path/filepath"
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Props configure New.
type Props struct {
	// Description of the function.
	Description string
	// CodeDir is the function's code: the directory holding its bootstrap
	// binary, or a release zip with bootstrap at its root (Source.Code).
	CodeDir string
	// Environment variables; names of resources only, never secret values.
	Environment map[string]string
	// LogRetentionDays must be a value CloudWatch Logs accepts.
	LogRetentionDays int
	// Timeout of one invocation.
	Timeout awscdk.Duration
	// MemoryMB of the function.
	MemoryMB int
	// ReservedConcurrency reserves (and caps) concurrency; 0 means none.
	ReservedConcurrency int
	// LogKey, when set, encrypts the log group (its key policy must let
	// CloudWatch Logs use it).
	LogKey awskms.IKey
}

// Function is a function with its role and log group.
type Function struct {
	Function awslambda.Function
	Role     awsiam.Role
	LogGroup awslogs.LogGroup
}

// New creates the construct id with a function, role and log group.
func New(scope constructs.Construct, id string, p Props) Function {
	c := constructs.NewConstruct(scope, jsii.String(id))
	retention, err := RetentionDays(p.LogRetentionDays)
	if err != nil {
		panic(err) // validated with the configuration before any construct exists
	}
	lg := awslogs.NewLogGroup(c, jsii.String("Logs"), &awslogs.LogGroupProps{
		Retention:     retention,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
		EncryptionKey: p.LogKey,
	})
	role := awsiam.NewRole(c, jsii.String("Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("Trailwatch " + id + " function: only the grants its code needs"),
	})
	// Instead of AWSLambdaBasicExecutionRole (logs on every log group), the
	// role may only write to its own log group.
	lg.GrantWrite(role)

	env := make(map[string]*string, len(p.Environment))
	keys := make([]string, 0, len(p.Environment))
	for k := range p.Environment {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env[k] = jsii.String(p.Environment[k])
	}
	props := &awslambda.FunctionProps{
		Description:  jsii.String(p.Description),
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      jsii.String("bootstrap"),
		Code:         awslambda.Code_FromAsset(jsii.String(p.CodeDir), nil),
		Role:         role,
		LogGroup:     lg,
		Timeout:      p.Timeout,
		MemorySize:   jsii.Number(float64(p.MemoryMB)),
		Environment:  &env,
	}
	if p.ReservedConcurrency > 0 {
		props.ReservedConcurrentExecutions = jsii.Number(float64(p.ReservedConcurrency))
	}
	fn := awslambda.NewFunction(c, jsii.String("Function"), props)
	// The role's policy must exist before the function starts polling.
	fn.Node().AddDependency(role)
	return Function{Function: fn, Role: role, LogGroup: lg}
}

var retentions = map[int]awslogs.RetentionDays{
	1: awslogs.RetentionDays_ONE_DAY, 3: awslogs.RetentionDays_THREE_DAYS,
	5: awslogs.RetentionDays_FIVE_DAYS, 7: awslogs.RetentionDays_ONE_WEEK,
	14: awslogs.RetentionDays_TWO_WEEKS, 30: awslogs.RetentionDays_ONE_MONTH,
	60: awslogs.RetentionDays_TWO_MONTHS, 90: awslogs.RetentionDays_THREE_MONTHS,
	120: awslogs.RetentionDays_FOUR_MONTHS, 150: awslogs.RetentionDays_FIVE_MONTHS,
	180: awslogs.RetentionDays_SIX_MONTHS, 365: awslogs.RetentionDays_ONE_YEAR,
	400: awslogs.RetentionDays_THIRTEEN_MONTHS, 545: awslogs.RetentionDays_EIGHTEEN_MONTHS,
	731: awslogs.RetentionDays_TWO_YEARS, 1096: awslogs.RetentionDays_THREE_YEARS,
	1827: awslogs.RetentionDays_FIVE_YEARS, 2192: awslogs.RetentionDays_SIX_YEARS,
	2557: awslogs.RetentionDays_SEVEN_YEARS, 2922: awslogs.RetentionDays_EIGHT_YEARS,
	3288: awslogs.RetentionDays_NINE_YEARS, 3653: awslogs.RetentionDays_TEN_YEARS,
}

// RetentionDays maps a number of days to the CloudWatch Logs retention
// setting; only the values CloudWatch Logs accepts are valid.
func RetentionDays(days int) (awslogs.RetentionDays, error) {
	r, ok := retentions[days]
	if !ok {
		valid := make([]int, 0, len(retentions))
		for d := range retentions {
			valid = append(valid, d)
		}
		sort.Ints(valid)
		return "", fmt.Errorf("log retention %d days: CloudWatch Logs accepts only %v", days, valid)
	}
	return r, nil
}

// CodeDir returns functionsDir/name.
func CodeDir(functionsDir, name string) string { return filepath.Join(functionsDir, name) }
