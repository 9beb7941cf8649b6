package detectors

import (
	"fmt"
	"sort"
	"strings"

	"github.com/trailwatch/trailwatch/events"
)

// FirstSeen flags an API call, source network, user-agent family, region
// or long-term access key new to a mature principal.
//
// Scoring: the chance that a principal meets a new value is estimated with
// Good-Turing, p = (N1+1)/(N+2) over its (value, day) sightings, so a
// principal that sees new values every day is barely surprised by one more.
// The signal is weight × (1 − p), where the weight says how telling the
// dimension is: a network is more telling than a user agent; a network
// outside AWS for a principal that has only ever called from inside AWS is
// most telling; a sensitive API (IAM, STS, KMS, CloudTrail, Organizations,
// security services) more than an ordinary one. Calls an AWS service made on
// the principal's behalf do not count for network or user agent.
type FirstSeen struct{}

// ID returns "first-seen".
func (FirstSeen) ID() string { return IDFirstSeen }

// Summary describes the detector.
func (FirstSeen) Summary() string {
	return "An API call, source network, user-agent family, region or access key new to this principal, weighed by how often it meets new values."
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
)

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
	try := func(dim Dim, value string, weight float64, title string, what func() string) {
		if value == "" {
			return
		}
		if _, ok := b.Has(dim, value); ok {
			return
		}
		p, n1, n := b.NewValueProbability(dim)
		known := len(b.Dims[dim].Values)
		score := weight * (1 - p)
		ev := map[string]any{
			"dimension":             dim.String(),
			"value":                 value,
			"known_values":          known,
			"new_value_probability": round4(p),
			"values_seen_one_day":   n1,
			"sightings":             n,
			"history_days":          b.HistoryDays(),
			"history_events":        b.Events,
		}
		out = append(out, Signal{
			Detector: IDFirstSeen,
			Subject:  dim.String() + ":" + value,
			Group:    IDFirstSeen + "/" + dim.String(),
			Score:    score,
			Title:    title,
			Reason: fmt.Sprintf("%s in %s of history (%s, %s; chance of a new one about %s)",
				what(), plural(b.HistoryDays(), "day", "days"), plural(int(b.Events), "call", "calls"),
				plural(known, "distinct "+dimNoun(dim), "distinct "+dimNoun(dim)+"s"), pct(p)),
			Evidence: ev,
		})
	}
	w := weightAPI
	if sensitiveServices[ev.Service] {
		w = weightSensitiveAPI
	}
	api := APIValue(ev)
	try(DimAPI, api, w, "called "+api+" for the first time", func() string {
		return fmt.Sprintf("first time %s called %s", c.Name, api)
	})
	try(DimRegion, ev.Region, weightRegion, "first call in region "+ev.Region, func() string {
		return fmt.Sprintf("first time %s acted in region %s (usual: %s)", c.Name, ev.Region, usual(b, DimRegion, 3))
	})
	ownCall := ev.InvokedBy == "" && ev.PrincipalType != "AWSService"
	if ownCall {
		if _, known := b.Has(DimNetwork, ev.Network.Key); !known {
			nw := weightNetwork
			what := func() string {
				return fmt.Sprintf("source network %s never seen for %s (usual: %s)", ev.Network.Key, c.Name, usual(b, DimNetwork, 3))
			}
			if (ev.Network.Class == events.NetPublic || ev.Network.Class == events.NetUnknown) && onlyAWSNetworks(b) {
				nw = weightLeftAWS
				what = func() string {
					return fmt.Sprintf("first call by %s from outside AWS: %s (always before from %s)", c.Name, ev.Network.Key, usual(b, DimNetwork, 3))
				}
			}
			try(DimNetwork, ev.Network.Key, nw, "from new network "+ev.Network.Key, what)
		}
		try(DimUserAgent, ev.UAFamily, weightUserAgent, "with new user agent "+ev.UAFamily, func() string {
			return fmt.Sprintf("user agent %s never seen for %s (usual: %s; full agent %q)", ev.UAFamily, c.Name, usual(b, DimUserAgent, 3), truncateRunes(ev.Record.UserAgent, 80))
		})
	}
	if isLongTermKey(ev.AccessKeyID) {
		try(DimAccessKey, ev.AccessKeyID, weightAccessKey, "with new access key "+ev.AccessKeyID, func() string {
			return fmt.Sprintf("access key %s never used by %s before", ev.AccessKeyID, c.Name)
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
	}
	return "access key"
}

// onlyAWSNetworks reports whether every remembered network is AWS's own.
func onlyAWSNetworks(b *Baseline) bool {
	vals := b.Dims[DimNetwork].Values
	if len(vals) == 0 {
		return false
	}
	for k := range vals {
		if !isAWSNetKey(k) {
			return false
		}
	}
	return true
}

func isAWSNetKey(k string) bool {
	return strings.HasPrefix(k, "aws/") || k == "aws-internal" || strings.HasSuffix(k, ".amazonaws.com")
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
