package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"
	"github.com/aws/smithy-go"

	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/render"
)

// FormatASFF labels the Security Hub sink in metrics and logs. It is not a
// webhook format: SecurityHub delivers it.
const FormatASFF Format = "asff"

// SecurityHubImportAPI is the one Security Hub method SecurityHub calls.
type SecurityHubImportAPI interface {
	BatchImportFindings(ctx context.Context, in *securityhub.BatchImportFindingsInput, optFns ...func(*securityhub.Options)) (*securityhub.BatchImportFindingsOutput, error)
}

// SecurityHub imports findings into AWS Security Hub in the AWS Security
// Finding Format (render.ASFF) through BatchImportFindings, into the
// target account's default product. Every import of one finding has the
// same Id, so an escalation or a recurrence updates the Security Hub
// finding it created.
type SecurityHub struct {
	Client SecurityHubImportAPI
	Target render.ASFFTarget
	// Now is the clock (UpdatedAt); nil means time.Now.
	Now func() time.Time
}

// ParseProductArn reads the target of a default-product ARN,
// arn:<partition>:securityhub:<region>:<account>:product/<account>/default.
func ParseProductArn(arn string) (render.ASFFTarget, error) {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "securityhub" || parts[3] == "" || len(parts[4]) != 12 ||
		parts[5] != "product/"+parts[4]+"/default" {
		return render.ASFFTarget{}, fmt.Errorf("not a Security Hub default product ARN (arn:aws:securityhub:<region>:<account>:product/<account>/default): %q", arn)
	}
	t := render.ASFFTarget{AccountID: parts[4], Region: parts[3]}
	if t.ProductArn() != arn {
		return render.ASFFTarget{}, fmt.Errorf("product ARN %q: partition does not match region %s", arn, t.Region)
	}
	return t, nil
}

// DeliverResult imports one finding. A finding Security Hub refuses
// (FailedFindings, invalid input, access denied) is a *PermanentError; a
// throttled, failed or cut-off call a *RetryableError.
func (s *SecurityHub) DeliverResult(ctx context.Context, f detectors.Finding) (Result, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	start := now()
	res := Result{Attempts: 1, Action: "imported"}
	in := &securityhub.BatchImportFindingsInput{Findings: []shtypes.AwsSecurityFinding{ASFFInput(render.ASFF(f, s.Target, start))}}
	out, err := s.Client.BatchImportFindings(ctx, in)
	res.Latency = now().Sub(start)
	if err != nil {
		res.Action = ""
		var apiErr smithy.APIError
		if errors.As(err, &apiErr) {
			switch apiErr.ErrorCode() {
			case "InvalidInputException", "InvalidAccessException", "AccessDeniedException", "ResourceNotFoundException":
				return res, &PermanentError{Body: apiErr.ErrorCode() + ": " + snip([]byte(apiErr.ErrorMessage())), Attempts: 1}
			}
		}
		reason := "import failed"
		if ctx.Err() != nil {
			reason = "canceled"
		}
		return res, &RetryableError{Reason: reason, Attempts: 1, Err: fmt.Errorf("securityhub:BatchImportFindings: %w", err)}
	}
	if out != nil && len(out.FailedFindings) > 0 {
		res.Action = ""
		e := out.FailedFindings[0]
		return res, &PermanentError{Body: aws.ToString(e.ErrorCode) + ": " + snip([]byte(aws.ToString(e.ErrorMessage))), Attempts: 1}
	}
	return res, nil
}

// ASFFInput converts a rendered finding to the SDK's type.
func ASFFInput(a render.ASFFFinding) shtypes.AwsSecurityFinding {
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return aws.String(s)
	}
	out := shtypes.AwsSecurityFinding{
		SchemaVersion:   aws.String(a.SchemaVersion),
		Id:              aws.String(a.ID),
		ProductArn:      aws.String(a.ProductArn),
		GeneratorId:     aws.String(a.GeneratorID),
		AwsAccountId:    aws.String(a.AwsAccountID),
		Types:           a.Types,
		CreatedAt:       aws.String(a.CreatedAt),
		UpdatedAt:       aws.String(a.UpdatedAt),
		FirstObservedAt: opt(a.FirstObservedAt),
		LastObservedAt:  opt(a.LastObservedAt),
		Severity:        &shtypes.Severity{Label: shtypes.SeverityLabel(a.Severity.Label), Original: opt(a.Severity.Original)},
		Title:           aws.String(a.Title),
		Description:     aws.String(a.Description),
		ProductFields:   a.ProductFields,
		RecordState:     shtypes.RecordState(a.RecordState),
	}
	for _, r := range a.Resources {
		out.Resources = append(out.Resources, shtypes.Resource{
			Type: aws.String(r.Type), Id: aws.String(r.ID),
			Partition: shtypes.Partition(r.Partition), Region: opt(r.Region),
		})
	}
	return out
}
