package detectors

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/trailwatch/trailwatch/events"
)

// CredentialPinning flags one session credential (an ASIA… access key) used
// from two unrelated networks: above all, first from inside AWS (a Lambda
// function, an instance, a container) and then from outside, the mark of
// stolen instance or function credentials.
//
// Scoring: AWS-internal then outside AWS scores 0.9 (at least HIGH); two
// public networks that share no /16 (IPv4) or /32 (IPv6), the second never
// used by the principal before, score 0.4, since people's sessions move
// between home, office and VPN; the score shrinks by the square of the
// principal's Good-Turing chance of a new network, so a principal whose
// addresses churn is not flagged. Calls an AWS service
// made with the credential on the principal's behalf are ignored.
type CredentialPinning struct{}

// ID returns "credential-pinning".
func (CredentialPinning) ID() string { return IDCredentialPinning }

// Summary describes the detector.
func (CredentialPinning) Summary() string {
	return "One session credential used from two unrelated networks, especially from inside AWS and then outside it."
}

// Check implements Detector.
func (CredentialPinning) Check(c *Context, ev *events.Event) []Signal {
	if !isSessionKey(ev.AccessKeyID) || ev.InvokedBy != "" {
		return nil
	}
	switch ev.Network.Class {
	case events.NetService, events.NetAWSInternal, events.NetUnknown:
		return nil
	}
	s := c.Baseline.Session(ev.AccessKeyID)
	if s == nil || s.NetKey == ev.Network.Key {
		return nil
	}
	firstAWS := s.NetClass == events.NetAWS || s.NetClass == events.NetAWSInternal || s.NetClass == events.NetService
	nowOutside := ev.Network.Class == events.NetPublic
	var score float64
	floor := SeverityInfo
	switch {
	case firstAWS && nowOutside:
		score, floor = 0.9, SeverityHigh
	case s.NetClass == events.NetPublic && nowOutside && !related(s.NetKey, ev.Network.Key):
		// People move between home, office and VPN within a session: only
		// a network the principal has never used counts.
		if _, known := c.Baseline.Has(DimNetwork, ev.Network.Key); known {
			return nil
		}
		// A principal whose addresses churn (a function on AWS addresses
		// when AWS's ranges are not loaded) is not surprised by another.
		p, _, _ := c.Baseline.NewValueProbability(DimNetwork)
		score = 0.4 * (1 - p) * (1 - p)
	case firstAWS && ev.Network.Class == events.NetAWS && s.NetKey != ev.Network.Key:
		// Another AWS region: unusual, weak.
		score = 0.25
	default:
		return nil
	}
	first := time.Unix(s.First, 0).UTC().Format(time.RFC3339)
	return []Signal{{
		Detector: IDCredentialPinning,
		Subject:  "credential:" + ev.AccessKeyID,
		Group:    IDCredentialPinning,
		Score:    score,
		Floor:    floor,
		Title:    fmt.Sprintf("session credential %s used from %s after %s", ev.AccessKeyID, ev.Network.Key, s.NetKey),
		Reason: fmt.Sprintf("session credential %s of %s was first used from %s (%s) at %s and is now used from %s (%s), an unrelated network",
			ev.AccessKeyID, c.Name, s.NetKey, s.NetClass, first, ev.Network.Key, ev.Network.Class),
		Evidence: map[string]any{
			"access_key_id":       ev.AccessKeyID,
			"first_network":       s.NetKey,
			"first_network_class": string(s.NetClass),
			"first_used":          first,
			"network":             ev.Network.Key,
			"network_class":       string(ev.Network.Class),
			"source_ip":           ev.Record.SourceIPAddress,
		},
	}}
}

// related reports whether two network keys (prefixes) share a /16 (IPv4)
// or a /32 (IPv6).
func related(a, b string) bool {
	pa, errA := netip.ParsePrefix(a)
	pb, errB := netip.ParsePrefix(b)
	if errA != nil || errB != nil || pa.Addr().Is4() != pb.Addr().Is4() {
		return false
	}
	bits := 16
	if pa.Addr().Is6() {
		bits = 32
	}
	x, _ := pa.Addr().Prefix(bits)
	y, _ := pb.Addr().Prefix(bits)
	return x == y
}
