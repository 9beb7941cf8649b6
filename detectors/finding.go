package detectors

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Severity ranks a finding. The zero value is INFO.
type Severity int

// Severities, lowest first.
const (
	SeverityInfo Severity = iota
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = [...]string{"INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"}

// String returns the upper-case name used in findings and configuration.
func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return fmt.Sprintf("Severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity parses a severity name, case-insensitively.
func ParseSeverity(name string) (Severity, error) {
	for i, n := range severityNames {
		if strings.EqualFold(n, strings.TrimSpace(name)) {
			return Severity(i), nil
		}
	}
	return 0, fmt.Errorf("unknown severity %q (want INFO, LOW, MEDIUM, HIGH or CRITICAL)", name)
}

// MarshalText encodes the severity as its name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes a severity name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Mode says what happens to a detector's findings.
type Mode string

// Modes: alert findings are routed, shadow findings are recorded and marked
// but never routed, off disables the detector.
const (
	ModeAlert  Mode = "alert"
	ModeShadow Mode = "shadow"
	ModeOff    Mode = "off"
)

// MaxFindingEventIDs bounds the event IDs and names a finding carries.
const MaxFindingEventIDs = 20

// Finding is one explained anomaly, the public JSON contract of Trailwatch.
type Finding struct {
	// ID is the case's identity: derived from the dedupe key it opened
	// with and the time it opened, it stays the same while the case absorbs
	// repeats, escalates or changes its lead signal, and a recurrence after
	// the dedupe window is a new case with a new ID.
	ID       string   `json:"id"`
	Detector string   `json:"detector"`
	Severity Severity `json:"severity"`
	// Score is the combined anomaly score in [0, 1].
	Score float64 `json:"score"`
	Mode  Mode    `json:"mode"`
	Title string  `json:"title"`
	// Principal is the baseline key (account + principal).
	Principal      string    `json:"principal"`
	PrincipalARN   string    `json:"principal_arn,omitempty"`
	AccountID      string    `json:"account_id"`
	Region         string    `json:"region"`
	EventIDs       []string  `json:"event_ids"`
	EventNames     []string  `json:"event_names"`
	FirstEventTime time.Time `json:"first_event_time"`
	LastEventTime  time.Time `json:"last_event_time"`
	// Count is how many matching events the finding covers, including
	// later ones folded in by dedupe.
	Count int `json:"count"`
	// Reasons are human sentences: what is new or unusual, compared with
	// what the baseline holds.
	Reasons []string `json:"reasons"`
	// Evidence holds the numbers behind the reasons.
	Evidence map[string]any `json:"evidence,omitempty"`
	// NextSteps is what on-call should check first, for the lead
	// detector and, for high-risk actions, the category.
	NextSteps []string `json:"next_steps,omitempty"`
	// ConsoleURL opens the first event in the CloudTrail console's event
	// history.
	ConsoleURL string `json:"console_url,omitempty"`
	// DedupeKey is the lead signal's key (detector|principal|subject),
	// consistent with Detector: later matches of any of the case's
	// subjects fold into it.
	DedupeKey string `json:"dedupe_key"`
	// Suppressed names the suppression that matched, if any (only shown
	// with --include-shadow).
	Suppressed string `json:"suppressed,omitempty"`
}

// FindingID derives a finding ID from a key: "tw-" and 20 hex digits.
func FindingID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "tw-" + hex.EncodeToString(sum[:10])
}

// CaseID is the ID of a case opened at unix second opened with the dedupe
// key of its first lead signal.
func CaseID(dedupeKey string, opened int64) string {
	return FindingID(dedupeKey + "@" + strconv.FormatInt(opened, 10))
}

// AddEvent folds one more matching event into the finding, keeping the
// event lists bounded.
func (f *Finding) AddEvent(id, name string, t time.Time) {
	f.Count++
	if len(f.EventIDs) < MaxFindingEventIDs && id != "" {
		f.EventIDs = append(f.EventIDs, id)
	}
	if name != "" && len(f.EventNames) < MaxFindingEventIDs && !contains(f.EventNames, name) {
		f.EventNames = append(f.EventNames, name)
	}
	if f.FirstEventTime.IsZero() || t.Before(f.FirstEventTime) {
		f.FirstEventTime = t
	}
	if t.After(f.LastEventTime) {
		f.LastEventTime = t
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
