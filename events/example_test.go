package events_test

import (
	"fmt"
	"strings"

	"github.com/trailwatch/trailwatch/events"
)

// A Reader yields the events the production rule selects, normalized and in
// time order, from any mix of inputs; skips are counted, never fatal.
func ExampleReader() {
	in := `{"eventTime":"2026-10-05T14:00:02Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser","readOnly":false,"eventType":"AwsApiCall","eventID":"e2","recipientAccountId":"111122223333","sourceIPAddress":"203.0.113.7","userAgent":"aws-cli/2.22.4 md/awscrt#0.22.0","userIdentity":{"type":"IAMUser","userName":"alice","accountId":"111122223333"}}
{"eventTime":"2026-10-05T14:00:01Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","readOnly":true,"eventID":"e1","userIdentity":{"type":"Root","accountId":"111122223333"}}
not json
`
	rd := &events.Reader{Normalizer: &events.Normalizer{Keying: events.DefaultKeyingRules()}, Stdin: strings.NewReader(in)}
	var err error
	for ev := range rd.Events([]string{"-"}, &err) {
		fmt.Println(ev.Principal, ev.API, ev.Network.Key, ev.UAFamily, ev.Mutating)
	}
	fmt.Println(err, rd.Stats.Skips())
	// Output:
	// 111122223333:user/alice iam:CreateUser 203.0.113.0/24 aws-cli true
	// <nil> map[malformed_json:1 not_selected:1]
}
