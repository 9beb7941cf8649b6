package detectors

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// DimValue names one remembered value: a dimension and the value.
type DimValue struct {
	Dim   Dim
	Value string
}

// ParseDimValue parses an analyst's "dimension:value": api:iam:CreateUser,
// network:203.0.113.0/24, useragent:curl (or user_agent:), region:eu-west-1,
// accesskey:AKIA… (or access_key:), resource:"fn orders",
// risk:"ec2-modify-snapshot-attribute | account 999988887777".
func ParseDimValue(s string) (DimValue, error) {
	name, value, ok := strings.Cut(s, ":")
	if !ok || value == "" {
		return DimValue{}, fmt.Errorf("%q: want DIMENSION:VALUE (api, network, useragent, region, accesskey, resource, risk)", s)
	}
	switch strings.ToLower(strings.ReplaceAll(name, "_", "")) {
	case "api":
		return DimValue{DimAPI, value}, nil
	case "network":
		return DimValue{DimNetwork, value}, nil
	case "useragent":
		return DimValue{DimUserAgent, value}, nil
	case "region":
		return DimValue{DimRegion, value}, nil
	case "accesskey":
		return DimValue{DimAccessKey, value}, nil
	case "resource":
		return DimValue{DimResource, value}, nil
	case "risk":
		return DimValue{DimRisk, value}, nil
	}
	return DimValue{}, fmt.Errorf("%q: unknown dimension %q (want api, network, useragent, region, accesskey, resource or risk)", s, name)
}

func (dv DimValue) String() string { return dv.Dim.String() + ":" + dv.Value }

// dayString formats a day number as a date.
func dayString(d int32) string { return time.Unix(int64(d)*86400, 0).UTC().Format("2006-01-02") }

// removeValue drops one value and its sightings, so that the chance of a
// new value is estimated as if it had never been seen, and returns what
// was removed.
func (b *Baseline) removeValue(d Dim, k string) string {
	s := &b.Dims[d]
	v, ok := s.Values[k]
	if !ok {
		return ""
	}
	delete(s.Values, k)
	s.Sightings -= min(s.Sightings, uint32(v.Days))
	b.ColdDirty = true
	return fmt.Sprintf("forget %s:%s (first seen %s, last %s, on %d day(s))", d, k, dayString(v.First), dayString(v.Last), v.Days)
}

// ForgetValues removes the named values (after an incident: the attacker's
// network, tool or APIs must be new again). It returns one line per value
// removed; values the baseline does not hold are listed as such.
func (b *Baseline) ForgetValues(vals []DimValue) []string {
	var out []string
	for _, dv := range vals {
		if line := b.removeValue(dv.Dim, dv.Value); line != "" {
			out = append(out, line)
		} else {
			out = append(out, fmt.Sprintf("not held: %s", dv))
		}
	}
	return out
}

// ForgetSince removes every value first seen on or after the day of t, and
// the session credentials first used since t: what the baseline learned
// since an incident began. Counters, rates and the hour histogram are not
// rewound (they are aggregates); the values are what makes the attacker's
// behaviour look familiar. It returns one line per value removed.
func (b *Baseline) ForgetSince(t time.Time) []string {
	day := dayOf(t)
	var out []string
	for d := range b.Dims {
		keys := make([]string, 0)
		for k, v := range b.Dims[d].Values {
			if v.First >= day {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			out = append(out, b.removeValue(Dim(d), k))
		}
	}
	kept := b.Sessions[:0]
	for _, s := range b.Sessions {
		if s.First >= t.Unix() {
			out = append(out, fmt.Sprintf("forget session credential first used %s from %s", time.Unix(s.First, 0).UTC().Format(time.RFC3339), s.NetKey))
			continue
		}
		kept = append(kept, s)
	}
	b.Sessions = kept
	return out
}

// BaselineSummary is what a baseline knows, for people and scripts
// (trailwatch baseline show).
type BaselineSummary struct {
	Principal   string                   `json:"principal"`
	Model       int                      `json:"model"`
	Events      uint64                   `json:"events"`
	Mutating    uint64                   `json:"mutating"`
	Denied      uint64                   `json:"denied"`
	FirstSeen   time.Time                `json:"first_seen"`
	LastSeen    time.Time                `json:"last_seen"`
	HistoryDays int                      `json:"history_days"`
	ActiveDays  uint32                   `json:"active_days"`
	Sessions    int                      `json:"sessions"`
	Dimensions  map[string]DimensionInfo `json:"dimensions"`
}

// DimensionInfo is one dimension of a BaselineSummary.
type DimensionInfo struct {
	// NewValueProbability is the Good-Turing chance that the next
	// sighting is a value never seen.
	NewValueProbability float64     `json:"new_value_probability"`
	Values              []ValueInfo `json:"values"`
}

// ValueInfo is one remembered value, with its days as dates.
type ValueInfo struct {
	Value string `json:"value"`
	First string `json:"first_seen"`
	Last  string `json:"last_seen"`
	Days  uint16 `json:"days"`
}

// Summary describes the baseline; values are listed most recent first.
func (b *Baseline) Summary() BaselineSummary {
	s := BaselineSummary{
		Principal: b.Key, Model: b.Model, Events: b.Events, Mutating: b.Mutating, Denied: b.Denied,
		HistoryDays: b.HistoryDays(), ActiveDays: b.ActiveDays, Sessions: len(b.Sessions),
		Dimensions: map[string]DimensionInfo{},
	}
	if b.FirstSeen > 0 {
		s.FirstSeen, s.LastSeen = time.Unix(b.FirstSeen, 0).UTC(), time.Unix(b.LastSeen, 0).UTC()
	}
	for d := range b.Dims {
		p, _, _ := b.NewValueProbability(Dim(d))
		info := DimensionInfo{NewValueProbability: round4(p), Values: []ValueInfo{}}
		for k, v := range b.Dims[d].Values {
			info.Values = append(info.Values, ValueInfo{Value: k, First: dayString(v.First), Last: dayString(v.Last), Days: v.Days})
		}
		sort.Slice(info.Values, func(i, j int) bool {
			if info.Values[i].Last != info.Values[j].Last {
				return info.Values[i].Last > info.Values[j].Last
			}
			return info.Values[i].Value < info.Values[j].Value
		})
		s.Dimensions[Dim(d).String()] = info
	}
	return s
}
