package sample

import (
	"fmt"
	"math"
	"time"
)

// Published EC2 prefixes (from AWS ip-ranges.json, service EC2) used as the
// ever-changing source addresses of Lambda functions and ECS tasks.
var ec2Prefixes = map[string][]string{
	"us-east-1": {"54.80.0.0/13", "3.80.0.0/12", "44.192.0.0/11", "34.192.0.0/12", "52.4.0.0/14", "50.16.0.0/15"},
	"eu-west-1": {"54.247.0.0/16", "18.200.0.0/16", "54.74.0.0/15", "63.32.0.0/14", "54.229.0.0/16", "34.240.0.0/13"},
}

// GitHub-hosted runners run in Azure: public, non-AWS addresses.
var runnerPrefixes = []string{"20.57.0.0/16", "20.102.0.0/16", "20.169.0.0/16", "20.246.0.0/16"}

// Office and home networks (documentation ranges).
const (
	officeNYC  = "198.51.100.0/24"
	officeBOS  = "203.0.113.0/24"
	homeISP    = "192.0.2.0/24"
	backupHost = "203.0.113.200"
	jenkinsIP  = "198.51.100.240"
)

// User agents.
const (
	uaCLIMac     = "aws-cli/2.22.4 md/awscrt#0.22.0 ua/2.0 os/macos#24.1.0 md/arch#arm64 lang/python#3.12.7 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/prompt#off md/command#{cmd}"
	uaCLIMacNew  = "aws-cli/2.27.7 md/awscrt#0.25.4 ua/2.1 os/macos#25.0.0 md/arch#arm64 lang/python#3.13.2 md/pyimpl#CPython m/D,E,N,b cfg/retry-mode#standard md/installer#exe md/prompt#off md/command#{cmd}"
	uaCLILinux   = "aws-cli/2.18.1 md/awscrt#0.21.5 ua/2.0 os/linux#6.8.0-45-generic md/arch#x86_64 lang/python#3.12.6 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#ubuntu.24 md/prompt#off md/command#{cmd}"
	uaCLIWindows = "aws-cli/2.17.20 md/awscrt#0.20.11 ua/2.0 os/windows#10 md/arch#amd64 lang/python#3.11.9 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/prompt#off md/command#{cmd}"
	uaCLIv1      = "aws-cli/1.33.21 md/Botocore#1.34.139 ua/2.0 os/linux#5.15.0-1061-aws md/arch#x86_64 lang/python#3.9.19 md/pyimpl#CPython cfg/retry-mode#legacy botocore/1.34.139"
	uaChromeMac  = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"
	uaFirefoxWin = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:131.0) Gecko/20100101 Firefox/131.0"
	uaEdgeWin    = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0"
	uaBoto3      = "Boto3/1.35.40 md/Botocore#1.35.40 ua/2.0 os/linux#5.10.226-214.880.amzn2.x86_64 md/arch#x86_64 lang/python#3.12.6 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 cfg/retry-mode#legacy Botocore/1.35.40"
	uaGoLambda   = "aws-sdk-go-v2/1.32.2 ua/2.1 os/linux lang/go#1.23.2 md/GOOS#linux md/GOARCH#amd64 exec-env/AWS_Lambda_provided.al2023 {api}"
	uaGoECS      = "aws-sdk-go-v2/1.32.2 ua/2.1 os/linux lang/go#1.23.2 md/GOOS#linux md/GOARCH#amd64 exec-env/AWS_ECS_FARGATE {api}"
	uaTerraform  = "APN/1.0 HashiCorp/1.0 Terraform/1.9.8 (+https://www.terraform.io) terraform-provider-aws/5.72.1 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.32.2 ua/2.1 os/linux lang/go#1.23.2 md/GOOS#linux md/GOARCH#amd64 {api}"
	uaCLIRunner  = "aws-cli/2.22.4 md/awscrt#0.22.0 ua/2.0 os/linux#6.5.0-1025-azure md/arch#x86_64 lang/python#3.12.7 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#ubuntu.24 md/prompt#off md/command#{cmd}"
	uaOIDC       = "aws-sdk-js/3.693.0 ua/2.1 os/linux#6.5.0-1025-azure lang/js md/nodejs#20.18.0 api/sts#3.693.0 m/E,N configure-aws-credentials-for-github-actions"
	uaBoto3EC2   = "Boto3/1.35.40 md/Botocore#1.35.40 ua/2.0 os/linux#6.1.112-124.190.amzn2023.x86_64 md/arch#x86_64 lang/python#3.11.10 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.35.40"
	uaBackup     = "aws-cli/1.29.62 Python/3.8.10 Linux/5.4.0-1103-aws botocore/1.31.62"
	uaJenkins    = "aws-sdk-java/1.12.772 Linux/5.15.0-1070-aws OpenJDK_64-Bit_Server_VM/17.0.12+7-LTS java/17.0.12 vendor/Eclipse_Adoptium cfg/retry-mode/standard"
)

// SSO permission sets.
const (
	psAdmin    = "AdministratorAccess"
	psPower    = "PowerUserAccess"
	psReadOnly = "ReadOnlyAccess"
)

// Account IDs of the simulated organization.
const (
	AccountProd     = "111122223333"
	AccountStaging  = "444455556666"
	AccountSecurity = "777788889999"
	// ExternalAccount is the unknown account data is shared with.
	ExternalAccount = "999988887777"
)

// human is an IAM Identity Center user.
type human struct {
	email        string
	acct, alt    *account
	permSet      string
	ips          []string
	cliUA        string
	consoleUA    string
	consoleShare float64
	perDay       float64
	apis         []string
	cum          []float64
	startDay     time.Time // first working day (local date), zero for always
	absentFrom   time.Time // local dates, inclusive
	absentTo     time.Time
	newUAFrom    time.Time
	newUA        string
	dayEvents    map[string][]string // local date -> event IDs
	sessions     map[string]*caller  // account|kind|date -> session caller
}

// risky APIs are kept out of everyday human behaviour.
var risky = map[string]bool{
	"cloudtrail:StopLogging": true, "cloudtrail:DeleteTrail": true, "cloudtrail:UpdateTrail": true, "cloudtrail:StartLogging": true,
	"guardduty:DeleteDetector": true, "guardduty:ArchiveFindings": true,
	"s3:PutBucketPolicy": true, "s3:PutBucketPublicAccessBlock": true, "s3:PutBucketAcl": true,
	"ec2:ModifySnapshotAttribute": true, "rds:ModifyDBSnapshotAttribute": true, "ec2:AuthorizeSecurityGroupIngress": true,
	"iam:CreateUser": true, "iam:AttachUserPolicy": true, "iam:CreateAccessKey": true, "iam:CreateLoginProfile": true,
	"iam:UpdateAssumeRolePolicy": true, "iam:CreatePolicyVersion": true, "iam:DeleteAccessKey": true, "iam:UpdateAccessKey": true,
	"kms:ScheduleKeyDeletion": true, "kms:PutKeyPolicy": true, "kms:CreateGrant": true,
	"iam:CreateRole": true, "iam:PutRolePolicy": true, "iam:AttachRolePolicy": true, "iam:DetachRolePolicy": true, "iam:DeleteRolePolicy": true,
	"ec2:RunInstances": true, "ec2:TerminateInstances": true, "lambda:CreateFunction20150331": true,
	"cloudformation:CreateStack": true, "lambda:AddPermission20150331v2": true, "ec2:CreateSecurityGroup": true,
}

func (g *gen) buildOrg() {
	prod := g.newAccount(AccountProd, "prod", "prod")
	staging := g.newAccount(AccountStaging, "staging", "staging")
	sec := g.newAccount(AccountSecurity, "security", "security")
	g.accounts = []*account{prod, staging, sec}
	for _, a := range g.accounts {
		for _, ps := range []string{psAdmin, psPower, psReadOnly} {
			a.ssoSuffix[ps] = g.hex(16)
		}
	}
	d := func(m time.Month, day int) time.Time { return time.Date(2026, m, day, 0, 0, 0, 0, time.UTC) }
	office := func(cidr string, n int) []string {
		var ips []string
		for range n {
			ips = append(ips, randIP(g.r, cidr))
		}
		return ips
	}
	g.humans = []*human{
		{email: "alice@example.com", acct: prod, alt: staging, permSet: psAdmin, ips: office(officeNYC, 2), cliUA: uaCLIMac, consoleUA: uaChromeMac, consoleShare: 0.25, perDay: 55},
		{email: "bob@example.com", acct: prod, alt: staging, permSet: psAdmin, ips: append(office(officeNYC, 2), office(homeISP, 1)...), cliUA: uaCLILinux, consoleUA: uaChromeMac, consoleShare: 0.3, perDay: 45},
		{email: "carol@example.com", acct: staging, permSet: psPower, ips: office(officeBOS, 2), cliUA: uaCLIMac, consoleUA: uaChromeMac, consoleShare: 0.4, perDay: 50,
			absentFrom: d(10, 12), absentTo: d(10, 23)},
		{email: "dave@example.com", acct: prod, permSet: psPower, ips: office(officeNYC, 2), cliUA: uaCLIWindows, consoleUA: uaEdgeWin, consoleShare: 0.8, perDay: 40},
		{email: "erin@example.com", acct: prod, alt: staging, permSet: psPower, ips: append(office(officeBOS, 1), office(homeISP, 1)...), cliUA: uaCLILinux, consoleUA: uaFirefoxWin, consoleShare: 0.2, perDay: 50},
		{email: "grace@example.com", acct: prod, permSet: psReadOnly, ips: office(officeNYC, 2), cliUA: uaCLIv1, consoleUA: uaChromeMac, consoleShare: 0.35, perDay: 35,
			newUAFrom: d(11, 3), newUA: uaCLIMacNew},
		{email: "heidi@example.com", acct: sec, alt: prod, permSet: psAdmin, ips: office(officeBOS, 2), cliUA: uaCLIMac, consoleUA: uaChromeMac, consoleShare: 0.3, perDay: 45},
		{email: "ivan@example.com", acct: staging, alt: prod, permSet: psReadOnly, ips: office(homeISP, 2), cliUA: uaCLIWindows, consoleUA: uaFirefoxWin, consoleShare: 0.7, perDay: 30},
		{email: "frank@example.com", acct: staging, permSet: psPower, ips: office(officeNYC, 2), cliUA: uaCLIMac, consoleUA: uaChromeMac, consoleShare: 0.4, perDay: 40,
			startDay: d(10, 26)},
	}
	for _, h := range g.humans {
		h.dayEvents = map[string][]string{}
		h.sessions = map[string]*caller{}
		g.humanAPIs(h)
	}
}

// humanAPIs gives a human a personal set of 10–40 APIs with Zipf-like
// popularity, reads more popular than writes.
func (g *gen) humanAPIs(h *human) {
	var reads, writes []string
	for _, k := range apiList {
		a := catalog[k]
		if risky[k] || a.data || a.svc == "signin" || a.svc == "sts" && a.name != "GetCallerIdentity" {
			continue
		}
		if a.readOnly {
			reads = append(reads, k)
		} else {
			writes = append(writes, k)
		}
	}
	g.r.Shuffle(len(reads), func(i, j int) { reads[i], reads[j] = reads[j], reads[i] })
	g.r.Shuffle(len(writes), func(i, j int) { writes[i], writes[j] = writes[j], writes[i] })
	n := 10 + g.r.IntN(31)
	nw := n / 3
	if h.permSet == psReadOnly {
		nw = 2 // tried now and then, always denied
	}
	set := append(append([]string{}, reads[:n-nw]...), writes[:nw]...)
	g.r.Shuffle(len(set), func(i, j int) { set[i], set[j] = set[j], set[i] })
	h.apis = set
	total := 0.0
	for i, k := range set {
		w := 1 / math.Pow(float64(i+1), 1.1)
		if catalog[k].readOnly {
			w *= 1.5
		}
		total += w
		h.cum = append(h.cum, total)
	}
}

func (h *human) pickAPI(g *gen) string {
	u := g.r.Float64() * h.cum[len(h.cum)-1]
	for i, c := range h.cum {
		if u < c {
			return h.apis[i]
		}
	}
	return h.apis[len(h.apis)-1]
}

func (h *human) arn(a *account) string {
	return fmt.Sprintf("arn:aws:sts::%s:assumed-role/AWSReservedSSO_%s_%s/%s", a.id, h.permSet, a.ssoSuffix[h.permSet], h.email)
}
