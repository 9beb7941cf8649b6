package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/internal/testenv"
)

// incidentArchive is alice's history from the office network, then an
// attacker's day from another network with a new tool and a new API.
func incidentArchive(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	rec := func(at time.Time, ip, ua, api string, i int) {
		svc, name, _ := strings.Cut(api, ":")
		fmt.Fprintf(&b, `{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDAALICE","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","userName":"alice","accessKeyId":"AKIAALICE"},"eventTime":%q,"eventSource":"%s.amazonaws.com","eventName":%q,"awsRegion":"us-east-1","sourceIPAddress":%q,"userAgent":%q,"readOnly":false,"eventType":"AwsApiCall","eventID":"ev-%d","recipientAccountId":"111122223333"}`+"\n",
			at.Format(time.RFC3339), svc, name, ip, ua, i)
	}
	start := time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC)
	n := 0
	for d := range 20 {
		for h := range 4 {
			rec(start.AddDate(0, 0, d).Add(time.Duration(h)*time.Hour), "203.0.113.10", "aws-cli/2.22.4", "s3:PutObject", n)
			n++
		}
	}
	incident := start.AddDate(0, 0, 20)
	for i := range 3 {
		rec(incident.Add(time.Duration(i)*time.Minute), "198.51.100.7", "curl/8.5.0", "iam:CreateAccessKey", n)
		n++
	}
	p := filepath.Join(t.TempDir(), "alice.jsonl")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func baselineCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(append([]string{"baseline"}, args...), nil, &out, &errb)
	return out.String(), errb.String(), err
}

// TestBaselineSurgery: show, forget by value (dry run first), forget since
// the incident, and reset, against dynalite; every change needs a reason
// and is logged.
func TestBaselineSurgery(t *testing.T) {
	ep := testenv.Dynalite(t)
	const alice = "111122223333:user/alice"
	table := "tw-surgery"
	if _, stderr, err := replay(t, "--store", "dynamodb", "--endpoint", ep, "--table", table, "--create-table", "--quiet", incidentArchive(t)); err != nil {
		t.Fatalf("replay: %v\n%s", err, stderr)
	}
	store := []string{"--endpoint", ep, "--table", table}
	show := func() detectors.BaselineSummary {
		t.Helper()
		out, stderr, err := baselineCmd(t, append([]string{"show", "--format", "json"}, append(store, alice)...)...)
		if err != nil {
			t.Fatalf("show: %v\n%s", err, stderr)
		}
		var s detectors.BaselineSummary
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatalf("show json: %v\n%s", err, out)
		}
		return s
	}
	has := func(s detectors.BaselineSummary, dim, v string) bool {
		for _, x := range s.Dimensions[dim].Values {
			if x.Value == v {
				return true
			}
		}
		return false
	}
	before := show()
	if !has(before, "network", "198.51.100.0/24") || !has(before, "api", "iam:CreateAccessKey") || before.Events != 83 {
		t.Fatalf("baseline before surgery: %+v", before)
	}
	if out, _, err := baselineCmd(t, append([]string{"show"}, append(store, alice)...)...); err != nil || !strings.Contains(out, "198.51.100.0/24") {
		t.Errorf("text show: %v\n%s", err, out)
	}

	// A change without a reason is refused.
	if _, _, err := baselineCmd(t, append([]string{"forget"}, append(store, alice, "network:198.51.100.0/24")...)...); err == nil {
		t.Error("forget without --reason accepted")
	}
	// Dry run: the change is shown, nothing written.
	out, _, err := baselineCmd(t, append([]string{"forget", "--reason", "incident IR-42", "--dry-run"}, append(store, alice, "network:198.51.100.0/24")...)...)
	if err != nil || !strings.Contains(out, "would change") || !strings.Contains(out, "forget network:198.51.100.0/24") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	if !has(show(), "network", "198.51.100.0/24") {
		t.Fatal("a dry run wrote the change")
	}
	// Forget the attacker's network by value: logged with the reason.
	out, stderr, err := baselineCmd(t, append([]string{"forget", "--reason", "incident IR-42"}, append(store, alice, "network:198.51.100.0/24")...)...)
	if err != nil || !strings.Contains(out, "forget network:198.51.100.0/24") {
		t.Fatalf("forget: %v\n%s", err, out)
	}
	if !strings.Contains(stderr, `"reason":"incident IR-42"`) || !strings.Contains(stderr, `"msg":"baseline forget"`) {
		t.Errorf("the change is not logged with its reason:\n%s", stderr)
	}
	after := show()
	if has(after, "network", "198.51.100.0/24") || !has(after, "network", "203.0.113.0/24") || !has(after, "api", "iam:CreateAccessKey") {
		t.Fatalf("after forgetting the network: %+v", after.Dimensions["network"])
	}
	// Forget everything learned since the incident began.
	if out, _, err := baselineCmd(t, append([]string{"forget", "--reason", "incident IR-42", "--since", "2026-10-21"}, append(store, alice)...)...); err != nil {
		t.Fatalf("forget --since: %v\n%s", err, out)
	}
	after = show()
	if has(after, "api", "iam:CreateAccessKey") || has(after, "user_agent", "curl") || !has(after, "api", "s3:PutObject") {
		t.Errorf("after forget --since: api %+v, user agents %+v", after.Dimensions["api"], after.Dimensions["user_agent"])
	}
	// The attacker's one-day network no longer counts as evidence that
	// this principal meets new networks: a new one is less expected.
	if b, a := before.Dimensions["network"].NewValueProbability, after.Dimensions["network"].NewValueProbability; a >= b {
		t.Errorf("forgetting a network did not make a new one more surprising: chance of a new one %v -> %v", b, a)
	}
	// Reset.
	if out, _, err := baselineCmd(t, append([]string{"reset", "--reason", "compromised, rebuilt"}, append(store, alice)...)...); err != nil || !strings.Contains(out, "reset: 83 events") {
		t.Fatalf("reset: %v\n%s", err, out)
	}
	if s := show(); s.Events != 0 || len(s.Dimensions["api"].Values) != 0 {
		t.Errorf("after reset: %+v", s)
	}
	// An unknown principal is an error, not an empty baseline.
	if _, _, err := baselineCmd(t, append([]string{"show"}, append(store, "111122223333:user/nobody")...)...); err == nil {
		t.Error("show of an unknown principal succeeded")
	}
}
