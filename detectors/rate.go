package detectors

import (
	"fmt"
	"math"

	"github.com/trailwatch/trailwatch/events"
)

// RateBurst flags a burst of mutating calls far above the principal's usual
// rate.
//
// Scoring: the principal's mutating calls are counted per 10-minute window;
// an exponentially weighted mean and variance of log(1+count) over its
// active windows give a usual rate raised by two of the principal's own
// standard deviations (a bursty CI role tolerates more than a steady
// service). The current window's count is judged by the Poisson tail
// P(X >= count) against that rate; the signal grows with -log10 of it and is
// capped below MEDIUM on its own (0.45), because volume alone is rarely an
// incident (a Terraform run five times larger than usual is not).
type RateBurst struct{}

// ID returns "rate".
func (RateBurst) ID() string { return IDRate }

// Summary describes the detector.
func (RateBurst) Summary() string {
	return "A burst of mutating calls far above this principal's usual rate (Poisson tail against a smoothed rate)."
}

const (
	rateMinWindows = 12
	rateMinCount   = 15
	rateMaxP       = 1e-5
)

// Check implements Detector.
func (RateBurst) Check(c *Context, ev *events.Event) []Signal {
	if !ev.Mutating {
		return nil
	}
	r := &c.Baseline.MutRate
	if r.Windows < rateMinWindows {
		return nil
	}
	count := int(r.CurrentCount(ev.Time.Unix()))
	if count < rateMinCount {
		return nil
	}
	lambda := r.Expected()
	p := PoissonTail(count, lambda)
	if p > rateMaxP {
		return nil
	}
	s := Surprise(p)
	score := math.Min(0.45, 0.2+0.03*(s-5))
	typical := math.Expm1(r.Mean)
	return []Signal{{
		Detector: IDRate,
		Subject:  "rate:mutating",
		Group:    IDRate,
		Score:    score,
		Title:    fmt.Sprintf("burst of %d mutating calls in 10 minutes", count),
		Reason: fmt.Sprintf("%s made %d mutating calls within 10 minutes; usually about %.0f per active window (up to %.0f expected; chance of this many %s)",
			c.Name, count, typical, lambda, pctTail(p)),
		Evidence: map[string]any{
			"window_count":     count,
			"typical_count":    round4(typical),
			"expected_max":     round4(lambda),
			"poisson_tail_p":   sig6(p),
			"windows_observed": r.Windows,
		},
	}}
}

// ErrorBurst flags bursts of authorization failures (AccessDenied,
// UnauthorizedOperation) above the principal's usual error rate: privilege
// probing and enumeration.
//
// Scoring: denied calls are counted per 10-minute window and judged by the
// Poisson tail against the principal's smoothed denied rate (one per window
// for a principal never denied before). It runs for new principals too,
// with a lower weight, since stolen credentials of a fresh role probe too.
type ErrorBurst struct{}

// ID returns "error-burst".
func (ErrorBurst) ID() string { return IDErrorBurst }

// Summary describes the detector.
func (ErrorBurst) Summary() string {
	return "A burst of AccessDenied/UnauthorizedOperation errors above this principal's usual error rate (privilege probing, enumeration)."
}

const errMinCount = 5

// Check implements Detector.
func (ErrorBurst) Check(c *Context, ev *events.Event) []Signal {
	if ev.ErrClass != events.ErrDenied {
		return nil
	}
	b := c.Baseline
	r := &b.DenyRate
	count := int(r.CurrentCount(ev.Time.Unix()))
	if count < errMinCount {
		return nil
	}
	lambda := 1.0
	if r.Windows >= 3 {
		lambda = r.Expected()
	}
	p := PoissonTail(count, lambda)
	if p > 1e-2 {
		return nil
	}
	s := Surprise(p)
	score := math.Min(0.8, 0.3+0.06*(s-2))
	if !c.Mature {
		score *= 0.7
	}
	return []Signal{{
		Detector: IDErrorBurst,
		Subject:  "errors:denied",
		Group:    IDErrorBurst,
		Score:    score,
		Title:    fmt.Sprintf("%d access-denied errors in 10 minutes", count),
		Reason: fmt.Sprintf("%s was denied %d times within 10 minutes (latest %s on %s); %s denied before in %s (chance of this many %s)",
			c.Name, count, ev.ErrorCode, ev.API, plural(int(b.Denied), "time", "times"), plural(int(b.Events), "call", "calls"), pctTail(p)),
		Evidence: map[string]any{
			"window_denied":   count,
			"expected_max":    round4(lambda),
			"poisson_tail_p":  sig6(p),
			"history_denied":  b.Denied,
			"history_events":  b.Events,
			"latest_error":    ev.ErrorCode,
			"latest_api":      ev.API,
			"baseline_mature": c.Mature,
		},
	}}
}

func pctTail(p float64) string {
	if p < 1e-6 {
		return fmt.Sprintf("about 1 in %.0e", 1/p)
	}
	return pct(p)
}
