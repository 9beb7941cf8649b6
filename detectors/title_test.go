package detectors

import (
	"strings"
	"testing"
)

func TestCaseTitleOneSentenceNoRepeat(t *testing.T) {
	stop := CaseSignal{Detector: IDHighRiskAction, Subject: "action:cloudtrail:StopLogging", Title: "called cloudtrail:StopLogging", Score: 0.9}
	share := CaseSignal{Detector: IDHighRiskAction, Subject: "action:ec2:ModifySnapshotAttribute", Title: "shared snap-1 with outside account 999988887777", Score: 0.9}
	cred := CaseSignal{Detector: "credential-reuse", Subject: "session:ASIAX", Title: "session credential ASIAX used from 203.0.113.0/24 after AWS us-east-1", Score: 0.8}
	fsAPI := func(api string) CaseSignal {
		return CaseSignal{Detector: IDFirstSeen, Subject: "api:" + api, Title: "called " + api + " for the first time", Score: 0.5}
	}
	net := func(n string) CaseSignal {
		return CaseSignal{Detector: IDFirstSeen, Subject: "network:" + n, Title: "from new network " + n, Score: 0.6}
	}
	hour := func(l string) CaseSignal {
		return CaseSignal{Detector: IDUnusualHour, Subject: "hour:" + l, Title: "active at an unusual hour (" + l + ")", Score: 0.3}
	}
	longLead := CaseSignal{Detector: IDHighRiskAction, Subject: "action:iam:AttachUserPolicy", Score: 0.9,
		Title: "attached arn:aws:iam::aws:policy/AdministratorAccess to backup-admin-with-a-rather-long-user-name-for-this-test-case-x"}
	longerLead := CaseSignal{Detector: IDHighRiskAction, Subject: "action:iam:AttachUserPolicy", Score: 0.9, Title: strings.Repeat("y", 180)}
	rate := CaseSignal{Detector: "rate-spike", Subject: "rate", Title: "burst of 90 mutating calls in 10 minutes", Score: 0.2}
	tests := []struct {
		name string
		sigs []CaseSignal
		want string
	}{
		{"lead alone", []CaseSignal{stop}, "bob called cloudtrail:StopLogging"},
		{"first-seen of the lead's API folds into the lead",
			[]CaseSignal{stop, net("89.248.165.0/24"), fsAPI("cloudtrail:StopLogging")},
			"bob called cloudtrail:StopLogging for the first time, from new network 89.248.165.0/24"},
		{"denied first-seen of the lead's API is not repeated",
			[]CaseSignal{stop, fsAPI("cloudtrail:StopLogging (denied)")},
			"bob called cloudtrail:StopLogging"},
		{"lead API not in the title text still gets 'for the first time'",
			[]CaseSignal{share, fsAPI("ec2:ModifySnapshotAttribute"), fsAPI("rds:ModifyDBSnapshotAttribute")},
			"bob shared snap-1 with outside account 999988887777 for the first time, with a first call to rds:ModifyDBSnapshotAttribute"},
		{"several first-seen APIs share one clause",
			[]CaseSignal{share, fsAPI("s3:PutBucketPublicAccessBlock"), fsAPI("s3:PutBucketPolicy"), fsAPI("iam:ListUsers (denied)")},
			"bob shared snap-1 with outside account 999988887777, with first calls to s3:PutBucketPublicAccessBlock, s3:PutBucketPolicy and iam:ListUsers (denied)"},
		{"a long API list is counted, not spelled out",
			[]CaseSignal{share, fsAPI("a:One"), fsAPI("a:Two"), fsAPI("a:Three"), fsAPI("a:Four")},
			"bob shared snap-1 with outside account 999988887777, with first calls to a:One, a:Two and 2 more"},
		{"network the lead already names is not repeated",
			[]CaseSignal{cred, net("203.0.113.0/24"), hour("03:00 UTC")},
			"bob session credential ASIAX used from 203.0.113.0/24 after AWS us-east-1, active at an unusual hour (03:00 UTC)"},
		{"at most two clauses, one hour clause",
			[]CaseSignal{stop, net("198.51.100.0/24"), hour("03:00 UTC"), hour("Sunday"), fsAPI("iam:ListRoles")},
			"bob called cloudtrail:StopLogging, from new network 198.51.100.0/24, active at an unusual hour (03:00 UTC)"},
		{"other detectors never add clauses",
			[]CaseSignal{stop, rate},
			"bob called cloudtrail:StopLogging"},
		{"a clause that does not fit is shortened, not cut",
			[]CaseSignal{longLead, fsAPI("iam:ListUsers (denied)"), fsAPI("iam:ListRoles (denied)"), fsAPI("iam:GetAccountSummary (denied)")},
			"bob " + longLead.Title + ", with first calls to iam:ListUsers (denied) and 2 more"},
		{"a clause that cannot fit is left out",
			[]CaseSignal{longerLead, net("198.51.100.0/24")},
			"bob " + longerLead.Title},
		{"first-seen lead keeps its wording",
			[]CaseSignal{fsAPI("iam:CreateUser"), fsAPI("iam:AttachUserPolicy")},
			"bob called iam:CreateUser for the first time, with a first call to iam:AttachUserPolicy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := caseTitle("bob", tt.sigs)
			if n := len([]rune(got)); n > maxTitleRunes {
				t.Errorf("title of %d runes, over %d", n, maxTitleRunes)
			}
			if got != tt.want {
				t.Errorf("title\n got %q\nwant %q", got, tt.want)
			}
			if n := strings.Count(got, "for the first time"); n > 1 {
				t.Errorf("title says 'for the first time' %d times: %q", n, got)
			}
			for _, s := range tt.sigs {
				if api := signalAPI(s); api != "" && strings.Count(got, api+" ")+strings.Count(got, api+",") > 1 {
					t.Errorf("title names %s twice: %q", api, got)
				}
			}
		})
	}
}
