package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/events"
)

// Change is a difference between a deployed config and a new one that an
// analyst must not deploy without knowing: it silently resets baselines,
// changes what is routed, or silences a detection.
type Change struct {
	// Kind is "keying", "routing", "forgetting", "learning", "detector",
	// "suppression", "rule" or "networks".
	Kind    string
	Message string
}

func (c Change) String() string { return c.Kind + ": " + c.Message }

// Compare lists what changes from old to new that has effects beyond the
// numbers it names: principal keying (baselines keyed differently start
// from nothing), routing minimums, forgetting and learning (values and
// principals forgotten, or novelty held back), detector modes (a detector
// turned off or to shadow stops alerting), new suppressions, and disabled
// or removed high-risk rules.
func Compare(old, new *detectors.Config) []Change {
	var out []Change
	add := func(kind, format string, args ...any) {
		out = append(out, Change{Kind: kind, Message: fmt.Sprintf(format, args...)})
	}

	// Keying: a role pattern added keys its roles per session (one
	// baseline per person), removed keys them per role: either way their
	// principals get new keys and untrained baselines.
	oldRoles, newRoles := old.Keying.PerSessionRoles, new.Keying.PerSessionRoles
	for _, r := range newRoles {
		if !slices.Contains(oldRoles, r) {
			add("keying", "roles matching %q become keyed per session: each person's calls start a new, untrained baseline (the per-role baselines are no longer used and expire)", r)
		}
	}
	for _, r := range oldRoles {
		if !slices.Contains(newRoles, r) {
			add("keying", "roles matching %q are no longer keyed per session: one new, untrained baseline per role replaces the per-person ones", r)
		}
	}

	// Routing.
	if o, n := old.Routing.SNSMinSeverity, new.Routing.SNSMinSeverity; o != n {
		if n > o {
			add("routing", "routing.sns_min_severity %s -> %s: findings from %s up to %s are no longer sent to SNS (e-mail, chat, tickets)", o, n, o, n-1)
		} else {
			add("routing", "routing.sns_min_severity %s -> %s: findings at %s and up are now sent to SNS (more alerts)", o, n, n)
		}
	}
	oldTicket := max(old.Routing.TicketMinSeverity, old.Routing.SNSMinSeverity)
	newTicket := max(new.Routing.TicketMinSeverity, new.Routing.SNSMinSeverity)
	if oldTicket != newTicket {
		if newTicket > oldTicket {
			add("routing", "tickets now start at %s instead of %s: findings from %s up to %s no longer open a ticket or page", newTicket, oldTicket, oldTicket, newTicket-1)
		} else {
			add("routing", "tickets now start at %s instead of %s: more findings open a ticket or page", newTicket, oldTicket)
		}
	}

	// Forgetting and learning.
	if o, n := old.Forget, new.Forget; n < o {
		add("forgetting", "forgetting.unseen_days %d -> %d: values unseen for more than %d days are dropped at the next event of each principal, and principals idle that long expire from the table", days(o), days(n), days(n))
	} else if n > o {
		add("forgetting", "forgetting.unseen_days %d -> %d: principals already expired under the old period are not restored", days(o), days(n))
	}
	if n, o := new.Learning, old.Learning; n.MinEvents > o.MinEvents || n.MinDays > o.MinDays {
		add("learning", "learning raised (min_events %d -> %d, min_days %d -> %d): principals below the new minimums stop being scored for novelty until they reach them", o.MinEvents, n.MinEvents, o.MinDays, n.MinDays)
	}

	// Selection.
	if o, n := old.Selection.CredentialAccessReads, new.Selection.CredentialAccessReads; o != n {
		if n {
			add("selection", "selection.credential_access_reads turned on: reads of secrets and credentials are scored where read-only calls arrive (S3 ingest, replay), more events scored and learned")
		} else {
			add("selection", "selection.credential_access_reads turned off: reads of secrets and credentials are no longer scored")
		}
	}

	// Detector modes.
	for _, id := range detectors.DetectorIDs() {
		o, n := old.Detector(id).Mode, new.Detector(id).Mode
		if o == n {
			continue
		}
		switch {
		case o == detectors.ModeAlert && n == detectors.ModeOff:
			add("detector", "%s turned off: it no longer alerts or learns findings", id)
		case o == detectors.ModeAlert && n == detectors.ModeShadow:
			add("detector", "%s moved to shadow: its findings are recorded but never routed", id)
		case n == detectors.ModeAlert:
			add("detector", "%s now alerts (was %s)", id, o)
		}
	}

	// Suppressions that are new (by name and match).
	seen := map[string]bool{}
	for _, s := range old.Suppressions {
		seen[suppressionKey(s)] = true
	}
	for _, s := range new.Suppressions {
		if !seen[suppressionKey(s)] {
			add("suppression", "new suppression %q silences %s until %s (reason: %s)", s.Name, describeSuppression(s), s.Expires, s.Reason)
		}
	}

	// High-risk rules disabled or gone.
	enabled := func(c *detectors.Config) map[string]bool {
		set := c.Rules
		if set == nil {
			set = detectors.DefaultRules()
		}
		m := map[string]bool{}
		for _, r := range set.Rules() {
			m[r.ID] = r.Enabled == nil || *r.Enabled
		}
		return m
	}
	oldRules, newRules := enabled(old), enabled(new)
	ids := make([]string, 0, len(oldRules))
	for id := range oldRules {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if !oldRules[id] {
			continue
		}
		on, present := newRules[id]
		switch {
		case !present:
			add("rule", "high-risk rule %s is removed", id)
		case !on:
			add("rule", "high-risk rule %s is disabled: the calls it judged are no longer flagged as high-risk", id)
		}
	}
	out = append(out, compareNetworks(old.Networks, new.Networks)...)
	return out
}

// compareNetworks lists named networks added, removed and changed: calls
// from their addresses change network key (net/NAME or their /24), which
// first-seen judges as a network new to each principal that used them.
func compareNetworks(old, new []events.NamedNetwork) []Change {
	var out []Change
	add := func(format string, args ...any) {
		out = append(out, Change{Kind: "networks", Message: fmt.Sprintf(format, args...)})
	}
	byName := func(nets []events.NamedNetwork) map[string]map[netip.Prefix]bool {
		m := map[string]map[netip.Prefix]bool{}
		for _, nw := range nets {
			set := map[netip.Prefix]bool{}
			for _, p := range nw.Prefixes {
				set[p] = true
			}
			m[nw.Name] = set
		}
		return m
	}
	o, n := byName(old), byName(new)
	for _, nw := range new {
		before, ok := o[nw.Name]
		if !ok {
			add("network %s added (%d prefixes): calls from it get the network key net/%s instead of their /24 or AWS region, a network new to every principal that used it", nw.Name, len(n[nw.Name]), nw.Name)
			continue
		}
		var plus, minus int
		for p := range n[nw.Name] {
			if !before[p] {
				plus++
			}
		}
		for p := range before {
			if !n[nw.Name][p] {
				minus++
			}
		}
		if plus+minus > 0 {
			add("network %s changed: %d prefixes added, %d removed (%d now)", nw.Name, plus, minus, len(n[nw.Name]))
		}
	}
	for _, nw := range old {
		if _, ok := n[nw.Name]; !ok {
			add("network %s removed (%d prefixes): calls from it are keyed by their /24 or AWS region again, a network new to every principal that used it", nw.Name, len(o[nw.Name]))
		}
	}
	return out
}

func days(d interface{ Hours() float64 }) int { return int(d.Hours() / 24) }

func suppressionKey(s detectors.Suppression) string {
	return strings.Join([]string{s.Name, s.Detector, s.Principal, s.API, s.Network}, "\x00")
}

func describeSuppression(s detectors.Suppression) string {
	var parts []string
	for _, p := range []struct{ k, v string }{{"detector", s.Detector}, {"principal", s.Principal}, {"api", s.API}, {"network", s.Network}} {
		if p.v != "" {
			parts = append(parts, p.k+" "+p.v)
		}
	}
	if len(parts) == 0 {
		return "every signal"
	}
	return strings.Join(parts, ", ")
}
