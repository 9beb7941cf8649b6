package render

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/detectors"
)

// AWS Security Finding Format limits (AwsSecurityFinding in the Security
// Hub API reference).
const (
	ASFFSchemaVersion      = "2018-10-08"
	ASFFTitleMax           = 256
	ASFFDescriptionMax     = 1024
	ASFFIDMax              = 512
	ASFFGeneratorIDMax     = 512
	ASFFResourceIDMax      = 512
	ASFFResourceTypeMax    = 256
	ASFFProductFieldsMax   = 50
	ASFFProductFieldKeyMax = 128
	ASFFProductFieldValMax = 2048
	// ASFFGeneratorID is the GeneratorId of every Trailwatch finding. The
	// detector can change while a finding escalates; the generator cannot.
	ASFFGeneratorID = "trailwatch"
)

// ASFFFinding is an AwsSecurityFinding for securityhub:BatchImportFindings.
type ASFFFinding struct {
	SchemaVersion   string            `json:"SchemaVersion"`
	ID              string            `json:"Id"`
	ProductArn      string            `json:"ProductArn"`
	GeneratorID     string            `json:"GeneratorId"`
	AwsAccountID    string            `json:"AwsAccountId"`
	Types           []string          `json:"Types"`
	CreatedAt       string            `json:"CreatedAt"`
	UpdatedAt       string            `json:"UpdatedAt"`
	FirstObservedAt string            `json:"FirstObservedAt,omitempty"`
	LastObservedAt  string            `json:"LastObservedAt,omitempty"`
	Severity        ASFFSeverity      `json:"Severity"`
	Title           string            `json:"Title"`
	Description     string            `json:"Description"`
	Resources       []ASFFResource    `json:"Resources"`
	ProductFields   map[string]string `json:"ProductFields,omitempty"`
	RecordState     string            `json:"RecordState,omitempty"`
}

// ASFFSeverity is the finding severity; Label is one of INFORMATIONAL,
// LOW, MEDIUM, HIGH, CRITICAL.
type ASFFSeverity struct {
	Label    string `json:"Label"`
	Original string `json:"Original,omitempty"`
}

// ASFFResource is a resource the finding is about: the principal.
type ASFFResource struct {
	Type      string `json:"Type"`
	ID        string `json:"Id"`
	Partition string `json:"Partition,omitempty"`
	Region    string `json:"Region,omitempty"`
}

// ASFFTarget is where findings are imported: the Security Hub account and
// region whose default product (a custom integration) receives them.
type ASFFTarget struct {
	AccountID string
	Region    string
}

// Partition is the AWS partition of a region.
func Partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

// ProductArn is the ARN of the target account's default product,
// arn:<partition>:securityhub:<region>:<account>:product/<account>/default.
func (t ASFFTarget) ProductArn() string {
	return fmt.Sprintf("arn:%s:securityhub:%s:%s:product/%s/default", Partition(t.Region), t.Region, t.AccountID, t.AccountID)
}

// ASFF renders a finding as an AwsSecurityFinding for the target's default
// product. Id is the finding ID and CreatedAt its first event, both the
// same on every import of the finding, so Security Hub updates the one
// finding on an escalation or a recurrence; UpdatedAt is now (never
// before the last event), so each import is newer than the previous one.
// AwsAccountId is the importing account (a custom integration imports
// into its own account); the account where the calls happened is the
// resource's and ProductFields "trailwatch/AccountId".
func ASFF(f detectors.Finding, t ASFFTarget, now time.Time) ASFFFinding {
	created := f.FirstEventTime
	if created.IsZero() {
		created = now
	}
	updated := now
	if f.LastEventTime.After(updated) {
		updated = f.LastEventTime
	}
	title := f.Title
	if strings.TrimSpace(title) == "" {
		title = "Trailwatch finding " + f.ID
	}
	desc := strings.Join(f.Reasons, " ")
	if strings.TrimSpace(desc) == "" {
		desc = title
	}
	region := f.Region
	if region == "" {
		region = t.Region
	}
	fields := map[string]string{
		"trailwatch/Detector":  f.Detector,
		"trailwatch/Score":     strconv.FormatFloat(f.Score, 'f', 3, 64),
		"trailwatch/Principal": f.Principal,
		"trailwatch/AccountId": f.AccountID,
		"trailwatch/Region":    f.Region,
		"trailwatch/Count":     strconv.Itoa(f.Count),
		"trailwatch/EventIds":  strings.Join(f.EventIDs, ","),
		"trailwatch/Calls":     strings.Join(f.EventNames, ","),
		"trailwatch/Mode":      string(f.Mode),
	}
	for k, v := range fields {
		if v == "" {
			delete(fields, k)
			continue
		}
		fields[k] = truncate(v, ASFFProductFieldValMax)
	}
	return ASFFFinding{
		SchemaVersion:   ASFFSchemaVersion,
		ID:              truncate(f.ID, ASFFIDMax),
		ProductArn:      t.ProductArn(),
		GeneratorID:     ASFFGeneratorID,
		AwsAccountID:    t.AccountID,
		Types:           []string{"Unusual Behaviors/User/" + asffClassifier(f.Detector)},
		CreatedAt:       asffTime(created),
		UpdatedAt:       asffTime(updated),
		FirstObservedAt: asffTime(f.FirstEventTime),
		LastObservedAt:  asffTime(f.LastEventTime),
		Severity:        ASFFSeverity{Label: ASFFSeverityLabel(f.Severity), Original: f.Severity.String()},
		Title:           truncate(oneLine(title), ASFFTitleMax),
		Description:     truncate(oneLine(desc), ASFFDescriptionMax),
		Resources:       []ASFFResource{asffResource(f, region)},
		ProductFields:   fields,
		RecordState:     "ACTIVE",
	}
}

// ASFFSeverityLabel maps a finding severity to Severity.Label.
func ASFFSeverityLabel(s detectors.Severity) string {
	switch {
	case s >= detectors.SeverityCritical:
		return "CRITICAL"
	case s == detectors.SeverityHigh:
		return "HIGH"
	case s == detectors.SeverityMedium:
		return "MEDIUM"
	case s == detectors.SeverityLow:
		return "LOW"
	}
	return "INFORMATIONAL"
}

// asffResource is the principal as a resource: an IAM user or role when
// its ARN says so, otherwise Other with the baseline key.
func asffResource(f detectors.Finding, region string) ASFFResource {
	r := ASFFResource{Type: "Other", ID: f.PrincipalARN, Partition: Partition(region), Region: region}
	if r.ID == "" {
		r.ID = f.Principal
	}
	if r.ID == "" {
		r.ID = "account/" + f.AccountID
	}
	if _, res, ok := strings.Cut(r.ID, ":iam::"); ok {
		if _, name, ok := strings.Cut(res, ":"); ok {
			switch {
			case strings.HasPrefix(name, "user/"):
				r.Type = "AwsIamUser"
			case strings.HasPrefix(name, "role/"):
				r.Type = "AwsIamRole"
			}
		}
	}
	r.ID = truncate(r.ID, ASFFResourceIDMax)
	return r
}

// asffClassifier makes a detector ID usable as the last part of a type
// (namespace/category/classifier): no slashes.
func asffClassifier(detector string) string {
	if detector == "" {
		return "anomaly"
	}
	return strings.ReplaceAll(detector, "/", "-")
}

// asffTime formats a time as ASFF wants it (RFC 3339, UTC), "" for zero.
func asffTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}
