package sample

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// AccountDR is the disaster-recovery account the snapshot copier shares
// snapshots with every night: outside the organization's three accounts,
// and expected.
const AccountDR = "555566667777"

// attackerVPS is the address stolen CI credentials are used from: a
// hosting provider's range, neither GitHub's runners nor AWS.
const attackerVPS = "146.190.27.0/24"

// SampleNetworks are the named provider networks of the sample's
// organization, as its thresholds.yaml names them: GitHub Actions' runner
// ranges its CI jobs call from.
var SampleNetworks = map[string][]string{"github-actions": runnerPrefixes}

// quietSeed derives the random stream of the routine principals and quiet
// scenarios (quiet), kept apart from the rest of the simulation so that
// adding them changed nothing else the sample holds.
const quietSeed = 0x7175696574

// Routine principals whose history makes the quiet attacks quiet.
const (
	automationRole = "platform-automation"
	drCopierFn     = "prod-dr-snapshot-copier"
	// ledgerFn is a busy, steady function: thousands of calls a month
	// with the same five APIs.
	ledgerFn = "prod-ledger-writer"
)

// quiet simulates two routine principals of the production account — an
// EC2 instance role that maintains IAM trust policies inside the account
// every weekday, and a Lambda function that shares a nightly EBS snapshot
// with the disaster-recovery account — and, with scenarios, the four quiet
// attacks and two benign twins: attacks that use what their principal does
// anyway (the CircleCI and Codecov breaches: stolen CI credentials; an
// instance role abused from its instance; a routine action's first risky
// variant; a stable role's first sensitive call), which only a baseline of
// risks, resources, provider networks and calibrated novelty tells apart
// from routine.
func (g *gen) quiet(scenarios bool) {
	saved := g.r
	g.r = rand.New(rand.NewPCG(g.seed, quietSeed))
	defer func() { g.r = saved }()
	prod := g.accounts[0]
	auto := g.automationCaller(prod)
	dr := lambdaFn{name: drCopierFn, role: drCopierFn + "-role", ua: uaBoto3}
	drIDs := map[string][]string{}
	for _, d := range g.localDays() {
		if weekday(d) {
			g.automationDay(prod, auto, d)
		}
		drIDs[dateKey(d)] = g.drCopy(prod, dr, d, AccountDR)
	}
	ledger := lambdaFn{name: ledgerFn, role: ledgerFn + "-role", ua: uaGoLambda, rate: 14,
		mix: wl("dynamodb:PutItem", 3.0, "dynamodb:UpdateItem", 2.0, "sqs:SendMessage", 2.0, "kms:Decrypt", 2.0, "dynamodb:GetItem", 1.0)}
	var ledgerCaller *caller
	var expires time.Time
	for hr := g.start.Add(-time.Hour); hr.Before(g.end); hr = hr.Add(time.Hour) {
		for _, t := range g.sortedTimes(hr, time.Hour, poisson(g.r, ledger.rate*g.diurnal(hr))) {
			if ledgerCaller == nil || !t.Before(expires) {
				ledgerCaller = g.lambdaSession(prod, ledger, "us-east-1", t.Add(-time.Second))
				expires = t.Add(time.Duration(4+g.r.IntN(8)) * time.Hour)
			}
			prod.now = t
			g.emit(ledgerCaller, t, ledger.mix.pick(g), callOpts{})
		}
	}
	if !scenarios {
		return
	}

	// 7. ci-credentials-off-provider
	{
		t := g.local(day(11, 4), 12, 40)
		ip := randIP(g.r, pick(g.r, runnerPrefixes))
		c := g.oidcSession(prod, "github-actions-deploy", "GitHubActions", "checkout", ip, t)
		s := &seq{g: g, c: c, t: t, gap: 6}
		s.do("sts:GetCallerIdentity", callOpts{})
		s.do("ecr:GetAuthorizationToken", callOpts{})
		// The job's token, exfiltrated, used from elsewhere with the
		// runner's own aws-cli: the same agent family, routine APIs.
		ext := *c
		ext.ip = randIP(g.r, attackerVPS)
		s = &seq{g: g, c: &ext, t: t.Add(23 * time.Minute), gap: 40}
		s.do("sts:GetCallerIdentity", callOpts{})
		fn := drCopierFn
		s.do("lambda:UpdateFunctionConfiguration20150331v2", callOpts{setReq: true, req: obj("functionName", fn,
			"environment", obj("variables", obj("SHARE_WITH", "HIDDEN_DUE_TO_SECURITY_REASONS")))})
		s.do("lambda:UpdateFunctionCode20150331v2", callOpts{setReq: true, req: obj("functionName", fn, "publish", true, "dryRun", false)})
		s.do("ecr:PutImage", callOpts{setReq: true, req: obj("repositoryName", "dr-tools", "imageTag", "latest",
			"imageManifestMediaType", "application/vnd.oci.image.manifest.v1+json", "registryId", prod.id)})
		g.label("ci-credentials-off-provider", KindAttack,
			"A GitHub Actions job's session of github-actions-deploy, which only ever called from GitHub's runner network, is replayed 23 minutes later from a hosting provider's address with the runner's own aws-cli: it rewrites the code and environment of "+fn+", a function CI never deployed, and pushes to an ECR repository it never used (stolen CI credentials used for what CI does anyway).",
			c.id.ARN, prod.id, s.ids)
		g.labels[len(g.labels)-1].Needs = []string{"networks"}
	}

	// 8. instance-role-trusts-outside-account
	{
		t := g.local(day(11, 4), 6, 0).Add(22 * time.Minute)
		s := &seq{g: g, c: auto, t: t, gap: 20}
		s.do("iam:GetRole", callOpts{setReq: true, req: obj("roleName", "prod-data-export")})
		doc := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"sts:AssumeRole"}]}`, ExternalAccount)
		s.do("iam:UpdateAssumeRolePolicy", callOpts{setReq: true, req: obj("roleName", "prod-data-export", "policyDocument", doc)})
		g.label("instance-role-trusts-outside-account", KindAttack,
			"The "+automationRole+" instance role, which rewrites trust policies inside the account every weekday, from its usual instance and SDK makes role prod-data-export assumable by the unknown account "+ExternalAccount+" (a routine API, a never-seen risk).",
			auto.id.ARN, prod.id, s.ids)
	}

	// 9. snapshot-shared-new-account, and its benign twin
	{
		t := time.Date(2026, 11, 4, 5, 12, 0, 0, time.UTC)
		c := g.lambdaSession(prod, dr, "us-east-1", t)
		s := &seq{g: g, c: c, t: t, gap: 10}
		snap := prod.snapshots[len(prod.snapshots)-1]
		s.shareSnapshot(snap, ExternalAccount)
		g.label("snapshot-shared-new-account", KindAttack,
			"Three hours after its nightly share with the disaster-recovery account "+AccountDR+", the "+drCopierFn+" function's role shares a snapshot with the unknown account "+ExternalAccount+": the API it calls every night, a counterparty it never had.",
			c.id.ARN, prod.id, s.ids)
		g.label("routine-dr-share", KindBenign,
			"The "+drCopierFn+" function's nightly snapshot and share with the disaster-recovery account "+AccountDR+", as on every night before: a risky action this role takes routinely, with the same counterparty.",
			c.id.ARN, prod.id, drIDs[dateKey(day(11, 4))])
	}

	// 10. stable-role-new-sensitive-api
	{
		t := time.Date(2026, 11, 4, 15, 47, 0, 0, time.UTC)
		c := g.lambdaSession(prod, ledger, "us-east-1", t)
		for range 4 {
			t = t.Add(time.Duration(5+g.r.IntN(60)) * time.Second)
			g.emit(c, t, ledger.mix.pick(g), callOpts{})
		}
		s := &seq{g: g, c: c, t: t, gap: 30}
		key := prod.kmsKeys[0]
		s.do("kms:CreateGrant", callOpts{setReq: true, setResp: true,
			req: obj("keyId", prod.keyARN("us-east-1", key), "granteePrincipal", "arn:aws:iam::"+ExternalAccount+":role/ops",
				"operations", []string{"Decrypt", "GenerateDataKey"}),
			resp: obj("grantId", g.hex(64), "keyId", prod.keyARN("us-east-1", key))})
		g.label("stable-role-new-sensitive-api", KindAttack,
			"The role of "+ledgerFn+", which made thousands of calls a month with the same five APIs, from its usual network and SDK grants an outside account's role Decrypt on a KMS key: its first KMS write ever (code running in the function, not its usual work).",
			c.id.ARN, prod.id, s.ids)
	}

	// Benign: CI deploys a new service from its provider.
	{
		ids := g.ciRunService(prod, g.local(day(11, 4), 10, 15), "search")
		g.label("ci-new-service-from-provider", KindBenign,
			"github-actions-deploy deploys the new search service from GitHub's runners, as it did for notifications: CreateStack, and CloudFormation creating the service's role, policy, log group, function and queue.",
			roleSessionARN(prod.id, "github-actions-deploy", "GitHubActions"), prod.id, ids)
	}
}

// automationCaller is the platform-automation role's session on its EC2
// instance: one instance, one address, the Python SDK.
func (g *gen) automationCaller(a *account) *caller {
	inst := "i-0" + g.hex(16)
	key := g.accessKey("ASIA")
	return &caller{id: g.roleSession(a, automationRole, "/", inst, key, g.start.Add(-time.Hour), false), acct: a, region: "us-east-1",
		ip: randIP(g.r, ec2Prefixes["us-east-1"][0]), ua: uaBoto3EC2}
}

// automationDay is the role's weekday job: it reads the account's roles,
// retags them, and keeps the trust of the break-glass and deploy roles
// pointed at the account's own principals.
func (g *gen) automationDay(a *account, c *caller, d time.Time) {
	t := time.Date(d.Year(), d.Month(), d.Day(), 6, 0, 0, 0, time.UTC).Add(time.Duration(g.r.IntN(600)) * time.Second)
	s := &seq{g: g, c: c, t: t, gap: 8}
	s.do("iam:ListRoles", callOpts{})
	for _, role := range []string{"ops-break-glass", "prod-deployer", "prod-readonly"} {
		s.do("iam:GetRole", callOpts{setReq: true, req: obj("roleName", role)})
		s.do("iam:TagRole", callOpts{setReq: true, req: obj("roleName", role, "tags", []Object{obj("key", "reviewed", "value", d.Format("2006-01-02"))})})
		if g.r.IntN(2) == 0 {
			doc := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:role/%s"},"Action":"sts:AssumeRole"}]}`, a.id, pick(g.r, []string{"ops-admin", "github-actions-deploy", "terraform-apply"}))
			s.do("iam:UpdateAssumeRolePolicy", callOpts{setReq: true, req: obj("roleName", role, "policyDocument", doc)})
		}
	}
	for range 8 + g.r.IntN(8) {
		s.do("iam:GetRole", callOpts{setReq: true, req: obj("roleName", pick(g.r, []string{"ops-admin", "prod-data-export", "prod-orders-api-role", "prod-billing-worker-role"}))})
	}
	s.do("ssm:PutParameter", callOpts{setReq: true, req: obj("name", "/platform/iam-review/last-run", "type", "String", "overwrite", true)})
}

// drCopy is the snapshot copier's nightly run: snapshot the database
// volume and share it with the disaster-recovery account. It returns the
// run's event IDs.
func (g *gen) drCopy(a *account, fn lambdaFn, d time.Time, to string) []string {
	t := time.Date(d.Year(), d.Month(), d.Day(), 2, 0, 0, 0, time.UTC).Add(time.Duration(g.r.IntN(120)) * time.Second)
	c := g.lambdaSession(a, fn, "us-east-1", t)
	s := &seq{g: g, c: c, t: t, gap: 5}
	s.do("ec2:DescribeSnapshots", callOpts{})
	snap := "snap-0" + g.hex(16)
	s.do("ec2:CreateSnapshot", callOpts{setReq: true, setResp: true, req: obj("volumeId", a.volumes[0], "description", "nightly DR copy"),
		resp: obj("snapshotId", snap, "volumeId", a.volumes[0], "status", "pending")})
	s.shareSnapshot(snap, to)
	return s.ids
}
