package render

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/detectors"
)

// ocsfAttr is one attribute of the OCSF fixture.
type ocsfAttr struct {
	Requirement string    `json:"requirement"`
	Type        string    `json:"type"`
	Enum        []float64 `json:"enum"`
	Object      string    `json:"object"`
	Array       bool      `json:"array"`
}

type ocsfSchema struct {
	Class   map[string]ocsfAttr            `json:"class"`
	Objects map[string]map[string]ocsfAttr `json:"objects"`
}

func loadOCSFSchema(t *testing.T) ocsfSchema {
	t.Helper()
	raw, err := os.ReadFile("testdata/ocsf-detection-finding-1.1.0.json")
	if err != nil {
		t.Fatal(err)
	}
	var s ocsfSchema
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("OCSF fixture: %v", err)
	}
	return s
}

// validateOCSF checks a decoded JSON object against the fixture's
// attributes: required ones present, no unknown ones, types and enums.
func validateOCSF(s ocsfSchema, path string, attrs map[string]ocsfAttr, doc map[string]any) []string {
	var errs []string
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if a := attrs[n]; a.Requirement == "required" {
			if _, ok := doc[n]; !ok {
				errs = append(errs, fmt.Sprintf("%s%s: required attribute missing", path, n))
			}
		}
	}
	for n, v := range doc {
		a, ok := attrs[n]
		if !ok {
			errs = append(errs, fmt.Sprintf("%s%s: not an attribute of the class", path, n))
			continue
		}
		vals := []any{v}
		if a.Array {
			list, ok := v.([]any)
			if !ok {
				errs = append(errs, fmt.Sprintf("%s%s: want an array, got %T", path, n, v))
				continue
			}
			vals = list
		}
		for _, v := range vals {
			errs = append(errs, checkOCSFValue(s, path+n, a, v)...)
		}
	}
	return errs
}

func checkOCSFValue(s ocsfSchema, path string, a ocsfAttr, v any) []string {
	switch a.Type {
	case "string_t":
		if str, ok := v.(string); !ok || (a.Requirement == "required" && str == "") {
			return []string{fmt.Sprintf("%s: want a non-empty string, got %#v", path, v)}
		}
	case "integer_t", "long_t", "timestamp_t":
		n, ok := v.(float64)
		if !ok || n != float64(int64(n)) {
			return []string{fmt.Sprintf("%s: want an integer, got %#v", path, v)}
		}
		if a.Type == "timestamp_t" && a.Requirement == "required" && n <= 0 {
			return []string{fmt.Sprintf("%s: want a timestamp in ms, got %v", path, n)}
		}
		if len(a.Enum) > 0 {
			for _, e := range a.Enum {
				if e == n {
					return nil
				}
			}
			return []string{fmt.Sprintf("%s: %v is not one of %v", path, n, a.Enum)}
		}
	case "object_t":
		obj, ok := v.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an object, got %T", path, v)}
		}
		if a.Object != "" {
			return validateOCSF(s, path+".", s.Objects[a.Object], obj)
		}
	default:
		return []string{fmt.Sprintf("%s: fixture type %q unknown", path, a.Type)}
	}
	return nil
}

func TestOCSFDetectionFindingValidates(t *testing.T) {
	schema := loadOCSFSchema(t)
	for _, f := range sampleFindings(t) {
		t.Run(f.ID, func(t *testing.T) {
			raw, err := json.Marshal(OCSF(f, testNow))
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := json.Unmarshal(raw, &doc); err != nil {
				t.Fatal(err)
			}
			for _, e := range validateOCSF(schema, "", schema.Class, doc) {
				t.Error(e)
			}
			o := OCSF(f, testNow)
			if o.TypeUID != o.ClassUID*100+o.ActivityID {
				t.Errorf("type_uid %d, want class_uid*100+activity_id = %d", o.TypeUID, o.ClassUID*100+o.ActivityID)
			}
			if o.FindingInfo.UID != f.ID {
				t.Errorf("finding_info.uid %q, want the finding ID %q", o.FindingInfo.UID, f.ID)
			}
		})
	}
}

// TestOCSFValidatorRejects makes sure the validator can fail: each broken
// document must give at least one error.
func TestOCSFValidatorRejects(t *testing.T) {
	schema := loadOCSFSchema(t)
	good := sampleFindings(t)[0]
	tests := []struct {
		name   string
		break_ func(m map[string]any)
	}{
		{"missing finding_info", func(m map[string]any) { delete(m, "finding_info") }},
		{"missing finding_info.uid", func(m map[string]any) { delete(m["finding_info"].(map[string]any), "uid") }},
		{"wrong class", func(m map[string]any) { m["class_uid"] = 2001.0 }},
		{"severity out of range", func(m map[string]any) { m["severity_id"] = 7.0 }},
		{"string time", func(m map[string]any) { m["time"] = "2026-11-03T08:00:00Z" }},
		{"unknown attribute", func(m map[string]any) { m["score"] = 0.5 }},
		{"no product vendor", func(m map[string]any) {
			delete(m["metadata"].(map[string]any)["product"].(map[string]any), "vendor_name")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, _ := json.Marshal(OCSF(good, testNow))
			var doc map[string]any
			_ = json.Unmarshal(raw, &doc)
			if errs := validateOCSF(schema, "", schema.Class, doc); len(errs) != 0 {
				t.Fatalf("unbroken document has errors: %v", errs)
			}
			tt.break_(doc)
			if errs := validateOCSF(schema, "", schema.Class, doc); len(errs) == 0 {
				t.Error("broken document validated")
			}
		})
	}
}

var testNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func TestOCSFSeverityAndIdentity(t *testing.T) {
	f := sampleFindings(t)[0]
	for _, tt := range []struct {
		sev  detectors.Severity
		want int
	}{{detectors.SeverityInfo, 1}, {detectors.SeverityLow, 2}, {detectors.SeverityMedium, 3}, {detectors.SeverityHigh, 4}, {detectors.SeverityCritical, 5}} {
		f.Severity = tt.sev
		if got := OCSF(f, testNow).SeverityID; got != tt.want {
			t.Errorf("%s: severity_id %d, want %d", tt.sev, got, tt.want)
		}
	}
	esc := f
	esc.Severity, esc.Count = detectors.SeverityCritical, f.Count+5
	if OCSF(esc, testNow).FindingInfo.UID != OCSF(f, testNow).FindingInfo.UID {
		t.Error("an escalation changed finding_info.uid")
	}
}
