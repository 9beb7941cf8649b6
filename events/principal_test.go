package events

import (
	"encoding/json"
	"testing"
)

func TestPrincipalKey(t *testing.T) {
	tests := []struct {
		name      string
		record    string
		keying    KeyingRules
		wantKey   string
		wantHuman bool
		wantSkip  bool
	}{
		{
			name:    "IAM user",
			record:  `{"recipientAccountId":"111122223333","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAEXAMPLE","userName":"alice"}}`,
			wantKey: "111122223333:user/alice",
		},
		{
			name:    "IAM user without userName falls back to the ARN",
			record:  `{"userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/path/bob","accountId":"111122223333"}}`,
			wantKey: "111122223333:user/bob",
		},
		{
			name:    "service role keyed per role",
			record:  `{"recipientAccountId":"111122223333","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/orders-api/orders-api","accountId":"111122223333","accessKeyId":"ASIAEXAMPLE","sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::111122223333:role/orders-api","accountId":"111122223333","userName":"orders-api"}}}}`,
			wantKey: "111122223333:role/orders-api",
		},
		{
			name:      "IAM Identity Center role keyed per session (the person)",
			record:    `{"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/alice@example.com","accountId":"111122223333","sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_AdministratorAccess_0123456789abcdef","accountId":"111122223333","userName":"AWSReservedSSO_AdministratorAccess_0123456789abcdef"}}}}`,
			wantKey:   "111122223333:role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/alice@example.com",
			wantHuman: true,
		},
		{
			name:      "other human-federated roles per configured pattern",
			record:    `{"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/okta-engineers/carol","accountId":"111122223333","sessionContext":{"sessionIssuer":{"userName":"okta-engineers","accountId":"111122223333"}}}}`,
			keying:    KeyingRules{PerSessionRoles: []string{"AWSReservedSSO_*", "okta-*"}},
			wantKey:   "111122223333:role/okta-engineers/carol",
			wantHuman: true,
		},
		{
			name:    "assumed role without session context uses the ARN",
			record:  `{"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/ci-deploy/run-42","accountId":"111122223333"}}`,
			wantKey: "111122223333:role/ci-deploy",
		},
		{
			name:    "root",
			record:  `{"userIdentity":{"type":"Root","principalId":"111122223333","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333"}}`,
			wantKey: "111122223333:root",
		},
		{
			name:    "federated user keyed by the IAM user who federated it",
			record:  `{"userIdentity":{"type":"FederatedUser","principalId":"111122223333:dave","arn":"arn:aws:sts::111122223333:federated-user/dave","accountId":"111122223333","sessionContext":{"sessionIssuer":{"type":"IAMUser","principalId":"AIDAEXAMPLECCCCCCCCCC","arn":"arn:aws:iam::111122223333:user/path/carol","accountId":"111122223333"}}}}`,
			wantKey: "111122223333:user/carol",
		},
		{
			name:    "federated user without an issuer: one key per account, never the chosen name",
			record:  `{"userIdentity":{"type":"FederatedUser","principalId":"111122223333:dave","arn":"arn:aws:sts::111122223333:federated-user/dave","accountId":"111122223333"}}`,
			wantKey: "111122223333:federated-user",
		},
		{
			name:    "AWS service principal",
			record:  `{"recipientAccountId":"111122223333","sourceIPAddress":"autoscaling.amazonaws.com","userIdentity":{"type":"AWSService","invokedBy":"autoscaling.amazonaws.com"}}`,
			wantKey: "111122223333:service/autoscaling.amazonaws.com",
		},
		{
			name:    "another AWS account",
			record:  `{"recipientAccountId":"111122223333","userIdentity":{"type":"AWSAccount","principalId":"AIDAEXAMPLE","accountId":"999988887777"}}`,
			wantKey: "111122223333:account/999988887777",
		},
		{
			name:      "IAM Identity Center user",
			record:    `{"recipientAccountId":"111122223333","userIdentity":{"type":"IdentityCenterUser","accountId":"111122223333","onBehalfOf":{"userId":"544894e8-80c1-707f-60e3-3ba6510dfac1","identityStoreArn":"arn:aws:identitystore::111122223333:identitystore/d-1234567890"},"credentialId":"EXAMPLE"}}`,
			wantKey:   "111122223333:identitycenter/544894e8-80c1-707f-60e3-3ba6510dfac1",
			wantHuman: true,
		},
		{
			name:      "web identity user",
			record:    `{"recipientAccountId":"111122223333","userIdentity":{"type":"WebIdentityUser","principalId":"accounts.google.com:1234","userName":"1234","identityProvider":"accounts.google.com"}}`,
			wantKey:   "111122223333:web-identity/1234",
			wantHuman: true,
		},
		{
			name:     "no identity at all is skipped",
			record:   `{"userIdentity":{}}`,
			wantSkip: true,
		},
		{
			name:     "federated user without issuer, ARN or principal ID is skipped",
			record:   `{"userIdentity":{"type":"FederatedUser","accountId":"111122223333"}}`,
			wantSkip: true,
		},
		{
			name:     "IAM user without any name is skipped",
			record:   `{"userIdentity":{"type":"IAMUser"}}`,
			wantSkip: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Record
			if err := json.Unmarshal([]byte(tt.record), &r); err != nil {
				t.Fatal(err)
			}
			keying := tt.keying
			if keying.PerSessionRoles == nil {
				keying = DefaultKeyingRules()
			}
			n := &Normalizer{Keying: keying}
			key, _, human, err := n.PrincipalKey(&r)
			if tt.wantSkip {
				if err == nil {
					t.Fatalf("PrincipalKey = %q, want a skip", key)
				}
				return
			}
			if err != nil {
				t.Fatalf("PrincipalKey: %v", err)
			}
			if key != tt.wantKey || human != tt.wantHuman {
				t.Errorf("PrincipalKey = %q human=%v, want %q human=%v", key, human, tt.wantKey, tt.wantHuman)
			}
		})
	}
}

// TestAdversarialFederationNameChoosesBaseline: the caller of
// GetFederationToken chooses the federated user's name. Keyed by it, each
// new name was an untrained baseline where novelty is silent. Sessions are
// keyed by the IAM user who federated them (from the real CloudTrail shape,
// testdata/federated-users.jsonl after a Stratus Red Team detonation of
// aws.persistence.sts-federation-token): two names from one IAM user are
// one key, the user's own; the chosen name stays as the session name and
// in the ARN shown with findings.
func TestAdversarialFederationNameChoosesBaseline(t *testing.T) {
	recs, skips := collect(t, mustRead(t, "testdata/federated-users.jsonl"))
	if len(skips) != 0 || len(recs) != 6 {
		t.Fatalf("%d records, skips %v", len(recs), skips)
	}
	n := &Normalizer{Keying: DefaultKeyingRules()}
	tests := []struct {
		name        string
		rec         int
		wantKey     string
		wantSession string
		wantARN     string
	}{
		{"alice's own call", 0, "111122223333:user/alice", "", "arn:aws:iam::111122223333:user/alice"},
		{"alice federated as stratus_red_team", 1, "111122223333:user/alice", "stratus_red_team", "arn:aws:sts::111122223333:federated-user/stratus_red_team"},
		{"alice federated as payroll-batch", 2, "111122223333:user/alice", "payroll-batch", "arn:aws:sts::111122223333:federated-user/payroll-batch"},
		{"alice federated, principalId AIDA…:name", 3, "111122223333:user/alice", "alice", "arn:aws:sts::111122223333:federated-user/alice"},
		// Benign twin: the same chosen name from another user is another
		// principal.
		{"bob federated as stratus_red_team", 4, "111122223333:user/bob", "stratus_red_team", "arn:aws:sts::111122223333:federated-user/stratus_red_team"},
		{"root federated", 5, "111122223333:root", "ops", "arn:aws:sts::111122223333:federated-user/ops"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := n.Normalize(recs[tt.rec])
			if err != nil {
				t.Fatal(err)
			}
			if ev.Principal != tt.wantKey || ev.SessionName != tt.wantSession || ev.PrincipalARN != tt.wantARN || ev.Human {
				t.Errorf("principal %q session %q arn %q human %v; want %q %q %q false",
					ev.Principal, ev.SessionName, ev.PrincipalARN, ev.Human, tt.wantKey, tt.wantSession, tt.wantARN)
			}
		})
	}
}

func TestIsMutatingAndSelected(t *testing.T) {
	tru, fal := true, false
	tests := []struct {
		name         string
		r            Record
		wantMutating bool
		wantSelected bool
	}{
		{"readOnly false", Record{EventName: "CreateUser", ReadOnly: &fal, EventType: "AwsApiCall"}, true, true},
		{"readOnly true", Record{EventName: "CreateUser", ReadOnly: &tru, EventType: "AwsApiCall"}, false, false},
		{"no readOnly, write name", Record{EventName: "PutBucketPolicy", EventType: "AwsApiCall"}, true, false},
		{"no readOnly, read name", Record{EventName: "DescribeInstances", EventType: "AwsApiCall"}, false, false},
		{"no readOnly, List", Record{EventName: "ListBuckets"}, false, false},
		{"denied read is selected", Record{EventName: "ListUsers", ReadOnly: &tru, ErrorCode: "AccessDenied"}, false, true},
		{"EC2 denied read is selected", Record{EventName: "DescribeInstances", ReadOnly: &tru, ErrorCode: "Client.UnauthorizedOperation"}, false, true},
		{"throttled read is not", Record{EventName: "ListUsers", ReadOnly: &tru, ErrorCode: "ThrottlingException"}, false, false},
		{"console sign-in", Record{EventName: "ConsoleLogin", EventType: "AwsConsoleSignIn"}, false, true},
		{"service event", Record{EventName: "RotateKey", ReadOnly: &fal, EventType: "AwsServiceEvent"}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsMutating(&tt.r); got != tt.wantMutating {
				t.Errorf("IsMutating = %v, want %v", got, tt.wantMutating)
			}
			if got := Selected(&tt.r); got != tt.wantSelected {
				t.Errorf("Selected = %v, want %v", got, tt.wantSelected)
			}
		})
	}
}

func TestClassifyError(t *testing.T) {
	tests := map[string]ErrorClass{
		"":                             ErrNone,
		"AccessDenied":                 ErrDenied,
		"AccessDeniedException":        ErrDenied,
		"Client.UnauthorizedOperation": ErrDenied,
		"UnauthorizedOperation":        ErrDenied,
		"ThrottlingException":          ErrThrottled,
		"RequestLimitExceeded":         ErrThrottled,
		"NoSuchBucket":                 ErrNotFound,
		"ResourceNotFoundException":    ErrNotFound,
		"ValidationException":          ErrOther,
	}
	for code, want := range tests {
		if got := ClassifyError(code); got != want {
			t.Errorf("ClassifyError(%q) = %q, want %q", code, got, want)
		}
	}
}

func TestUserAgentFamily(t *testing.T) {
	tests := map[string]string{
		"aws-cli/2.22.4 md/awscrt#0.22.0 ua/2.0 os/macos#24.1.0 md/arch#arm64 lang/python#3.12.7":                              "aws-cli",
		"aws-cli/1.18.69 Python/3.8.5 Linux/5.4.0":                                                                             "aws-cli",
		"[aws-cli/2.27.0 md/awscrt#0.26.1 ua/2.1 os/linux#6.8]":                                                                "aws-cli",
		"Boto3/1.35.40 md/Botocore#1.35.40 ua/2.0 os/linux#5.10.226 Botocore/1.35.40":                                          "Boto3",
		"Botocore/1.31.0 Python/3.11":                                                                                          "Botocore",
		"aws-sdk-go-v2/1.32.2 ua/2.1 os/linux lang/go#1.23.2 api/dynamodb#1.36.2":                                              "aws-sdk-go-v2",
		"APN/1.0 HashiCorp/1.0 Terraform/1.9.8 (+https://www.terraform.io) terraform-provider-aws/5.72.1 aws-sdk-go-v2/1.32.2": "Terraform",
		"cloudformation.amazonaws.com":                                                                                         "cloudformation",
		"AWS Internal":                                                                                                         "aws-internal",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15":                                                 "console",
		"console.amazonaws.com":                                                                                                "console",
		"signin.amazonaws.com":                                                                                                 "console",
		"python-requests/2.32.3":                                                                                               "python-requests",
		"curl/8.5.0":                                                                                                           "curl",
		"":                                                                                                                     "none",
		"SomeTool/3.1 (linux)":                                                                                                 "SomeTool",
	}
	for ua, want := range tests {
		if got := UserAgentFamily(ua); got != want {
			t.Errorf("UserAgentFamily(%q) = %q, want %q", ua, got, want)
		}
	}
}
