package notify

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/trailwatch/trailwatch/detectors"
)

func TestSubject(t *testing.T) {
	f := testFinding()
	for _, tc := range []struct {
		name   string
		mutate func(*detectors.Finding)
		want   string
	}{
		{"typical", func(*detectors.Finding) {}, "[HIGH] first-seen: alice@example.com called iam:CreateAccessKey"},
		{"critical", func(f *detectors.Finding) {
			f.Severity = detectors.SeverityCritical
			f.Detector = "high-risk"
			f.Title = "root console login without MFA"
		},
			"[CRITICAL] high-risk: root console login without MFA"},
		{"newlines and tabs", func(f *detectors.Finding) { f.Title = "line one\nline two\r\n\tthree" }, "[HIGH] first-seen: line one line two three"},
		{"non-ascii", func(f *detectors.Finding) { f.Title = "josé@example.com called s3:PutBucketPolicy 🚨" },
			"[HIGH] first-seen: jos?@example.com called s3:PutBucketPolicy ?"},
		{"empty title", func(f *detectors.Finding) { f.Title = " "; f.ID = "tw-abc" }, "[HIGH] first-seen: finding tw-abc"},
		{"no detector", func(f *detectors.Finding) { f.Detector = "" }, "[HIGH] alice@example.com called iam:CreateAccessKey"},
		{"long", func(f *detectors.Finding) { f.Title = strings.Repeat("abcdefghi ", 20) },
			"[HIGH] first-seen: " + strings.TrimSpace(strings.Repeat("abcdefghi ", 8)[:78]) + "..."},
		{"control chars only", func(f *detectors.Finding) { f.Title = "\x00\x07a\x1bb\x7f" }, "[HIGH] first-seen: a b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := f
			tc.mutate(&g)
			got := Subject(g)
			if got != tc.want {
				t.Errorf("Subject = %q\n           want %q", got, tc.want)
			}
			if len(got) > SNSMaxSubject {
				t.Errorf("subject is %d characters", len(got))
			}
			for _, r := range got {
				if r < 0x20 || r > 0x7e {
					t.Errorf("subject contains %U", r)
				}
			}
		})
	}
}

func TestEncodeFindingFitsAsIs(t *testing.T) {
	f := testFinding()
	b, trimmed, err := EncodeFinding(f, MaxBodyBytes)
	if err != nil || trimmed {
		t.Fatalf("EncodeFinding: trimmed=%v err=%v", trimmed, err)
	}
	want, _ := json.Marshal(f)
	if string(b) != string(want) {
		t.Errorf("small finding changed:\n%s\n%s", b, want)
	}
}

func TestEncodeFindingTrims(t *testing.T) {
	huge := testFinding()
	huge.EventIDs = make([]string, 100_000)
	for i := range huge.EventIDs {
		huge.EventIDs[i] = fmt.Sprintf("6f1d5a3e-0000-4000-8000-%012d", i)
	}
	huge.EventNames = []string{"CreateAccessKey", "AttachUserPolicy"}
	huge.Reasons = []string{strings.Repeat("a very long reason ", 20_000), "short reason", strings.Repeat("é", 100_000)}
	for i := 0; i < 1000; i++ {
		huge.Reasons = append(huge.Reasons, fmt.Sprintf("reason %d: %s", i, strings.Repeat("x", 500)))
	}
	bigEvidence := testFinding()
	bigEvidence.Evidence = map[string]any{"blob": strings.Repeat("y", 400_000), "keep": 1.5, "list": make([]int, 100_000)}
	hugeStrings := testFinding()
	hugeStrings.Title = strings.Repeat("t", 300_000)
	hugeStrings.PrincipalARN = strings.Repeat("p", 300_000)

	for _, tc := range []struct {
		name  string
		f     detectors.Finding
		check func(t *testing.T, g detectors.Finding)
	}{
		{"100k event IDs and huge reasons", huge, func(t *testing.T, g detectors.Finding) {
			if len(g.EventIDs) == 0 || g.EventIDs[0] != huge.EventIDs[0] {
				t.Errorf("event IDs lost their head: %d kept", len(g.EventIDs))
			}
			if len(g.Reasons) == 0 || !strings.HasPrefix(g.Reasons[0], "a very long reason") || !strings.HasSuffix(g.Reasons[0], "...") {
				t.Errorf("first reason not kept and shortened")
			}
			if g.Evidence["p_unseen"] != 0.0021 {
				t.Errorf("small evidence dropped: %v", g.Evidence)
			}
		}},
		{"huge evidence", bigEvidence, func(t *testing.T, g detectors.Finding) {
			if _, ok := g.Evidence["blob"]; ok {
				t.Error("largest evidence entry kept")
			}
			if g.Evidence["keep"] != 1.5 {
				t.Errorf("small evidence dropped: %v", g.Evidence)
			}
		}},
		{"huge text fields", hugeStrings, func(t *testing.T, g detectors.Finding) {
			if !strings.HasSuffix(g.Title, "...") || len(g.Title) > 1024 {
				t.Errorf("title not shortened (%d)", len(g.Title))
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := len(tc.f.EventIDs)
			b, trimmed, err := EncodeFinding(tc.f, MaxBodyBytes)
			if err != nil {
				t.Fatal(err)
			}
			if !trimmed || len(b) > MaxBodyBytes || len(b) > SNSMaxMessageBytes {
				t.Fatalf("trimmed=%v size=%d", trimmed, len(b))
			}
			if !json.Valid(b) {
				t.Fatal("output is not valid JSON")
			}
			var g detectors.Finding
			if err := json.Unmarshal(b, &g); err != nil {
				t.Fatal(err)
			}
			if g.Evidence["truncated"] != true {
				t.Errorf(`evidence lacks "truncated": true: %v`, g.Evidence["truncated"])
			}
			if g.ID != tc.f.ID || g.Severity != tc.f.Severity || g.Count != tc.f.Count {
				t.Errorf("identity fields changed")
			}
			if len(tc.f.EventIDs) != orig || tc.f.Evidence["truncated"] != nil {
				t.Errorf("caller's finding was modified")
			}
			tc.check(t, g)
			t.Logf("%d bytes, %d event IDs, %d reasons", len(b), len(g.EventIDs), len(g.Reasons))
		})
	}
}

func TestPublishInput(t *testing.T) {
	f := testFinding()
	f.AccountID = ""
	in, err := PublishInput("arn:aws:sns:us-east-1:123456789012:trailwatch-findings", f, true)
	if err != nil {
		t.Fatal(err)
	}
	if *in.Subject != "[HIGH] first-seen: alice@example.com called iam:CreateAccessKey" {
		t.Errorf("subject = %q", *in.Subject)
	}
	got := map[string]string{}
	for k, v := range in.MessageAttributes {
		if *v.DataType != "String" {
			t.Errorf("%s has type %s", k, *v.DataType)
		}
		got[k] = *v.StringValue
	}
	if fmt.Sprint(got) != "map[detector:first-seen mode:alert severity:HIGH ticket:true]" {
		t.Errorf("attributes = %v (empty account_id must be left out)", got)
	}
	if !json.Valid([]byte(*in.Message)) {
		t.Error("message is not JSON")
	}
}

func TestDecodeMessage(t *testing.T) {
	f := testFinding()
	body, _ := json.Marshal(f)
	env, _ := json.Marshal(SNSEnvelope{Type: "Notification", MessageID: "m-1", TopicARN: "arn:aws:sns:us-east-1:1:t",
		Subject: Subject(f), Message: string(body), Timestamp: "2026-11-28T12:00:00.000Z",
		MessageAttributes: map[string]SNSMessageAttribute{"severity": {Type: "String", Value: "HIGH"}}})
	for _, tc := range []struct {
		name, body string
		ok         bool
	}{
		{"sns envelope", string(env), true},
		{"bare finding", string(body), true},
		{"fixture", readFixture(t, "sns_envelope.json"), true},
		{"not json", "hello", false},
		{"empty object", "{}", false},
		{"envelope with garbage message", `{"Type":"Notification","TopicArn":"x","Message":"not json"}`, false},
		{"subscription confirmation", `{"Type":"SubscriptionConfirmation","TopicArn":"x","Message":"confirm"}`, false},
		{"array", `[1,2]`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := DecodeMessage(tc.body)
			if !tc.ok {
				if err == nil {
					t.Fatalf("decoded %+v", g)
				}
				if !strings.Contains(err.Error(), ErrUndecodable.Error()) {
					t.Errorf("error does not wrap ErrUndecodable: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g.ID == "" || g.Severity != detectors.SeverityHigh {
				t.Errorf("decoded %+v", g)
			}
		})
	}
}
