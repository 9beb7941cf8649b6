package detectors_test

import (
	"context"
	"fmt"
	"time"

	"github.com/trailwatch/trailwatch/baselines"
	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/events"
)

// The engine scores a batch against each principal's baseline and reports
// the findings that are new, escalated or counted.
func ExampleEngine_Process() {
	eng := detectors.NewEngine(detectors.DefaultConfig(), baselines.NewMemory(), nil)
	t := time.Date(2026, 11, 3, 8, 12, 0, 0, time.UTC)
	ev := events.Event{
		Record:    &events.Record{EventName: "StopLogging", SourceIPAddress: "198.51.100.7"},
		Time:      t,
		ID:        "e1",
		Account:   "111122223333",
		Region:    "us-east-1",
		Service:   "cloudtrail",
		API:       "cloudtrail:StopLogging",
		Principal: "111122223333:user/alice", PrincipalType: "IAMUser",
		Mutating: true, Selected: true,
		Network:  events.Network{Class: events.NetPublic, Key: "198.51.100.0/24"},
		UAFamily: "aws-cli",
	}
	res, err := eng.Process(context.Background(), []events.Event{ev})
	if err != nil {
		panic(err)
	}
	for _, u := range res.Updates {
		fmt.Println(u.Finding.Severity, u.Finding.Detector, u.Routed)
		fmt.Println(u.Finding.Reasons[0])
	}
	// Output:
	// CRITICAL high-risk-action true
	// alice called cloudtrail:StopLogging (logging and detection tampering: the first event ever seen from this principal)
}
