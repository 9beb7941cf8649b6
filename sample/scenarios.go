package sample

import (
	"fmt"
	"strings"
	"time"
)

func day(m time.Month, d int) time.Time { return time.Date(2026, m, d, 0, 0, 0, 0, time.UTC) }

func (g *gen) human(email string) *human {
	for _, h := range g.humans {
		if h.email == email {
			return h
		}
	}
	panic("sample: no human " + email)
}

func (g *gen) label(name, kind, desc, arn, acct string, ids []string) {
	exp := ExpectHigh
	if kind == KindBenign {
		exp = ExpectLowest
	}
	g.labels = append(g.labels, Label{Name: name, Kind: kind, Description: desc, PrincipalARN: arn, AccountID: acct, EventIDs: ids, Expect: exp})
}

// seq emits calls one after another, a few seconds apart.
type seq struct {
	g   *gen
	c   *caller
	t   time.Time
	gap int // max seconds between calls
	ids []string
}

func (s *seq) do(key string, o callOpts) {
	s.t = s.t.Add(time.Duration(1+s.g.r.IntN(s.gap)) * time.Second)
	s.ids = append(s.ids, s.g.emit(s.c, s.t, key, o))
}

// shareSnapshot grants createVolumePermission on an EBS snapshot to an
// account.
func (s *seq) shareSnapshot(snap, account string) {
	s.do("ec2:ModifySnapshotAttribute", callOpts{setReq: true, setResp: true,
		req:  obj("snapshotId", snap, "createVolumePermission", obj("add", items(obj("userId", account))), "attributeType", "CREATE_VOLUME_PERMISSION"),
		resp: obj("requestId", s.g.uuid(), "_return", true)})
}

func (s *seq) deny(keys ...string) {
	for _, k := range keys {
		s.do(k, callOpts{deny: true})
	}
}

func (g *gen) scenarios() {
	prod := g.accounts[0]

	// ---- attacks ----

	// 1. stolen-access-key
	{
		c := *g.backupCaller
		c.ip = "185.220.101." + fmt.Sprint(10+g.r.IntN(200))
		c.ua = "python-requests/2.32.3"
		s := &seq{g: g, c: &c, t: g.local(day(11, 3), 3, 12), gap: 4}
		s.do("sts:GetCallerIdentity", callOpts{})
		s.deny("iam:ListUsers", "iam:ListRoles", "iam:GetAccountSummary", "secretsmanager:ListSecrets", "lambda:ListFunctions20150331",
			"dynamodb:ListTables", "kms:ListKeys", "ec2:RunInstances", "iam:AttachUserPolicy", "ssm:DescribeParameters")
		s.do("s3:ListBuckets", callOpts{})
		s.do("ec2:DescribeInstances", callOpts{})
		now := func() string { return s.t.Format(iamDate) }
		s.gap = 15
		s.t = s.t.Add(3 * time.Minute)
		s.do("iam:CreateUser", callOpts{setReq: true, setResp: true, req: obj("userName", "backup-admin"),
			resp: obj("user", obj("path", "/", "userName", "backup-admin", "userId", g.uniqueID("AIDA"), "arn", "arn:aws:iam::"+prod.id+":user/backup-admin", "createDate", now()))})
		s.do("iam:AttachUserPolicy", callOpts{setReq: true, req: obj("userName", "backup-admin", "policyArn", "arn:aws:iam::aws:policy/AdministratorAccess")})
		s.do("iam:CreateAccessKey", callOpts{setReq: true, setResp: true, req: obj("userName", "backup-admin"),
			resp: obj("accessKey", obj("userName", "backup-admin", "accessKeyId", g.accessKey("AKIA"), "status", "Active", "createDate", now()))})
		s.do("iam:CreateLoginProfile", callOpts{setReq: true, setResp: true, req: obj("userName", "backup-admin", "passwordResetRequired", false),
			resp: obj("loginProfile", obj("userName", "backup-admin", "createDate", now(), "passwordResetRequired", false))})
		g.label("stolen-access-key", KindAttack,
			"svc-backup's long-term access key used from an unknown foreign network with a new user agent at night: a burst of denied enumeration, then a new IAM user backup-admin with AdministratorAccess, an access key and a console password (persistence).",
			c.id.ARN, prod.id, s.ids)
	}

	// 2. cloudtrail-stopped
	{
		h := g.human("bob@example.com")
		t := g.local(day(11, 3), 3, 4)
		c := &caller{id: g.ssoSession(h, prod, g.accessKey("ASIA"), t.Add(-2*time.Minute)), acct: prod, region: "us-east-1",
			ip: "89.248.165." + fmt.Sprint(10+g.r.IntN(200)), ua: h.cliUA}
		s := &seq{g: g, c: c, t: t, gap: 20}
		s.do("sts:GetCallerIdentity", callOpts{})
		s.do("cloudtrail:DescribeTrails", callOpts{})
		s.do("cloudtrail:GetTrailStatus", callOpts{})
		s.do("cloudtrail:StopLogging", callOpts{})
		s.do("cloudtrail:DeleteTrail", callOpts{})
		s.do("guardduty:ListDetectors", callOpts{})
		s.do("guardduty:DeleteDetector", callOpts{})
		g.label("cloudtrail-stopped", KindAttack,
			"An Identity Center session of bob@example.com from a network he never used, at 03:00 New York time, stops and deletes the CloudTrail trail and deletes the GuardDuty detector (defence evasion).",
			c.id.ARN, prod.id, s.ids)
	}

	// 3. bucket-made-public
	{
		h := g.human("dave@example.com")
		d := day(11, 3)
		t := g.local(d, 14, 21)
		c := g.humanSession(h, prod, true, d, t)
		bucket := "acme-prod-data-lake"
		host := prod.bucketHost(bucket, "us-east-1")
		res := []Resource{{AccountID: prod.id, Type: "AWS::S3::Bucket", ARN: "arn:aws:s3:::" + bucket}}
		s := &seq{g: g, c: c, t: t, gap: 25}
		s.do("s3:GetBucketPublicAccessBlock", callOpts{setReq: true, req: obj("bucketName", bucket, "Host", host, "publicAccessBlock", ""), resources: res})
		s.do("s3:PutBucketPublicAccessBlock", callOpts{setReq: true, resources: res, req: obj("publicAccessBlock", "", "bucketName", bucket, "Host", host,
			"PublicAccessBlockConfiguration", obj("xmlns", s3xmlns, "RestrictPublicBuckets", false, "BlockPublicPolicy", false, "BlockPublicAcls", false, "IgnorePublicAcls", false))})
		s.do("s3:GetBucketPolicy", callOpts{setReq: true, req: obj("bucketName", bucket, "Host", host, "policy", ""), resources: res})
		s.do("s3:PutBucketPolicy", callOpts{setReq: true, resources: res, req: obj("bucketPolicy", obj("Version", "2012-10-17", "Statement", []Object{
			obj("Sid", "PublicRead", "Effect", "Allow", "Principal", "*", "Action", "s3:GetObject", "Resource", "arn:aws:s3:::"+bucket+"/*")}),
			"bucketName", bucket, "Host", host, "policy", "")})
		g.label("bucket-made-public", KindAttack,
			"dave@example.com turns off all four S3 Block Public Access settings on acme-prod-data-lake and attaches a bucket policy granting s3:GetObject to Principal \"*\".",
			c.id.ARN, prod.id, s.ids)
	}

	// 4. lambda-credentials-stolen
	{
		fn := g.lambdaFns(prod)[0]
		t := time.Date(2026, 11, 4, 2, 10, 0, 0, time.UTC)
		c := g.lambdaSession(prod, fn, "us-east-1", t)
		for range 6 {
			t = t.Add(time.Duration(5+g.r.IntN(90)) * time.Second)
			g.emit(c, t, fn.mix.pick(g), callOpts{})
		}
		ext := *c
		ext.ipPool = nil
		ext.ip = "45.134.26." + fmt.Sprint(10+g.r.IntN(200))
		ext.ua = "aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0-kali3-amd64 exe/x86_64.kali.2023 prompt/off command/{cmd}"
		s := &seq{g: g, c: &ext, t: t.Add(47 * time.Minute), gap: 30}
		s.do("sts:GetCallerIdentity", callOpts{})
		s.deny("iam:ListUsers", "iam:ListRoles", "ec2:DescribeInstances", "s3:ListBuckets")
		s.do("iam:CreateAccessKey", callOpts{setReq: true, setResp: true, req: obj("userName", "svc-backup"),
			resp: obj("accessKey", obj("userName", "svc-backup", "accessKeyId", g.accessKey("AKIA"), "status", "Active", "createDate", s.t.Format(iamDate)))})
		bucket := "acme-prod-artifacts"
		s.do("s3:PutBucketAcl", callOpts{setReq: true, req: obj("bucketName", bucket, "Host", prod.bucketHost(bucket, "us-east-1"), "acl", "", "x-amz-acl", []string{"public-read"}),
			resources: []Resource{{AccountID: prod.id, Type: "AWS::S3::Bucket", ARN: "arn:aws:s3:::" + bucket}}})
		g.label("lambda-credentials-stolen", KindAttack,
			"The ASIA session key of Lambda function prod-orders-api, used minutes earlier from AWS EC2 addresses, is replayed from an external address with a Kali aws-cli: denied enumeration, a new access key for svc-backup and a public-read ACL on a bucket.",
			c.id.ARN, prod.id, s.ids)
	}

	// 5. snapshot-shared-out
	{
		h := g.human("erin@example.com")
		d := day(11, 4)
		t := g.local(d, 11, 5)
		c := g.humanSession(h, prod, false, d, t)
		snap := prod.snapshots[0]
		db := prod.dbs[0]
		s := &seq{g: g, c: c, t: t, gap: 40}
		s.do("ec2:DescribeSnapshots", callOpts{})
		s.shareSnapshot(snap, ExternalAccount)
		s.do("rds:DescribeDBSnapshots", callOpts{})
		sn := db + "-manual-2026-11-02"
		s.do("rds:ModifyDBSnapshotAttribute", callOpts{setReq: true, setResp: true,
			req:  obj("dBSnapshotIdentifier", sn, "attributeName", "restore", "valuesToAdd", []string{"all"}),
			resp: obj("dBSnapshotIdentifier", sn, "dBSnapshotAttributes", []Object{obj("attributeName", "restore", "attributeValues", []string{"all"})})})
		g.label("snapshot-shared-out", KindAttack,
			"erin@example.com grants createVolumePermission on an EBS snapshot to the unknown account "+ExternalAccount+" and makes an RDS snapshot restorable by all accounts.",
			c.id.ARN, prod.id, s.ids)
	}

	// 6. sg-opened-to-world
	{
		t := g.local(day(11, 4), 16, 32)
		ip := randIP(g.r, pick(g.r, runnerPrefixes))
		c := g.oidcSession(prod, "github-actions-deploy", "GitHubActions", "checkout", ip, t)
		s := &seq{g: g, c: c, t: t, gap: 6}
		s.do("sts:GetCallerIdentity", callOpts{})
		s.do("ec2:DescribeSecurityGroups", callOpts{})
		sg := prod.sgs[1]
		perm := obj("ipProtocol", "tcp", "fromPort", 22, "toPort", 22, "groups", obj(), "ipRanges", items(obj("cidrIp", "0.0.0.0/0")), "ipv6Ranges", obj(), "prefixListIds", obj())
		s.ids = nil
		s.do("ec2:AuthorizeSecurityGroupIngress", callOpts{setReq: true, setResp: true, req: obj("groupId", sg, "ipPermissions", items(perm)),
			resp: obj("requestId", g.uuid(), "_return", true, "securityGroupRuleSet", items(obj("groupOwnerId", prod.id, "groupId", sg, "securityGroupRuleId", "sgr-0"+g.hex(16),
				"isEgress", false, "ipProtocol", "tcp", "fromPort", 22, "toPort", 22, "cidrIpv4", "0.0.0.0/0")))})
		ids := s.ids
		s.do("cloudformation:DescribeStacks", callOpts{})
		g.label("sg-opened-to-world", KindAttack,
			"The github-actions-deploy role, which never changed security-group rules, opens TCP 22 to 0.0.0.0/0.",
			c.id.ARN, prod.id, ids)
	}

	// ---- benign surprises ----
	staging := g.accounts[1]
	{
		h := g.human("frank@example.com")
		g.label("new-employee", KindBenign,
			"frank@example.com joins on 2026-10-26 and starts working ordinary hours from the office with the usual tools; everything is new because he is new.",
			h.arn(h.acct), h.acct.id, g.humanDayIDs(h, day(10, 26), h.acct))
	}
	{
		ids := g.ciRun(prod, g.local(day(10, 28), 15, 10), true)
		g.label("ci-new-service", KindBenign,
			"github-actions-deploy deploys a new service for the first time: CloudFormation CreateStack, and CloudFormation (invokedBy) creating its IAM role, inline policy, log group, queue and Lambda function.",
			roleSessionARN(prod.id, "github-actions-deploy", "GitHubActions"), prod.id, ids)
	}
	{
		h := g.human("carol@example.com")
		g.label("back-from-vacation", KindBenign,
			"carol@example.com is away for two weeks (2026-10-12 to 2026-10-23) and returns on 2026-10-26 working as before.",
			h.arn(staging), staging.id, g.humanDayIDs(h, day(10, 26), staging))
	}
	{
		ids := g.terraformRun(prod, g.local(day(10, 29), 11, 0), 5)
		g.label("terraform-big-run", KindBenign,
			"A terraform apply five times larger than usual (a refactor touching many resources), with the usual APIs.",
			roleSessionARN(prod.id, "terraform-apply", "terraform"), prod.id, ids)
	}
	{
		h := g.human("grace@example.com")
		var ids []string
		for _, id := range g.humanDayIDs(h, day(11, 3), h.acct) {
			if r := g.find(id); r != nil && strings.HasPrefix(r.UserAgent, "aws-cli/2.27") {
				ids = append(ids, id)
			}
		}
		g.label("new-laptop", KindBenign,
			"grace@example.com moves from aws-cli v1 on Linux to aws-cli v2 on a new Mac, calling from the usual office network.",
			h.arn(h.acct), h.acct.id, ids)
	}
	{
		h := g.human("alice@example.com")
		g.label("dst-shift", KindBenign,
			"US daylight saving time ends on 2026-11-01: alice@example.com keeps her 09:00-18:00 New York hours, so her activity moves one hour later in UTC.",
			h.arn(h.acct), h.acct.id, g.humanDayIDs(h, day(11, 2), h.acct))
	}
}

// humanDayIDs are a human's events of one local day in one account.
func (g *gen) humanDayIDs(h *human, d time.Time, a *account) []string {
	var out []string
	arn := h.arn(a)
	for _, id := range h.dayEvents[dateKey(d)] {
		if r := g.find(id); r != nil && r.UserIdentity.ARN == arn {
			out = append(out, id)
		}
	}
	return out
}

func (g *gen) find(id string) *Record {
	if g.byID == nil || len(g.byID) != len(g.recs) {
		g.byID = make(map[string]int, len(g.recs))
		for i := range g.recs {
			g.byID[g.recs[i].EventID] = i
		}
	}
	if i, ok := g.byID[id]; ok {
		return &g.recs[i]
	}
	return nil
}
