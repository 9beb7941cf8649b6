package render

import (
	"math"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/detectors"
)

// OCSF Detection Finding constants (OCSF 1.1.0, class "Detection Finding"
// in the Findings category).
const (
	OCSFVersion         = "1.1.0"
	OCSFClassUID        = 2004
	OCSFCategoryUID     = 2
	OCSFActivityCreate  = 1
	OCSFActivityUpdate  = 2
	ocsfStatusNew       = 1
	ocsfAccountTypeAWS  = 10 // account.type_id "AWS Account"
	ocsfAnalyticRule    = 1
	ocsfAnalyticStatist = 3
	ocsfDescMax         = 4096
)

// OCSFFinding is an OCSF Detection Finding (class_uid 2004): the required
// attributes (activity_id, category_uid, class_uid, finding_info,
// metadata, severity_id, time, type_uid) and those a SIEM filters on. Times
// are milliseconds since the Unix epoch, as OCSF timestamps are.
type OCSFFinding struct {
	ActivityID   int             `json:"activity_id"`
	ActivityName string          `json:"activity_name"`
	CategoryUID  int             `json:"category_uid"`
	CategoryName string          `json:"category_name"`
	ClassUID     int             `json:"class_uid"`
	ClassName    string          `json:"class_name"`
	TypeUID      int             `json:"type_uid"`
	TypeName     string          `json:"type_name"`
	SeverityID   int             `json:"severity_id"`
	Severity     string          `json:"severity"`
	StatusID     int             `json:"status_id"`
	Status       string          `json:"status"`
	Time         int64           `json:"time"`
	StartTime    int64           `json:"start_time,omitempty"`
	EndTime      int64           `json:"end_time,omitempty"`
	Count        int             `json:"count,omitempty"`
	Message      string          `json:"message"`
	RiskScore    int             `json:"risk_score"`
	FindingInfo  OCSFFindingInfo `json:"finding_info"`
	Metadata     OCSFMetadata    `json:"metadata"`
	Cloud        OCSFCloud       `json:"cloud"`
	Actor        *OCSFActor      `json:"actor,omitempty"`
	Unmapped     map[string]any  `json:"unmapped,omitempty"`
}

// OCSFFindingInfo is the finding_info object; uid is the finding ID, the
// same for every update of one finding.
type OCSFFindingInfo struct {
	UID           string       `json:"uid"`
	Title         string       `json:"title"`
	Desc          string       `json:"desc,omitempty"`
	Types         []string     `json:"types,omitempty"`
	FirstSeenTime int64        `json:"first_seen_time,omitempty"`
	LastSeenTime  int64        `json:"last_seen_time,omitempty"`
	Analytic      OCSFAnalytic `json:"analytic"`
}

// OCSFAnalytic names the detector that produced the finding.
type OCSFAnalytic struct {
	Name   string `json:"name"`
	TypeID int    `json:"type_id"`
	Type   string `json:"type"`
}

// OCSFMetadata is the metadata object (product and schema version).
type OCSFMetadata struct {
	Version string      `json:"version"`
	Product OCSFProduct `json:"product"`
}

// OCSFProduct names Trailwatch.
type OCSFProduct struct {
	Name       string `json:"name"`
	VendorName string `json:"vendor_name"`
}

// OCSFCloud says where the activity happened.
type OCSFCloud struct {
	Provider string       `json:"provider"`
	Region   string       `json:"region,omitempty"`
	Account  *OCSFAccount `json:"account,omitempty"`
}

// OCSFAccount is an AWS account.
type OCSFAccount struct {
	UID    string `json:"uid"`
	TypeID int    `json:"type_id"`
	Type   string `json:"type"`
}

// OCSFActor is the principal that made the calls.
type OCSFActor struct {
	User OCSFUser `json:"user"`
}

// OCSFUser is the actor's user: the baseline key as name, the ARN as uid.
type OCSFUser struct {
	Name string `json:"name"`
	UID  string `json:"uid,omitempty"`
}

var ocsfSeverity = map[detectors.Severity]struct {
	id   int
	name string
}{
	detectors.SeverityInfo:     {1, "Informational"},
	detectors.SeverityLow:      {2, "Low"},
	detectors.SeverityMedium:   {3, "Medium"},
	detectors.SeverityHigh:     {4, "High"},
	detectors.SeverityCritical: {5, "Critical"},
}

// OCSF renders a finding as an OCSF Detection Finding with activity Create.
// finding_info.uid is the finding ID, so the deliveries of an escalated
// or recurring finding share it; the Trailwatch fields without an OCSF
// attribute (event IDs and names, evidence, mode, dedupe key) are under
// unmapped.trailwatch. time is the last event's; now stands in for a
// finding without event times.
func OCSF(f detectors.Finding, now time.Time) OCSFFinding {
	sev, ok := ocsfSeverity[f.Severity]
	if !ok {
		sev.id, sev.name = 0, "Unknown"
	}
	activity, activityName := OCSFActivityCreate, "Create"
	analytic := OCSFAnalytic{Name: f.Detector, TypeID: ocsfAnalyticStatist, Type: "Statistical"}
	if f.Detector == detectors.IDHighRiskAction {
		analytic.TypeID, analytic.Type = ocsfAnalyticRule, "Rule"
	}
	last := f.LastEventTime
	if last.IsZero() {
		last = f.FirstEventTime
	}
	if last.IsZero() {
		last = now
	}
	title := oneLine(f.Title)
	if title == "" {
		title = "Trailwatch finding " + f.ID
	}
	out := OCSFFinding{
		ActivityID: activity, ActivityName: activityName,
		CategoryUID: OCSFCategoryUID, CategoryName: "Findings",
		ClassUID: OCSFClassUID, ClassName: "Detection Finding",
		TypeUID: OCSFClassUID*100 + activity, TypeName: "Detection Finding: " + activityName,
		SeverityID: sev.id, Severity: sev.name,
		StatusID: ocsfStatusNew, Status: "New",
		Time:      millis(last),
		StartTime: millis(f.FirstEventTime),
		EndTime:   millis(f.LastEventTime),
		Count:     f.Count,
		Message:   title,
		RiskScore: int(math.Round(f.Score * 100)),
		FindingInfo: OCSFFindingInfo{
			UID:           f.ID,
			Title:         title,
			Desc:          truncate(strings.Join(f.Reasons, "\n"), ocsfDescMax),
			Types:         []string{f.Detector},
			FirstSeenTime: millis(f.FirstEventTime),
			LastSeenTime:  millis(f.LastEventTime),
			Analytic:      analytic,
		},
		Metadata: OCSFMetadata{Version: OCSFVersion, Product: OCSFProduct{Name: "Trailwatch", VendorName: "Trailwatch"}},
		Cloud:    OCSFCloud{Provider: "AWS", Region: f.Region},
		Unmapped: map[string]any{"trailwatch": map[string]any{
			"event_ids":   f.EventIDs,
			"event_names": f.EventNames,
			"evidence":    f.Evidence,
			"mode":        f.Mode,
			"score":       f.Score,
			"dedupe_key":  f.DedupeKey,
		}},
	}
	if f.AccountID != "" {
		out.Cloud.Account = &OCSFAccount{UID: f.AccountID, TypeID: ocsfAccountTypeAWS, Type: "AWS Account"}
	}
	if f.Principal != "" {
		out.Actor = &OCSFActor{User: OCSFUser{Name: f.Principal, UID: f.PrincipalARN}}
	}
	return out
}

// millis is t in milliseconds since the Unix epoch, 0 for the zero time.
func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
