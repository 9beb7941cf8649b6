package detectors

import (
	"fmt"

	"github.com/trailwatch/trailwatch/events"
)

// UnusualHour flags activity at an hour of the week where a principal with
// a clear rhythm has almost never been active.
//
// Scoring: the baseline counts active hours per hour of the week (UTC). The
// mass at the event's hour is smoothed with its neighbours (half weight each
// side, so a one-hour shift such as daylight saving time is not unusual).
// Its share p of all active hours is compared with the share a uniform
// principal would have. Rhythm is how concentrated the principal is: one
// minus the fraction of the week's hours it has ever been active in, so a
// round-the-clock service never fires. The signal is 0.35 × rhythm × (1 −
// p/uniform) when p is below a fifth of uniform.
type UnusualHour struct{}

// ID returns "unusual-hour".
func (UnusualHour) ID() string { return IDUnusualHour }

// Summary describes the detector.
func (UnusualHour) Summary() string {
	return "Activity at an hour of the week where this principal, if it has a clear rhythm, has almost no history."
}

const (
	hourMinActive = 40
	hourWeight    = 0.35
)

// Check implements Detector.
func (UnusualHour) Check(c *Context, ev *events.Event) []Signal {
	if !c.Mature {
		return nil
	}
	b := c.Baseline
	total := b.ActiveHours()
	if total < hourMinActive {
		return nil
	}
	// The hour already counted (the principal is active in it) is not unusual.
	h := ev.Time.Unix() / 3600
	for _, r := range b.RecentHours {
		if r == h {
			return nil
		}
	}
	how := hourOfWeek(ev.Time)
	m := float64(b.Hours[how]) + 0.5*float64(b.Hours[(how+167)%168]) + 0.5*float64(b.Hours[(how+1)%168])
	occupied := 0
	for _, v := range b.Hours {
		if v > 0 {
			occupied++
		}
	}
	rhythm := 1 - float64(occupied)/168
	if rhythm < 0.3 {
		return nil
	}
	p := (m + 0.1) / (float64(total)*2 + 16.8)
	uniform := 1.0 / 168
	if p >= uniform/5 {
		return nil
	}
	score := hourWeight * rhythm * (1 - p/uniform)
	label := ev.Time.UTC().Format("Mon 15:00") + " UTC"
	return []Signal{{
		Detector: IDUnusualHour,
		Subject:  "hour:" + ev.Time.UTC().Format("Mon15"),
		Group:    IDUnusualHour,
		Score:    score,
		Title:    "active at an unusual hour (" + label + ")",
		Reason: fmt.Sprintf("%s active on %s, an hour of the week with %.1f of its %s (active in %d of 168 weekly hours)",
			c.Name, label, m, plural(total, "active hour", "active hours"), occupied),
		Evidence: map[string]any{
			"hour_of_week":          how,
			"hour_mass":             m,
			"active_hours":          total,
			"occupied_weekly_hours": occupied,
			"rhythm":                round4(rhythm),
			"share":                 round4(p),
		},
	}}
}
