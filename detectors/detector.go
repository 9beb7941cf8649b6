package detectors

import (
	"fmt"
	"strings"

	"github.com/trailwatch/trailwatch/events"
)

// Signal is one detector's judgement of one event: how anomalous it is for
// this principal, and why.
type Signal struct {
	Detector string
	// Subject names what is unusual, with low cardinality: it is what a
	// finding's dedupe key is made of ("api:iam:CreateUser",
	// "network:203.0.113.0/24").
	Subject string
	// Group gathers signals that are not independent evidence: within a
	// group only the strongest counts.
	Group string
	// Score is in [0, 1]: how strongly this alone points at an incident.
	Score float64
	// Floor is the least severity a finding with this signal gets.
	Floor Severity
	// Title is a short phrase for the finding title ("called
	// iam:CreateUser for the first time").
	Title    string
	Reason   string
	Evidence map[string]any
	// Learn, when set, is a risk the call took, remembered in the
	// principal's baseline (DimRisk) after the event whatever becomes of
	// the signal (threshold, suppression, mode): history is what the
	// principal did, not what was reported.
	Learn string
}

// Context is what a detector sees: the principal's baseline as it was
// before the event, and whether it is mature enough for novelty.
type Context struct {
	Baseline *Baseline
	Mature   bool
	Config   *Config
	// Name is how the principal is called in sentences.
	Name string

	// resource caches ResourceOf for the event being judged (set by the
	// engine, which also observes it), so request parameters are read
	// once per event.
	resource    string
	resourceSet bool
}

// Resource returns ResourceOf(ev), computed once per event.
func (c *Context) Resource(ev *events.Event) string {
	if !c.resourceSet {
		c.resource, c.resourceSet = ResourceOf(ev), true
	}
	return c.resource
}

// Detector is metadata plus logic. Check must not change the baseline.
type Detector interface {
	ID() string
	Summary() string
	Check(c *Context, ev *events.Event) []Signal
}

// All returns every detector, in the order they run.
func All() []Detector {
	return []Detector{FirstSeen{}, RateBurst{}, ErrorBurst{}, UnusualHour{}, HighRiskAction{}, CredentialPinning{}}
}

// DisplayName is how a principal key reads in a sentence: the person for
// per-session keys, else the user or role name. A principal of the test
// namespace (events.TestPrincipalPrefix) reads "[test] name", so every
// finding title and reason about a test event says it is one.
func DisplayName(key string) string {
	if rest, ok := strings.CutPrefix(key, events.TestPrincipalPrefix); ok {
		return "[test] " + DisplayName(rest)
	}
	_, rest, ok := strings.Cut(key, ":")
	if !ok {
		return key
	}
	parts := strings.Split(rest, "/")
	switch parts[0] {
	case "root":
		acct, _, _ := strings.Cut(key, ":")
		return "root (" + acct + ")"
	case "role":
		if len(parts) >= 3 {
			return parts[len(parts)-1]
		}
	}
	return parts[len(parts)-1]
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return commas(n) + " " + many
}

// commas formats an integer with thousands separators.
func commas(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + commas(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func pct(p float64) string {
	switch {
	case p >= 0.1:
		return fmt.Sprintf("%.0f%%", p*100)
	case p >= 0.001:
		return fmt.Sprintf("%.1f%%", p*100)
	default:
		return fmt.Sprintf("%.2g%%", p*100)
	}
}

func clamp01(x float64) float64 {
	if x < 0 {
		return 0
	}
	if x > 1 {
		return 1
	}
	return x
}
