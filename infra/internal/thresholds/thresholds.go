// Package thresholds is the detector configuration concern: thresholds.yaml,
// read when the app is synthesized, deployed as an SSM String parameter that
// the detect function reads (and reloads without a redeploy).
package thresholds

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsssm"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// DefaultConfig is deployed when the thresholds file does not exist: a
// document with only the version, under which the detectors use their
// built-in defaults (it must pass `trailwatch validate`).
const DefaultConfig = `# Trailwatch detector configuration (embedded default).
# No thresholds.yaml was found when the CDK app was synthesized, so the
# detectors run with their built-in defaults. Deploy your own with
#   npx cdk deploy TrailwatchCentral -c thresholdsFile=path/to/thresholds.yaml
# or edit this parameter: the detect function reloads it without a redeploy.
version: 1
`

const (
	standardLimit = 4096
	advancedLimit = 8192
)

// Load returns the content of path, or DefaultConfig (and false) when the
// file does not exist. Any other read error, an empty file or a file larger
// than an SSM parameter can hold is an error.
func Load(path string) (content string, fromFile bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return DefaultConfig, false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read thresholds file: %w", err)
	}
	if strings.TrimSpace(string(b)) == "" {
		return "", false, fmt.Errorf("thresholds file %s is empty", path)
	}
	if len(b) > advancedLimit {
		return "", false, fmt.Errorf("thresholds file %s is %d bytes; an SSM parameter holds at most %d", path, len(b), advancedLimit)
	}
	return string(b), true, nil
}

// Thresholds is the constructed configuration parameter.
type Thresholds struct {
	Parameter awsssm.StringParameter
}

// New creates the parameter construct id holding content.
func New(scope constructs.Construct, id, content, source string) *Thresholds {
	tier := awsssm.ParameterTier_STANDARD
	if len(content) > standardLimit {
		tier = awsssm.ParameterTier_ADVANCED
	}
	p := awsssm.NewStringParameter(scope, jsii.String(id), &awsssm.StringParameterProps{
		Description: jsii.String("Trailwatch detector thresholds and suppressions (thresholds.yaml), from " + source),
		StringValue: jsii.String(content),
		Tier:        tier,
	})
	return &Thresholds{Parameter: p}
}

// GrantRead gives grantee ssm:GetParameter on the parameter and nothing else.
func (t *Thresholds) GrantRead(grantee awsiam.IGrantable) {
	grantee.GrantPrincipal().AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("ThresholdsParameter"),
		Actions:   jsii.Strings("ssm:GetParameter"),
		Resources: jsii.Strings(*t.Parameter.ParameterArn()),
	}))
}
