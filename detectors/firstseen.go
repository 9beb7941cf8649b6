package detectors

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/trailwatch/trailwatch/events"
)

// FirstSeen flags an API call, source network, user-agent family, region,
// long-term access key or changed resource new to a mature principal.
//
// Scoring: the chance that the principal's next event brings a new value
// is estimated per dimension from its events and days
// (Baseline.NewValueProbability, calibrated over benign traffic). The signal
// is weight × surpriseFactor(p) × (1 + boost × confidence(p)). The surprise
// counts in full for a chance of 1% or less and fades for principals that
// meet new values often (a CI role's new runner address). The weight says
// how telling the dimension is: a network more than a user agent; leaving
// the networks a principal always used, AWS's or a named provider's, most; a
// sensitive API (IAM, STS, KMS, CloudTrail, Organizations, security
// services) more than an ordinary one. The boost raises the score of a
// principal whose own history makes a new value rare: nothing for one that
// meets new values every few hundred events (Terraform, CI, people), up to
// double for a sensitive API of one that made thousands of calls without a
// new one, so a very stable principal's first new sensitive API reaches
// MEDIUM alone. A new resource is weak alone and strong beside a network or
// user agent new to a principal that rarely meets new ones. Calls an AWS
// service made on the principal's behalf do not count for network or user
// agent, and their APIs and resources get no boost: a template or a
// service, not the credential's holder, chose them.
type FirstSeen struct{}

// ID returns "first-seen".
func (FirstSeen) ID() string { return IDFirstSeen }

// Summary describes the detector.
func (FirstSeen) Summary() string {
	return "An API call, source network, user-agent family, region, access key or changed resource new to this principal, weighed by how often its history meets new values."
}

// Dimension weights.
const (
	weightAPI          = 0.30
	weightSensitiveAPI = 0.42
	weightNetwork      = 0.50
	weightLeftAWS      = 0.80
	weightUserAgent    = 0.32
	weightRegion       = 0.42
	weightAccessKey    = 0.35
	// A new resource alone, and beside a new network or user agent.
	weightResource        = 0.22
	weightResourceContext = 0.50
)

// rareNew is the chance of a new value below which a new network or user
// agent is itself unusual enough to strengthen a new resource beside it.
const rareNew = 0.05

// Boosts: how far a stable history can raise a weight (see confidence).
// A very stable principal's first new sensitive API doubles: MEDIUM alone
// for a role with thousands of calls, HIGH for one with five thousand and
// not one new API; an ordinary API or a resource gains half, a network,
// user agent, region or key a third.
const (
	boostSensitiveAPI = 1.0
	boostAPI          = 0.5
	boostResource     = 0.5
	boostPlace        = 0.3
)

// surpriseFactor maps the chance of a new value to how much of a
// dimension's weight a new value earns: its surprise, -log10(p), over two
// decades, so a value that was a one-in-a-hundred event or rarer earns it
// all, a one-in-ten event half, and a coin flip about a sixth. (The
// calibrated chance says how often such principals meet new values; a new
// /24 for a CI role that meets one every fifth call is no news.)
func surpriseFactor(p float64) float64 {
	if p >= 1 {
		return 0
	}
	if p <= 0.01 {
		return 1
	}
	return -math.Log10(p) / 2
}

// confidence maps the chance of a new value to how far a stable history
// raises a signal: 0 at 1% and above (what a busy or changing principal
// shows), 1 at 0.01% and below (thousands of events without a new value),
// log-linear between.
func confidence(p float64) float64 {
	if p <= 0 {
		return 1
	}
	c := math.Log10(0.01/p) / 2
	return math.Max(0, math.Min(1, c))
}

var sensitiveServices = map[string]bool{
	"iam": true, "sts": true, "kms": true, "cloudtrail": true, "organizations": true,
	"guardduty": true, "securityhub": true, "config": true, "secretsmanager": true,
	"sso": true, "identitystore": true, "access-analyzer": true, "s3control": true,
	"account": true, "billing": true, "signin": true,
}

// Check implements Detector.
func (d FirstSeen) Check(c *Context, ev *events.Event) []Signal {
	if !c.Mature {
		return nil
	}
	b := c.Baseline
	var out []Signal
	// try signals a value new in dim and reports whether it was new to a
	// principal that rarely meets new values there (p below rareNew).
	try := func(dim Dim, value string, weight, boost float64, group, title string, what func() string) bool {
		if value == "" {
			return false
		}
		if _, ok := b.Has(dim, value); ok {
			return false
		}
		p, n1, n := b.NewValueProbability(dim)
		known := len(b.Dims[dim].Values)
		conf := confidence(p)
		score := math.Min(1, float64(weight*surpriseFactor(p))*float64(1+float64(boost*conf)))
		ev := map[string]any{
			"dimension":             dim.String(),
			"value":                 value,
			"known_values":          known,
			"new_value_probability": sig6(p),
			"values_seen_one_day":   n1,
			"events_with_dimension": n,
			"stability_boost":       round4(boost * conf),
			"history_days":          b.HistoryDays(),
			"history_events":        b.Events,
		}
		if group == "" {
			group = dim.String()
		}
		out = append(out, Signal{
			Detector: IDFirstSeen,
			Subject:  dim.String() + ":" + value,
			Group:    IDFirstSeen + "/" + group,
			Score:    score,
			Title:    title,
			Reason: fmt.Sprintf("%s in %s of history (%s, %s; chance of a new one about %s)",
				what(), plural(b.HistoryDays(), "day", "days"), plural(int(b.Events), "call", "calls"),
				plural(known, "distinct "+dimNoun(dim), "distinct "+dimNoun(dim)+"s"), pct(p)),
			Evidence: ev,
		})
		return p < rareNew
	}
	direct := ev.InvokedBy == ""
	w, boost := weightAPI, boostAPI
	if sensitiveServices[ev.Service] {
		w, boost = weightSensitiveAPI, boostSensitiveAPI
	}
	if !direct {
		boost = 0
	}
	api := APIValue(ev)
	try(DimAPI, api, w, boost, "target", "called "+api+" for the first time", func() string {
		return fmt.Sprintf("first time %s called %s", c.Name, api)
	})
	try(DimRegion, ev.Region, weightRegion, boostPlace, "", "first call in region "+ev.Region, func() string {
		return fmt.Sprintf("first time %s acted in region %s (usual: %s)", c.Name, ev.Region, usual(b, DimRegion, 3))
	})
	ownCall := direct && ev.PrincipalType != "AWSService"
	newPlace := false
	if ownCall {
		if _, known := b.Has(DimNetwork, ev.Network.Key); !known {
			nw := weightNetwork
			what := func() string {
				return fmt.Sprintf("source network %s never seen for %s (usual: %s)", ev.Network.Key, c.Name, usual(b, DimNetwork, 3))
			}
			if owners, ok := namedOwners(b); ok && ev.Network.Class != events.NetPrivate && !owners[netOwner(ev.Network.Key)] {
				nw = weightLeftAWS
				what = func() string {
					return fmt.Sprintf("first call by %s from outside %s: %s (always before from %s)", c.Name, ownerList(owners), ev.Network.Key, usual(b, DimNetwork, 3))
				}
			}
			newPlace = try(DimNetwork, ev.Network.Key, nw, boostPlace, "", "from new network "+ev.Network.Key, what)
		}
		if try(DimUserAgent, ev.UAFamily, weightUserAgent, boostPlace, "", "with new user agent "+ev.UAFamily, func() string {
			return fmt.Sprintf("user agent %s never seen for %s (usual: %s; full agent %q)", ev.UAFamily, c.Name, usual(b, DimUserAgent, 3), truncateRunes(ev.Record.UserAgent, 80))
		}) {
			newPlace = true
		}
	}
	if isLongTermKey(ev.AccessKeyID) {
		try(DimAccessKey, ev.AccessKeyID, weightAccessKey, boostPlace, "", "with new access key "+ev.AccessKeyID, func() string {
			return fmt.Sprintf("access key %s never used by %s before", ev.AccessKeyID, c.Name)
		})
	}
	if ev.ErrClass != events.ErrDenied {
		res := c.Resource(ev)
		rw, group := weightResource, "target"
		if newPlace {
			// A new target from a place new to a principal that rarely
			// meets new places: the pattern of stolen credentials used
			// against what their owner never touched. (CI meeting a new
			// runner address every run does not count.)
			rw, group = weightResourceContext, "resource"
		}
		rb := boostResource
		if !direct {
			rb = 0
		}
		label := ResourceLabel(res)
		try(DimResource, res, rw, rb, group, "changed "+label+" for the first time", func() string {
			return fmt.Sprintf("first time %s changed %s (it changed %s before)", c.Name, label, plural(len(b.Dims[DimResource].Values), "other resource", "other resources"))
		})
	}
	return out
}

func dimNoun(d Dim) string {
	switch d {
	case DimAPI:
		return "API"
	case DimNetwork:
		return "network"
	case DimUserAgent:
		return "user agent"
	case DimRegion:
		return "region"
	case DimResource:
		return "resource"
	case DimRisk:
		return "risk"
	}
	return "access key"
}

// namedOwners returns the owners of the principal's remembered networks
// (AWS, or a named provider) when every one of them has an owner: such a
// principal calls only from places someone vouches for, and a call from
// anywhere else has left them.
func namedOwners(b *Baseline) (map[string]bool, bool) {
	vals := b.Dims[DimNetwork].Values
	if len(vals) == 0 {
		return nil, false
	}
	owners := map[string]bool{}
	for k := range vals {
		o := netOwner(k)
		if o == "" {
			return nil, false
		}
		owners[o] = true
	}
	return owners, true
}

// netOwner names who owns a network key: "AWS" for AWS's own ranges,
// services and VPC endpoints, the configured name for a named provider
// network ("net/NAME"), "" for any other address.
func netOwner(k string) string {
	switch {
	case strings.HasPrefix(k, "aws/") || k == "aws-internal" || strings.HasSuffix(k, ".amazonaws.com"):
		return "AWS"
	case strings.HasPrefix(k, "net/") && len(k) > 4:
		return k[4:]
	}
	return ""
}

func ownerList(owners map[string]bool) string {
	names := make([]string, 0, len(owners))
	for o := range owners {
		names = append(names, o)
	}
	sort.Strings(names)
	if len(names) == 1 {
		if names[0] == "AWS" {
			return "AWS"
		}
		return names[0] + "'s network"
	}
	return strings.Join(names, " and ") + " networks"
}

// usual lists the most used values of a dimension, most days first.
func usual(b *Baseline, d Dim, n int) string {
	type kv struct {
		k string
		v *Value
	}
	var all []kv
	for k, v := range b.Dims[d].Values {
		all = append(all, kv{k, v})
	}
	if len(all) == 0 {
		return "none yet"
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].v.Days != all[j].v.Days {
			return all[i].v.Days > all[j].v.Days
		}
		return all[i].k < all[j].k
	})
	var names []string
	for i := 0; i < len(all) && i < n; i++ {
		names = append(names, all[i].k)
	}
	s := strings.Join(names, ", ")
	if len(all) > n {
		s = fmt.Sprintf("%s and %d more", s, len(all)-n)
	}
	return s
}

func round4(x float64) float64 {
	return float64(int64(x*10000+0.5)) / 10000
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "..."
}
