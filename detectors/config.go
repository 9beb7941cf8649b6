package detectors

import (
	"fmt"
	"net/netip"
	"path"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/events"
)

// Detector IDs.
const (
	IDFirstSeen         = "first-seen"
	IDRate              = "rate"
	IDErrorBurst        = "error-burst"
	IDUnusualHour       = "unusual-hour"
	IDHighRiskAction    = "high-risk-action"
	IDCredentialPinning = "credential-pinning"
)

// Bands map a score to a severity: the highest band whose lower bound the
// score reaches. A score below Low is INFO.
type Bands struct {
	Low      float64 `yaml:"low" json:"low"`
	Medium   float64 `yaml:"medium" json:"medium"`
	High     float64 `yaml:"high" json:"high"`
	Critical float64 `yaml:"critical" json:"critical"`
}

// Severity returns the band a score falls in.
func (b Bands) Severity(score float64) Severity {
	switch {
	case score >= b.Critical:
		return SeverityCritical
	case score >= b.High:
		return SeverityHigh
	case score >= b.Medium:
		return SeverityMedium
	case score >= b.Low:
		return SeverityLow
	}
	return SeverityInfo
}

// DetectorConfig tunes one detector.
type DetectorConfig struct {
	Mode Mode `yaml:"mode" json:"mode"`
	// Threshold is the least signal score the detector reports.
	Threshold float64 `yaml:"threshold" json:"threshold"`
	// Severity maps finding scores to severities for findings led by
	// this detector.
	Severity Bands `yaml:"severity" json:"severity"`
}

// Routing says which findings are sent where.
type Routing struct {
	SNSMinSeverity    Severity `yaml:"sns_min_severity" json:"sns_min_severity"`
	TicketMinSeverity Severity `yaml:"ticket_min_severity" json:"ticket_min_severity"`
}

// Ticket reports whether a routed finding of this severity also opens a
// ticket. It is the one place the ticket minimum is applied: the detect
// function sends the answer as the SNS message attribute "ticket", on which
// the notify subscription filters, so routing follows the live config.
func (r Routing) Ticket(sev Severity) bool {
	return sev >= r.SNSMinSeverity && sev >= r.TicketMinSeverity
}

// Windows bound how signals fold into findings.
type Windows struct {
	// Case is how long after a principal's last signal new signals join
	// the same finding.
	Case time.Duration `yaml:"case" json:"case"`
	// Dedupe is how long a finding absorbs repeats of what it reported.
	Dedupe time.Duration `yaml:"dedupe" json:"dedupe"`
}

// Suppression silences matching signals, with a reason and an expiry.
// Empty match fields match anything; at least one must be set.
type Suppression struct {
	Name      string `yaml:"name" json:"name"`
	Detector  string `yaml:"detector,omitempty" json:"detector,omitempty"`
	Principal string `yaml:"principal,omitempty" json:"principal,omitempty"` // glob over the principal key
	API       string `yaml:"api,omitempty" json:"api,omitempty"`             // glob over service:EventName
	Network   string `yaml:"network,omitempty" json:"network,omitempty"`     // CIDR, or glob over the network key
	Reason    string `yaml:"reason" json:"reason"`
	Expires   string `yaml:"expires" json:"expires"` // YYYY-MM-DD, inclusive
	Line      int    `yaml:"-" json:"-"`

	expires time.Time
	cidr    netip.Prefix
}

// Config is everything analysts tune.
type Config struct {
	Version   int                       `yaml:"version" json:"version"`
	Learning  Learning                  `yaml:"learning" json:"learning"`
	Forget    time.Duration             `yaml:"-" json:"-"`
	Keying    events.KeyingRules        `yaml:"-" json:"-"`
	Routing   Routing                   `yaml:"routing" json:"routing"`
	Windows   Windows                   `yaml:"-" json:"-"`
	Detectors map[string]DetectorConfig `yaml:"detectors" json:"detectors"`
	// Selection adds read-only calls to the production selection
	// (thresholds.yaml selection:); the event normalizer applies it.
	Selection events.Selection `yaml:"-" json:"-"`
	// Suppressions are matched in order; the first match wins.
	Suppressions []Suppression `yaml:"suppressions" json:"suppressions"`
	// Rules is the high-risk catalog: the built-in rules merged with the
	// user's (CompileRules). Nil means the built-in catalog.
	Rules *RuleSet `yaml:"-" json:"-"`
	// SelfProtection is what the config adds to BuiltinProtection
	// (thresholds.yaml self_protection).
	SelfProtection Protection `yaml:"-" json:"-"`
	// Protected is what the self-protection rule guards and who may
	// change it, compiled (NewProtectedSet): BuiltinProtection, the
	// config's SelfProtection and, in the detect function, what the CDK
	// app passes. Nil means BuiltinProtection.
	Protected *ProtectedSet `yaml:"-" json:"-"`
	// Networks are the named networks (thresholds.yaml networks), files
	// resolved and prefixes compacted (events.CompactNetworks); calls from
	// them get the network key "net/<name>".
	Networks []events.NamedNetwork `yaml:"-" json:"-"`
	// NamedNetworks is Networks compiled for the event normalizer
	// (events.Normalizer.Networks); nil when there are none. Code that
	// builds a Config by hand sets it with events.NewNamedNetworks.
	NamedNetworks *events.NamedNetworks `yaml:"-" json:"-"`
}

// DetectorIDs lists every detector, in the order they run.
func DetectorIDs() []string {
	return []string{IDFirstSeen, IDRate, IDErrorBurst, IDUnusualHour, IDHighRiskAction, IDCredentialPinning}
}

var defaultBands = Bands{Low: 0.25, Medium: 0.55, High: 0.75, Critical: 0.93}

// DefaultConfig returns defaults that work out of the box.
func DefaultConfig() *Config {
	c := &Config{
		Version:  1,
		Learning: Learning{MinEvents: 30, MinDays: 7},
		Forget:   90 * 24 * time.Hour,
		Keying:   events.DefaultKeyingRules(),
		Routing:  Routing{SNSMinSeverity: SeverityMedium, TicketMinSeverity: SeverityHigh},
		Windows:  Windows{Case: time.Hour, Dedupe: 24 * time.Hour},
		Detectors: map[string]DetectorConfig{
			IDFirstSeen:         {Mode: ModeAlert, Threshold: 0.15, Severity: defaultBands},
			IDRate:              {Mode: ModeAlert, Threshold: 0.2, Severity: defaultBands},
			IDErrorBurst:        {Mode: ModeAlert, Threshold: 0.2, Severity: defaultBands},
			IDUnusualHour:       {Mode: ModeAlert, Threshold: 0.15, Severity: defaultBands},
			IDHighRiskAction:    {Mode: ModeAlert, Threshold: 0.2, Severity: defaultBands},
			IDCredentialPinning: {Mode: ModeAlert, Threshold: 0.3, Severity: defaultBands},
		},
	}
	return c
}

// Detector returns a detector's settings, falling back to defaults.
func (c *Config) Detector(id string) DetectorConfig {
	if dc, ok := c.Detectors[id]; ok {
		return dc
	}
	return DetectorConfig{Mode: ModeAlert, Threshold: 0.2, Severity: defaultBands}
}

// Prepare validates the config and compiles its suppressions. It returns
// every problem found, each naming the config line where known.
func (c *Config) Prepare() []error {
	var errs []error
	add := func(line int, format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		if line > 0 {
			msg = fmt.Sprintf("line %d: %s", line, msg)
		}
		errs = append(errs, fmt.Errorf("%s", msg))
	}
	if c.Learning.MinEvents < 0 || c.Learning.MinDays < 0 {
		add(0, "learning: min_events and min_days must not be negative")
	}
	known := map[string]bool{}
	for _, id := range DetectorIDs() {
		known[id] = true
	}
	for id, dc := range c.Detectors {
		if !known[id] {
			add(0, "detectors.%s: unknown detector (known: %s)", id, strings.Join(DetectorIDs(), ", "))
			continue
		}
		switch dc.Mode {
		case ModeAlert, ModeShadow, ModeOff:
		default:
			add(0, "detectors.%s.mode: %q is not alert, shadow or off", id, dc.Mode)
		}
		if dc.Threshold < 0 || dc.Threshold > 1 {
			add(0, "detectors.%s.threshold: %v is outside [0, 1]", id, dc.Threshold)
		}
		b := dc.Severity
		if !(0 <= b.Low && b.Low <= b.Medium && b.Medium <= b.High && b.High <= b.Critical && b.Critical <= 1) {
			add(0, "detectors.%s.severity: bands must rise: 0 <= low <= medium <= high <= critical <= 1", id)
		}
	}
	for i := range c.Suppressions {
		s := &c.Suppressions[i]
		where := fmt.Sprintf("suppressions[%d]", i)
		if s.Name != "" {
			where += " (" + s.Name + ")"
		}
		if strings.TrimSpace(s.Reason) == "" {
			add(s.Line, "%s: a reason is required", where)
		}
		if s.Detector == "" && s.Principal == "" && s.API == "" && s.Network == "" {
			add(s.Line, "%s: matches everything; set detector, principal, api or network", where)
		}
		if s.Detector != "" && !known[s.Detector] {
			add(s.Line, "%s: unknown detector %q", where, s.Detector)
		}
		for _, g := range []string{s.Principal, s.API} {
			if _, err := path.Match(g, ""); err != nil {
				add(s.Line, "%s: bad pattern %q: %v", where, g, err)
			}
		}
		if s.Network != "" && strings.Contains(s.Network, "/") && !strings.HasPrefix(s.Network, "aws/") {
			p, err := netip.ParsePrefix(s.Network)
			if err != nil {
				add(s.Line, "%s: network %q is not a CIDR: %v", where, s.Network, err)
			} else {
				s.cidr = p.Masked()
			}
		}
		if s.Expires == "" {
			add(s.Line, "%s: an expires date (YYYY-MM-DD) is required", where)
		} else if t, err := time.Parse("2006-01-02", s.Expires); err != nil {
			add(s.Line, "%s: expires %q is not a date (YYYY-MM-DD)", where, s.Expires)
		} else {
			s.expires = t.Add(24*time.Hour - time.Nanosecond)
		}
	}
	return errs
}

// Expired reports whether the suppression no longer applies at t.
func (s *Suppression) Expired(t time.Time) bool {
	return !s.expires.IsZero() && t.After(s.expires)
}

// Matches reports whether the suppression silences a signal about ev.
func (s *Suppression) Matches(detector string, ev *events.Event) bool {
	if s.Detector != "" && s.Detector != detector {
		return false
	}
	if s.Principal != "" {
		if ok, _ := path.Match(s.Principal, ev.Principal); !ok && s.Principal != ev.PrincipalARN {
			return false
		}
	}
	if s.API != "" {
		if ok, _ := path.Match(s.API, ev.API); !ok {
			return false
		}
	}
	if s.Network != "" {
		if s.cidr.IsValid() {
			addr, err := netip.ParseAddr(ev.Record.SourceIPAddress)
			if err != nil || !s.cidr.Contains(addr.Unmap()) {
				return false
			}
		} else if ok, _ := path.Match(s.Network, ev.Network.Key); !ok {
			return false
		}
	}
	return true
}
