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
// Scoring: AWS-internal, or a named provider's network (a CI runner), then
// outside every named network scores 0.9 (at least HIGH); two
// public networks that share no /16 (IPv4) or /32 (IPv6), the second never
// used by the principal before, score 0.4, since people's sessions move
// between home, office and VPN; the score shrinks by the square of the
// surprise of a new network for the principal (surpriseFactor of its
// calibrated chance of a new one), so a principal whose addresses churn is
// not flagged. Calls an AWS service
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
	// A session a named provider's runner obtained (a CI job's token),
	// then used from an address outside every named network: leaving the
	// provider is weighed like leaving AWS.
	firstProvider := s.NetClass == events.NetProvider
	var score float64
	floor := SeverityInfo
	switch {
	case (firstAWS || firstProvider) && nowOutside:
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
		sf := surpriseFactor(p)
		score = 0.4 * sf * sf
	case firstAWS && ev.Network.Class == events.NetAWS && s.NetKey != ev.Network.Key:
		// Another AWS region: unusual, weak.
		score = 0.25
	default:
		return nil
	}
	first := time.Unix(s.First, 0).UTC().Format(time.RFC3339)
	from := string(s.NetClass)
	if firstProvider {
		from = "provider network"
	}
	return []Signal{{
		Detector: IDCredentialPinning,
		Subject:  "credential:" + ev.AccessKeyID,
		Group:    IDCredentialPinning,
		Score:    score,
		Floor:    floor,
		Title:    fmt.Sprintf("session credential %s used from %s after %s", ev.AccessKeyID, ev.Network.Key, s.NetKey),
		Reason: fmt.Sprintf("session credential %s of %s was first used from %s (%s) at %s and is now used from %s (%s), an unrelated network",
			ev.AccessKeyID, c.Name, s.NetKey, from, first, ev.Network.Key, ev.Network.Class),
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
