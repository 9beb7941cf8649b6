package render

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/trailwatch/trailwatch/detectors"
)

// asffRule is one field rule of AwsSecurityFinding as the Security Hub API
// reference states it: required or not, and the length limit in characters.
type asffRule struct {
	field    string
	required bool
	max      int
	check    func(v any) error
}

var (
	accountIDRe  = regexp.MustCompile(`^\d{12}$`)
	productArnRe = regexp.MustCompile(`^arn:aws(-cn|-us-gov)?:securityhub:[a-z0-9-]+:(\d{12}):product/(\d{12})/default$`)
	iso8601Re    = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$`)
	typeNS       = map[string]bool{"Software and Configuration Checks": true, "TTPs": true, "Effects": true, "Unusual Behaviors": true, "Sensitive Data Identifications": true}
	labels       = map[string]bool{"INFORMATIONAL": true, "LOW": true, "MEDIUM": true, "HIGH": true, "CRITICAL": true}
)

func isString(v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("want a string, got %T", v)
	}
	return s, nil
}

func matches(re *regexp.Regexp) func(any) error {
	return func(v any) error {
		s, err := isString(v)
		if err == nil && !re.MatchString(s) {
			err = fmt.Errorf("%q does not match %s", s, re)
		}
		return err
	}
}

// asffRules: the required top-level fields of AwsSecurityFinding for
// BatchImportFindings, and the limits of the optional ones we send.
var asffRules = []asffRule{
	{field: "SchemaVersion", required: true, check: func(v any) error {
		if v != "2018-10-08" {
			return fmt.Errorf("%v, want 2018-10-08", v)
		}
		return nil
	}},
	{field: "Id", required: true, max: 512},
	{field: "ProductArn", required: true, max: 512, check: matches(productArnRe)},
	{field: "GeneratorId", required: true, max: 512},
	{field: "AwsAccountId", required: true, check: matches(accountIDRe)},
	{field: "Types", required: true, check: func(v any) error {
		list, ok := v.([]any)
		if !ok || len(list) == 0 || len(list) > 50 {
			return fmt.Errorf("want 1 to 50 types, got %v", v)
		}
		for _, t := range list {
			s, _ := t.(string)
			parts := strings.Split(s, "/")
			if len(parts) < 1 || len(parts) > 3 || !typeNS[parts[0]] {
				return fmt.Errorf("type %q is not namespace/category/classifier with a documented namespace", s)
			}
		}
		return nil
	}},
	{field: "CreatedAt", required: true, check: matches(iso8601Re)},
	{field: "UpdatedAt", required: true, check: matches(iso8601Re)},
	{field: "FirstObservedAt", check: matches(iso8601Re)},
	{field: "LastObservedAt", check: matches(iso8601Re)},
	{field: "Severity", required: true, check: func(v any) error {
		m, ok := v.(map[string]any)
		if !ok || !labels[fmt.Sprint(m["Label"])] {
			return fmt.Errorf("Severity.Label %v not one of INFORMATIONAL, LOW, MEDIUM, HIGH, CRITICAL", v)
		}
		return nil
	}},
	{field: "Title", required: true, max: 256},
	{field: "Description", required: true, max: 1024},
	{field: "Resources", required: true, check: func(v any) error {
		list, ok := v.([]any)
		if !ok || len(list) == 0 || len(list) > 32 {
			return fmt.Errorf("want 1 to 32 resources, got %v", v)
		}
		for _, r := range list {
			m, _ := r.(map[string]any)
			typ, _ := m["Type"].(string)
			id, _ := m["Id"].(string)
			if typ == "" || utf8.RuneCountInString(typ) > 256 || id == "" || utf8.RuneCountInString(id) > 512 {
				return fmt.Errorf("resource Type/Id missing or too long: %q %q", typ, id)
			}
			if p, ok := m["Partition"]; ok && p != "aws" && p != "aws-cn" && p != "aws-us-gov" {
				return fmt.Errorf("resource partition %v", p)
			}
		}
		return nil
	}},
	{field: "ProductFields", check: func(v any) error {
		m, ok := v.(map[string]any)
		if !ok || len(m) > 50 {
			return fmt.Errorf("want at most 50 product fields, got %v", v)
		}
		for k, val := range m {
			s, _ := val.(string)
			if utf8.RuneCountInString(k) > 128 || utf8.RuneCountInString(s) > 2048 || s == "" {
				return fmt.Errorf("product field %q: key or value out of bounds", k)
			}
		}
		return nil
	}},
	{field: "RecordState", check: func(v any) error {
		if v != "ACTIVE" && v != "ARCHIVED" {
			return fmt.Errorf("RecordState %v", v)
		}
		return nil
	}},
}

// validateASFF checks a decoded finding against asffRules and rejects
// fields the rules do not know.
func validateASFF(doc map[string]any) []string {
	var errs []string
	known := map[string]bool{}
	for _, r := range asffRules {
		known[r.field] = true
		v, ok := doc[r.field]
		if !ok {
			if r.required {
				errs = append(errs, r.field+": required field missing")
			}
			continue
		}
		if r.max > 0 {
			s, err := isString(v)
			if err != nil || s == "" || utf8.RuneCountInString(s) > r.max {
				errs = append(errs, fmt.Sprintf("%s: want 1 to %d characters, got %d (%v)", r.field, r.max, utf8.RuneCountInString(s), err))
			}
		}
		if r.check != nil {
			if err := r.check(v); err != nil {
				errs = append(errs, r.field+": "+err.Error())
			}
		}
	}
	for k := range doc {
		if !known[k] {
			errs = append(errs, k+": field not covered by the rules")
		}
	}
	return errs
}

var hub = ASFFTarget{AccountID: "999988887777", Region: "eu-central-1"}

func asffDoc(t *testing.T, a ASFFFinding) map[string]any {
	t.Helper()
	raw, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestASFFFieldsValidate(t *testing.T) {
	for _, f := range sampleFindings(t) {
		t.Run(f.ID, func(t *testing.T) {
			a := ASFF(f, hub, testNow)
			for _, e := range validateASFF(asffDoc(t, a)) {
				t.Error(e)
			}
			if a.ProductArn != "arn:aws:securityhub:eu-central-1:999988887777:product/999988887777/default" {
				t.Errorf("ProductArn %s", a.ProductArn)
			}
			if a.ID != f.ID {
				t.Errorf("Id %q, want the finding ID %q", a.ID, f.ID)
			}
		})
	}
}

func TestASFFValidatorRejects(t *testing.T) {
	good := sampleFindings(t)[1]
	tests := []struct {
		name   string
		break_ func(a *ASFFFinding)
	}{
		{"no schema version", func(a *ASFFFinding) { a.SchemaVersion = "" }},
		{"title too long", func(a *ASFFFinding) { a.Title = strings.Repeat("t", 257) }},
		{"description too long", func(a *ASFFFinding) { a.Description = strings.Repeat("d", 1025) }},
		{"bad label", func(a *ASFFFinding) { a.Severity.Label = "INFO" }},
		{"bad type namespace", func(a *ASFFFinding) { a.Types = []string{"Anomalies/User/x"} }},
		{"no resources", func(a *ASFFFinding) { a.Resources = nil }},
		{"short account", func(a *ASFFFinding) { a.AwsAccountID = "1234" }},
		{"local time", func(a *ASFFFinding) { a.UpdatedAt = "2026-11-03T08:00:00+01:00" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := ASFF(good, hub, testNow)
			if errs := validateASFF(asffDoc(t, a)); len(errs) != 0 {
				t.Fatalf("unbroken finding has errors: %v", errs)
			}
			tt.break_(&a)
			if errs := validateASFF(asffDoc(t, a)); len(errs) == 0 {
				t.Error("broken finding validated")
			}
		})
	}
}

// TestASFFEscalationUpdatesSameFinding: an escalation and a recurrence
// import the same Id and CreatedAt with a later UpdatedAt, which is what
// makes Security Hub update the existing finding instead of adding one.
func TestASFFEscalationUpdatesSameFinding(t *testing.T) {
	f := sampleFindings(t)[1]
	first := ASFF(f, hub, f.LastEventTime.Add(time.Minute))

	esc := f
	esc.Severity = detectors.SeverityCritical
	esc.Count++
	esc.LastEventTime = f.LastEventTime.Add(time.Hour)
	esc.Title = f.Title + ", again"
	second := ASFF(esc, hub, esc.LastEventTime.Add(time.Minute))

	if first.ID != second.ID || first.CreatedAt != second.CreatedAt || first.ProductArn != second.ProductArn || first.GeneratorID != second.GeneratorID {
		t.Errorf("identity changed on escalation: %q/%s -> %q/%s", first.ID, first.CreatedAt, second.ID, second.CreatedAt)
	}
	if !(second.UpdatedAt > first.UpdatedAt) {
		t.Errorf("UpdatedAt %s not after %s", second.UpdatedAt, first.UpdatedAt)
	}
	if second.Severity.Label != "CRITICAL" {
		t.Errorf("escalated label %s", second.Severity.Label)
	}
	// A clock behind the last event never makes UpdatedAt go back.
	late := ASFF(esc, hub, f.FirstEventTime)
	if late.UpdatedAt != asffTime(esc.LastEventTime) {
		t.Errorf("UpdatedAt %s before the last event %s", late.UpdatedAt, esc.LastEventTime)
	}
}

func TestASFFResourceAndPartition(t *testing.T) {
	tests := []struct {
		arn, region, typ, part string
	}{
		{"arn:aws:iam::111122223333:user/svc-backup", "us-east-1", "AwsIamUser", "aws"},
		{"arn:aws:iam::111122223333:role/deploy", "us-east-1", "AwsIamRole", "aws"},
		{"arn:aws:sts::111122223333:assumed-role/deploy/s", "eu-west-1", "Other", "aws"},
		{"arn:aws-cn:iam::111122223333:root", "cn-north-1", "Other", "aws-cn"},
		{"", "us-gov-west-1", "Other", "aws-us-gov"},
	}
	for _, tt := range tests {
		f := detectors.Finding{ID: "x", PrincipalARN: tt.arn, Principal: "111122223333:p", AccountID: "111122223333", Region: tt.region}
		r := ASFF(f, hub, testNow).Resources[0]
		if r.Type != tt.typ || r.Partition != tt.part || r.ID == "" {
			t.Errorf("%q in %s: resource %+v, want type %s partition %s", tt.arn, tt.region, r, tt.typ, tt.part)
		}
	}
}
