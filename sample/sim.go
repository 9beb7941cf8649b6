package sample

import (
	"fmt"
	"math"
	"time"
)

// ---- identities ----

func (g *gen) roleID(acctID, role string) string {
	k := acctID + "/" + role
	if g.roleIDs == nil {
		g.roleIDs = map[string]string{}
	}
	id, ok := g.roleIDs[k]
	if !ok {
		id = g.uniqueID("AROA")
		g.roleIDs[k] = id
	}
	return id
}

// roleSession is the userIdentity of a call made with role session
// credentials. path is the role path ("/" for most roles).
func (g *gen) roleSession(a *account, role, path, sess, key string, created time.Time, mfa bool) UserIdentity {
	rid := g.roleID(a.id, role)
	m := "false"
	if mfa {
		m = "true"
	}
	return UserIdentity{
		Type:        "AssumedRole",
		PrincipalID: rid + ":" + sess,
		ARN:         fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", a.id, role, sess),
		AccountID:   a.id,
		AccessKeyID: key,
		SessionContext: &SessionContext{
			SessionIssuer: &SessionIssuer{Type: "Role", PrincipalID: rid, ARN: fmt.Sprintf("arn:aws:iam::%s:role%s%s", a.id, path, role), AccountID: a.id, UserName: role},
			Attributes:    Attributes{CreationDate: ts(created), MFAAuthenticated: m},
		},
	}
}

func roleSessionARN(acctID, role, sess string) string {
	return fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", acctID, role, sess)
}

func (g *gen) ssoSession(h *human, a *account, key string, created time.Time) UserIdentity {
	role := "AWSReservedSSO_" + h.permSet + "_" + a.ssoSuffix[h.permSet]
	return g.roleSession(a, role, "/aws-reserved/sso.amazonaws.com/", h.email, key, created, false)
}

func (g *gen) userID(a *account, name string) string {
	k := a.id + "/user/" + name
	if g.roleIDs == nil {
		g.roleIDs = map[string]string{}
	}
	id, ok := g.roleIDs[k]
	if !ok {
		id = g.uniqueID("AIDA")
		g.roleIDs[k] = id
	}
	return id
}

func (g *gen) iamUser(a *account, name, key string) UserIdentity {
	return UserIdentity{Type: "IAMUser", PrincipalID: g.userID(a, name), ARN: "arn:aws:iam::" + a.id + ":user/" + name, AccountID: a.id, AccessKeyID: key, UserName: name}
}

func awsService(svc string) UserIdentity {
	return UserIdentity{Type: "AWSService", InvokedBy: svc}
}

// ---- time helpers ----

// localDays lists the New York calendar days that overlap the window.
func (g *gen) localDays() []time.Time {
	s := g.start.In(g.ny)
	day := time.Date(s.Year(), s.Month(), s.Day(), 0, 0, 0, 0, time.UTC)
	var out []time.Time
	for ; ; day = day.AddDate(0, 0, 1) {
		if g.local(day, 0, 0).After(g.end) {
			return out
		}
		out = append(out, day)
	}
}

// local returns the instant of hh:mm New York time on the date of day.
func (g *gen) local(day time.Time, hh, mm int) time.Time {
	return time.Date(day.Year(), day.Month(), day.Day(), hh, mm, 0, 0, g.ny)
}

func weekday(day time.Time) bool {
	w := day.Weekday()
	return w != time.Saturday && w != time.Sunday
}

func (g *gen) jitter(t time.Time, max time.Duration) time.Time {
	return t.Add(time.Duration(g.r.Int64N(int64(max))))
}

// diurnal is a rate multiplier peaking mid-afternoon New York time.
func (g *gen) diurnal(t time.Time) float64 {
	h := float64(t.In(g.ny).Hour())
	return 0.25 + 0.75*math.Exp(-(h-14)*(h-14)/(2*16))
}

func dateKey(day time.Time) string { return day.Format("2006-01-02") }

// ---- simulation ----

func (g *gen) simulate() {
	days := g.localDays()
	for _, h := range g.humans {
		for _, day := range days {
			g.humanDay(h, day)
		}
	}
	g.rootLogin()
	for _, a := range g.accounts[:2] {
		g.lambdas(a)
		g.ciRuns(a, days)
		g.terraformRuns(a, days)
		g.serviceCalls(a)
	}
	g.ecsService(g.accounts[0])
	g.scanner(days)
	g.legacyUsers(days)
	g.serviceEvents()
}

// humanSession returns the human's CLI or console session for a day,
// opening one (with a ConsoleLogin for the console) when needed.
func (g *gen) humanSession(h *human, a *account, console bool, day, at time.Time) *caller {
	kind := "cli"
	if console {
		kind = "console"
	}
	k := a.id + "|" + kind + "|" + dateKey(day)
	if c, ok := h.sessions[k]; ok {
		return c
	}
	created := at.Add(-time.Duration(1+g.r.IntN(20)) * time.Minute)
	c := &caller{
		id:     g.ssoSession(h, a, g.accessKey("ASIA"), created),
		acct:   a,
		region: "us-east-1",
		ipPool: h.ips,
		ua:     h.cliUA,
	}
	if !h.newUAFrom.IsZero() && !day.Before(h.newUAFrom) {
		c.ua = h.newUA
	}
	if console {
		c.ua = h.consoleUA
		c.console = true
		login := *c
		login.id.AccessKeyID = ""
		login.ipPool = nil
		login.ip = pick(g.r, h.ips)
		c.ipPool = []string{login.ip}
		id := g.consoleLogin(&login, created, "Yes", false)
		h.dayEvents[dateKey(day)] = append(h.dayEvents[dateKey(day)], id)
	}
	h.sessions[k] = c
	return c
}

// consoleLogin emits a successful ConsoleLogin.
func (g *gen) consoleLogin(c *caller, t time.Time, mfa string, root bool) string {
	extra := obj("LoginTo", "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true&state=hashArgsFromTB_us-east-1_"+g.hex(16), "MobileVersion", "No", "MFAUsed", mfa)
	if root {
		extra = obj("LoginTo", "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true&state=hashArgsFromTB_us-east-1_"+g.hex(16), "MobileVersion", "No", "MFAIdentifier", "arn:aws:iam::"+c.acct.id+":mfa/root-account-mfa-device", "MFAUsed", mfa)
	}
	c.acct.now = t
	return g.emit(c, t, "signin:ConsoleLogin", callOpts{setReq: true, setResp: true, resp: obj("ConsoleLogin", "Success"), extra: extra, eventType: "AwsConsoleSignIn"})
}

func (g *gen) humanDay(h *human, day time.Time) {
	if !weekday(day) || (!h.startDay.IsZero() && day.Before(h.startDay)) {
		return
	}
	if !h.absentFrom.IsZero() && !day.Before(h.absentFrom) && !day.After(h.absentTo) {
		return
	}
	if g.r.Float64() < 0.04 { // the odd day off
		return
	}
	begin := g.jitter(g.local(day, 9, 0), 50*time.Minute)
	end := g.jitter(g.local(day, 17, 0), 60*time.Minute)
	span := end.Sub(begin)
	n := poisson(g.r, h.perDay)
	a := h.acct
	if h.alt != nil && g.r.Float64() < 0.15 {
		a = h.alt
	}
	// Calls cluster in a few work bursts.
	bursts := 2 + g.r.IntN(4)
	centers := make([]time.Time, bursts)
	for i := range centers {
		centers[i] = begin.Add(time.Duration(g.r.Int64N(int64(span))))
	}
	for range n {
		t := centers[g.r.IntN(bursts)].Add(time.Duration(g.r.NormFloat64() * float64(20*time.Minute)))
		if t.Before(begin) {
			t = begin.Add(time.Duration(g.r.Int64N(int64(10 * time.Minute))))
		}
		if t.After(end) {
			t = end.Add(-time.Duration(g.r.Int64N(int64(10 * time.Minute))))
		}
		console := g.r.Float64() < h.consoleShare
		c := g.humanSession(h, a, console, day, t)
		key := h.pickAPI(g)
		api := catalog[key]
		deny := (h.permSet == psReadOnly && !api.readOnly) || g.r.Float64() < 0.004
		a.now = t
		id := g.emit(c, t, key, callOpts{deny: deny})
		h.dayEvents[dateKey(day)] = append(h.dayEvents[dateKey(day)], id)
	}
}

func (g *gen) rootLogin() {
	a := g.accounts[0]
	t := g.local(time.Date(2026, 10, 7, 0, 0, 0, 0, time.UTC), 10, 12).Add(17 * time.Second)
	if t.Before(g.start) || !t.Before(g.end) {
		return
	}
	ip := g.humans[6].ips[0]
	id := UserIdentity{Type: "Root", PrincipalID: a.id, ARN: "arn:aws:iam::" + a.id + ":root", AccountID: a.id}
	c := &caller{id: id, acct: a, region: "us-east-1", ip: ip, ua: uaChromeMac}
	g.consoleLogin(c, t, "Yes", true)
	sess := id
	sess.AccessKeyID = g.accessKey("ASIA")
	sess.SessionContext = &SessionContext{Attributes: Attributes{CreationDate: ts(t), MFAAuthenticated: "true"}}
	cs := &caller{id: sess, acct: a, region: "us-east-1", ip: ip, ua: uaChromeMac, console: true}
	for i, k := range []string{"iam:GetAccountSummary", "iam:ListMFADevices", "iam:GetAccountPasswordPolicy", "iam:ListUsers", "iam:ListAccessKeys"} {
		tt := t.Add(time.Duration(30+i*40) * time.Second)
		a.now = tt
		g.emit(cs, tt, k, callOpts{})
	}
}

// workload is a weighted API mix of a service principal.
type workload struct {
	keys    []string
	weights []float64
}

func (w workload) pick(g *gen) string {
	total := 0.0
	for _, x := range w.weights {
		total += x
	}
	u := g.r.Float64() * total
	for i, x := range w.weights {
		if u < x {
			return w.keys[i]
		}
		u -= x
	}
	return w.keys[len(w.keys)-1]
}

func wl(kv ...any) workload {
	var w workload
	for i := 0; i+1 < len(kv); i += 2 {
		w.keys = append(w.keys, kv[i].(string))
		w.weights = append(w.weights, kv[i+1].(float64))
	}
	return w
}

// lambdaFn is a Lambda function and the role it runs as.
type lambdaFn struct {
	name, role, ua string
	rate           float64 // calls per hour at peak
	mix            workload
}

func (g *gen) lambdaFns(a *account) []lambdaFn {
	scale := 1.0
	if a.env != "prod" {
		scale = 0.2
	}
	return []lambdaFn{
		{name: a.env + "-orders-api", role: a.env + "-orders-api-role", ua: uaGoLambda, rate: 9 * scale,
			mix: wl("dynamodb:GetItem", 4.0, "dynamodb:Query", 3.0, "dynamodb:PutItem", 3.0, "dynamodb:UpdateItem", 2.5, "sqs:SendMessage", 2.0, "kms:Decrypt", 1.5, "ssm:GetParameter", 1.0, "secretsmanager:GetSecretValue", 0.5)},
		{name: a.env + "-image-resizer", role: a.env + "-image-resizer-role", ua: uaBoto3, rate: 4 * scale,
			mix: wl("s3:GetObject", 3.0, "s3:PutObject", 3.0, "kms:GenerateDataKey", 2.0, "kms:Decrypt", 1.0, "sqs:SendMessage", 1.0)},
		{name: a.env + "-billing-worker", role: a.env + "-billing-worker-role", ua: uaBoto3, rate: 3 * scale,
			mix: wl("dynamodb:Query", 3.0, "dynamodb:UpdateItem", 2.0, "secretsmanager:GetSecretValue", 1.5, "kms:Decrypt", 2.0, "sqs:SendMessage", 1.0, "ssm:GetParameters", 1.0, "sts:GetCallerIdentity", 0.3)},
	}
}

// lambdaSession opens a new Lambda execution-role session: the
// lambda.amazonaws.com AssumeRole and the caller using its ASIA key.
func (g *gen) lambdaSession(a *account, fn lambdaFn, region string, t time.Time) *caller {
	key := g.accessKey("ASIA")
	svc := &caller{id: awsService("lambda.amazonaws.com"), acct: a, region: region, ip: "lambda.amazonaws.com", ua: "lambda.amazonaws.com", version: "1.08"}
	roleARN := "arn:aws:iam::" + a.id + ":role/" + fn.role
	a.now = t
	g.emit(svc, t, "sts:AssumeRole", callOpts{setReq: true, setResp: true,
		req: obj("roleArn", roleARN, "roleSessionName", fn.name),
		resp: obj("credentials", obj("accessKeyId", key, "sessionToken", g.sessionToken(), "expiration", t.Add(12*time.Hour).Format(iamDate)),
			"assumedRoleUser", obj("assumedRoleId", g.roleID(a.id, fn.role)+":"+fn.name, "arn", roleSessionARN(a.id, fn.role, fn.name))),
		resources: []Resource{{AccountID: a.id, Type: "AWS::IAM::Role", ARN: roleARN}}})
	var ips []string
	for range 1 + g.r.IntN(3) {
		ips = append(ips, randIP(g.r, pick(g.r, ec2Prefixes[region])))
	}
	return &caller{id: g.roleSession(a, fn.role, "/", fn.name, key, t, false), acct: a, region: region, ipPool: ips, ua: fn.ua}
}

// lambdas simulates functions running around the clock with a diurnal rate.
func (g *gen) lambdas(a *account) {
	for _, fn := range g.lambdaFns(a) {
		region := "us-east-1"
		if fn.name == a.env+"-image-resizer" && a.env == "prod" {
			region = "eu-west-1"
		}
		var c *caller
		var expires time.Time
		for hr := g.start.Add(-time.Hour); hr.Before(g.end); hr = hr.Add(time.Hour) {
			n := poisson(g.r, fn.rate*g.diurnal(hr))
			times := g.sortedTimes(hr, time.Hour, n)
			for _, t := range times {
				if c == nil || !t.Before(expires) {
					st := t.Add(-time.Duration(g.r.IntN(300)) * time.Millisecond)
					c = g.lambdaSession(a, fn, region, st)
					expires = st.Add(time.Duration(1+g.r.IntN(12)) * time.Hour)
				}
				a.now = t
				g.emit(c, t, fn.mix.pick(g), callOpts{})
			}
		}
	}
}

// sortedTimes draws n instants in [from, from+span), ascending.
func (g *gen) sortedTimes(from time.Time, span time.Duration, n int) []time.Time {
	out := make([]time.Time, n)
	for i := range out {
		out[i] = from.Add(time.Duration(g.r.Int64N(int64(span))))
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Before(out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// ecsService simulates an ECS service whose tasks are replaced now and then;
// each task's session is named by its task ID.
func (g *gen) ecsService(a *account) {
	role := "ecs-task-checkout"
	mix := wl("dynamodb:GetItem", 4.0, "dynamodb:PutItem", 3.0, "dynamodb:Query", 2.0, "sqs:SendMessage", 2.5, "kms:Decrypt", 1.5, "ssm:GetParameter", 0.5, "secretsmanager:GetSecretValue", 0.3)
	var c *caller
	var expires time.Time
	for hr := g.start.Add(-time.Hour); hr.Before(g.end); hr = hr.Add(time.Hour) {
		n := poisson(g.r, 5*g.diurnal(hr))
		for _, t := range g.sortedTimes(hr, time.Hour, n) {
			if c == nil || !t.Before(expires) {
				task := g.hex(32)
				key := g.accessKey("ASIA")
				svc := &caller{id: awsService("ecs-tasks.amazonaws.com"), acct: a, region: "us-east-1", ip: "ecs-tasks.amazonaws.com", ua: "ecs-tasks.amazonaws.com", version: "1.08"}
				roleARN := "arn:aws:iam::" + a.id + ":role/" + role
				a.now = t
				g.emit(svc, t.Add(-2*time.Second), "sts:AssumeRole", callOpts{setReq: true, setResp: true,
					req:       obj("roleArn", roleARN, "roleSessionName", task),
					resp:      obj("credentials", obj("accessKeyId", key, "sessionToken", g.sessionToken(), "expiration", t.Add(6*time.Hour).Format(iamDate)), "assumedRoleUser", obj("assumedRoleId", g.roleID(a.id, role)+":"+task, "arn", roleSessionARN(a.id, role, task))),
					resources: []Resource{{AccountID: a.id, Type: "AWS::IAM::Role", ARN: roleARN}}})
				c = &caller{id: g.roleSession(a, role, "/", task, key, t, false), acct: a, region: "us-east-1", ipPool: []string{randIP(g.r, pick(g.r, ec2Prefixes["us-east-1"]))}, ua: uaGoECS}
				expires = t.Add(time.Duration(3+g.r.IntN(9)) * time.Hour)
			}
			a.now = t
			g.emit(c, t, mix.pick(g), callOpts{})
		}
	}
}

// oidcSession emits the AssumeRoleWithWebIdentity of a GitHub Actions job
// and returns the resulting session caller.
func (g *gen) oidcSession(a *account, role, sess, repo, ip string, t time.Time) *caller {
	key := g.accessKey("ASIA")
	provider := "arn:aws:iam::" + a.id + ":oidc-provider/token.actions.githubusercontent.com"
	sub := "repo:acme/" + repo + ":ref:refs/heads/main"
	web := &caller{id: UserIdentity{Type: "WebIdentityUser", PrincipalID: provider + ":sts.amazonaws.com:" + sub, UserName: sub, IdentityProvider: provider},
		acct: a, region: "us-east-1", ip: ip, ua: uaOIDC}
	roleARN := "arn:aws:iam::" + a.id + ":role/" + role
	a.now = t
	g.emit(web, t, "sts:AssumeRoleWithWebIdentity", callOpts{setReq: true, setResp: true,
		req: obj("roleArn", roleARN, "roleSessionName", sess, "durationSeconds", 3600),
		resp: obj("credentials", obj("accessKeyId", key, "sessionToken", g.sessionToken(), "expiration", t.Add(time.Hour).Format(iamDate)),
			"subjectFromWebIdentityToken", sub, "assumedRoleUser", obj("assumedRoleId", g.roleID(a.id, role)+":"+sess, "arn", roleSessionARN(a.id, role, sess)),
			"provider", provider, "audience", "sts.amazonaws.com"),
		extra:     obj("identityProviderConnectionVerificationMethod", "IAMTrustStore"),
		resources: []Resource{{AccountID: a.id, Type: "AWS::IAM::Role", ARN: roleARN}}})
	return &caller{id: g.roleSession(a, role, "/", sess, key, t, false), acct: a, region: "us-east-1", ip: ip, ua: uaCLIRunner}
}

// cfnCaller is the same session acting through CloudFormation.
func cfnCaller(c *caller) *caller {
	cf := *c
	cf.id.InvokedBy = "cloudformation.amazonaws.com"
	cf.ip = "cloudformation.amazonaws.com"
	cf.ipPool = nil
	cf.ua = "cloudformation.amazonaws.com"
	cf.console = false
	return &cf
}

// ciRun is one deploy job of the github-actions-deploy role; it returns the
// event IDs it emitted.
func (g *gen) ciRun(a *account, t time.Time, newService bool) []string {
	if newService {
		return g.ciRunService(a, t, "notifications")
	}
	return g.ciRunService(a, t, "")
}

// ciRunService is ciRun deploying service for the first time when it is
// not empty: CreateStack, then CloudFormation creating its role, policy,
// log group, function and queue on the role's behalf.
func (g *gen) ciRunService(a *account, t time.Time, service string) []string {
	newService := service != ""
	var ids []string
	ip := randIP(g.r, pick(g.r, runnerPrefixes))
	repo := pick(g.r, []string{"checkout", "orders-api", "image-resizer"})
	c := g.oidcSession(a, "github-actions-deploy", "GitHubActions", repo, ip, t)
	step := func(key string, o callOpts) {
		t = t.Add(time.Duration(1+g.r.IntN(8)) * time.Second)
		a.now = t
		ids = append(ids, g.emit(c, t, key, o))
	}
	cf := cfnCaller(c)
	cfStep := func(key string, o callOpts) {
		t = t.Add(time.Duration(1+g.r.IntN(20)) * time.Second)
		a.now = t
		ids = append(ids, g.emit(cf, t, key, o))
	}
	step("sts:GetCallerIdentity", callOpts{})
	step("ecr:GetAuthorizationToken", callOpts{})
	for range 2 + g.r.IntN(3) {
		step("ecr:BatchCheckLayerAvailability", callOpts{})
	}
	step("ecr:InitiateLayerUpload", callOpts{})
	step("ecr:PutImage", callOpts{})
	step("s3:PutObject", callOpts{})
	if newService {
		stack := a.env + "-" + service + "-service"
		stackID := fmt.Sprintf("arn:aws:cloudformation:us-east-1:%s:stack/%s/%s", a.id, stack, g.uuid())
		step("cloudformation:DescribeStacks", callOpts{setReq: true, req: obj("stackName", stack), deny: false})
		step("cloudformation:CreateStack", callOpts{setReq: true, setResp: true,
			req:  obj("stackName", stack, "templateURL", "https://s3.us-east-1.amazonaws.com/cdk-hnb659fds-assets-"+a.id+"-us-east-1/"+g.hex(64)+".json", "capabilities", []string{"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"}, "tags", []Object{obj("key", "service", "value", service)}),
			resp: obj("stackId", stackID)})
		roleName := a.env + "-" + service + "-fn-role"
		doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
		cfStep("iam:CreateRole", callOpts{setReq: true, setResp: true,
			req:  obj("roleName", roleName, "assumeRolePolicyDocument", doc, "tags", []Object{obj("key", "aws:cloudformation:stack-name", "value", stack)}),
			resp: obj("role", obj("path", "/", "roleName", roleName, "roleId", g.uniqueID("AROA"), "arn", "arn:aws:iam::"+a.id+":role/"+roleName, "createDate", t.Format(iamDate), "assumeRolePolicyDocument", urlEncode(doc)))})
		cfStep("iam:PutRolePolicy", callOpts{setReq: true, req: obj("roleName", roleName, "policyName", service+"-access",
			"policyDocument", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sqs:ReceiveMessage","sqs:DeleteMessage","sqs:GetQueueAttributes"],"Resource":"arn:aws:sqs:us-east-1:`+a.id+`:`+a.env+`-email-outbox"},{"Effect":"Allow","Action":["ses:SendEmail"],"Resource":"*"}]}`)})
		cfStep("iam:AttachRolePolicy", callOpts{setReq: true, req: obj("roleName", roleName, "policyArn", "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")})
		cfStep("iam:GetRole", callOpts{setReq: true, req: obj("roleName", roleName)})
		cfStep("logs:CreateLogGroup", callOpts{setReq: true, req: obj("logGroupName", "/aws/lambda/"+a.env+"-"+service)})
		fn := a.env + "-" + service
		cfStep("lambda:CreateFunction20150331", callOpts{setReq: true, setResp: true,
			req: obj("functionName", fn, "runtime", "python3.12", "role", "arn:aws:iam::"+a.id+":role/"+roleName, "handler", "app.handler", "code", obj(), "timeout", 30, "memorySize", 256, "publish", false, "packageType", "Zip", "architectures", []string{"arm64"}),
			resp: obj("functionName", fn, "functionArn", a.fnARN("us-east-1", fn), "runtime", "python3.12", "role", "arn:aws:iam::"+a.id+":role/"+roleName, "handler", "app.handler",
				"codeSize", 48213, "timeout", 30, "memorySize", 256, "lastModified", t.Format("2006-01-02T15:04:05.000+0000"), "version", "$LATEST", "state", "Pending", "stateReason", "The function is being created.", "stateReasonCode", "Creating", "packageType", "Zip", "architectures", []string{"arm64"})})
		cfStep("lambda:GetFunction20150331v2", callOpts{setReq: true, req: obj("functionName", fn)})
		cfStep("sqs:CreateQueue", callOpts{setReq: true, setResp: true, req: obj("queueName", a.env+"-"+service+"-dlq"), resp: obj("queueUrl", a.queueURL("us-east-1", a.env+"-"+service+"-dlq"))})
		cfStep("lambda:AddPermission20150331v2", callOpts{})
		for range 4 + g.r.IntN(4) {
			step("cloudformation:DescribeStackEvents", callOpts{setReq: true, req: obj("stackName", stack)})
		}
		step("cloudformation:DescribeStacks", callOpts{setReq: true, req: obj("stackName", stack)})
		return ids
	}
	step("cloudformation:DescribeStacks", callOpts{})
	step("cloudformation:CreateChangeSet", callOpts{})
	step("cloudformation:DescribeChangeSet", callOpts{})
	step("cloudformation:ExecuteChangeSet", callOpts{})
	for range 1 + g.r.IntN(3) {
		k := pick(g.r, []string{"lambda:UpdateFunctionConfiguration20150331v2", "lambda:GetFunction20150331v2", "iam:GetRole", "ecs:RegisterTaskDefinition", "ecs:UpdateService", "ecs:DescribeServices", "lambda:UpdateFunctionCode20150331v2"})
		cfStep(k, callOpts{})
	}
	for range 3 + g.r.IntN(6) {
		step("cloudformation:DescribeStackEvents", callOpts{})
	}
	step("cloudformation:DescribeStacks", callOpts{})
	step("ecs:DescribeServices", callOpts{})
	return ids
}

func (g *gen) ciRuns(a *account, days []time.Time) {
	m := 2.5
	if a.env == "staging" {
		m = 3.0
	}
	for _, day := range days {
		if !weekday(day) {
			continue
		}
		for range poisson(g.r, m) {
			g.ciRun(a, g.jitter(g.local(day, 9, 30), 9*time.Hour), false)
		}
	}
}

var tfReads = []string{"ec2:DescribeVpcs", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeRouteTables", "ec2:DescribeInstances",
	"ec2:DescribeLaunchTemplates", "ec2:DescribeTags", "iam:GetRole", "iam:ListAttachedRolePolicies", "iam:ListRolePolicies", "iam:GetRolePolicy", "iam:GetPolicy",
	"iam:GetPolicyVersion", "s3:GetBucketPolicy", "s3:GetBucketAcl", "s3:GetBucketVersioning", "s3:GetBucketTagging", "s3:GetBucketEncryption",
	"s3:GetBucketPublicAccessBlock", "s3:GetBucketLogging", "s3:GetBucketLifecycle", "s3:GetBucketOwnershipControls", "dynamodb:DescribeTable",
	"dynamodb:DescribeContinuousBackups", "dynamodb:DescribeTimeToLive", "sqs:GetQueueAttributes", "lambda:GetFunction20150331v2",
	"lambda:GetPolicy20150331v2", "logs:DescribeLogGroups", "kms:DescribeKey", "kms:GetKeyPolicy", "rds:DescribeDBInstances",
	"elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeTargetGroups", "route53:GetHostedZone",
	"route53:ListResourceRecordSets", "sns:GetTopicAttributes", "ssm:GetParameter", "monitoring:DescribeAlarms", "ecs:DescribeServices",
	"ecs:DescribeTaskDefinition", "autoscaling:DescribeAutoScalingGroups"}

var tfWrites = []string{"ec2:CreateTags", "s3:PutBucketTagging", "lambda:UpdateFunctionConfiguration20150331v2", "logs:PutRetentionPolicy",
	"iam:TagRole", "monitoring:PutMetricAlarm", "route53:ChangeResourceRecordSets", "ssm:PutParameter", "sqs:SetQueueAttributes",
	"dynamodb:UpdateTimeToLive", "ec2:RevokeSecurityGroupIngress", "ecs:UpdateService", "autoscaling:UpdateAutoScalingGroup"}

// terraformRun is one terraform apply: a refresh of many resources then a
// few changes. scale multiplies its size.
func (g *gen) terraformRun(a *account, t time.Time, scale int) []string {
	ip := randIP(g.r, pick(g.r, runnerPrefixes))
	c := g.oidcSession(a, "terraform-apply", "terraform", "infrastructure", ip, t)
	c.ua = uaTerraform
	var ids []string
	n := (28 + g.r.IntN(20)) * scale
	writes := (4 + g.r.IntN(6)) * scale
	ids = append(ids, g.emit(c, t, "sts:GetCallerIdentity", callOpts{}))
	for i := range n + writes {
		t = t.Add(time.Duration(g.r.IntN(1500)) * time.Millisecond)
		k := pick(g.r, tfReads)
		if i >= n {
			k = pick(g.r, tfWrites)
			t = t.Add(time.Duration(g.r.IntN(5)) * time.Second)
		}
		a.now = t
		ids = append(ids, g.emit(c, t, k, callOpts{}))
	}
	return ids
}

func (g *gen) terraformRuns(a *account, days []time.Time) {
	for _, day := range days {
		if !weekday(day) {
			continue
		}
		for range poisson(g.r, 1.0) {
			g.terraformRun(a, g.jitter(g.local(day, 10, 0), 8*time.Hour), 1)
		}
	}
}

// serviceCalls are calls AWS services make with service-linked roles.
func (g *gen) serviceCalls(a *account) {
	asg := func(t time.Time) *caller {
		return &caller{id: withInvoker(g.roleSession(a, "AWSServiceRoleForAutoScaling", "/aws-service-role/autoscaling.amazonaws.com/", "AutoScaling", g.accessKey("ASIA"), t.Add(-time.Minute), false), "autoscaling.amazonaws.com"),
			acct: a, region: "us-east-1", ip: "autoscaling.amazonaws.com", ua: "autoscaling.amazonaws.com"}
	}
	cfg := func(t time.Time) *caller {
		return &caller{id: withInvoker(g.roleSession(a, "AWSServiceRoleForConfig", "/aws-service-role/config.amazonaws.com/", "AWSConfig-Describe", g.accessKey("ASIA"), t.Add(-time.Minute), false), "config.amazonaws.com"),
			acct: a, region: "us-east-1", ip: "config.amazonaws.com", ua: "config.amazonaws.com"}
	}
	cfgReads := []string{"ec2:DescribeInstances", "ec2:DescribeSecurityGroups", "ec2:DescribeVolumes", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
		"iam:GetRole", "iam:ListAttachedRolePolicies", "s3:GetBucketPolicy", "s3:GetBucketAcl", "s3:GetBucketVersioning", "lambda:GetFunction20150331v2",
		"kms:DescribeKey", "rds:DescribeDBInstances", "dynamodb:DescribeTable"}
	for t := g.start.Add(time.Duration(g.r.IntN(3600)) * time.Second); t.Before(g.end); t = t.Add(time.Duration(5+g.r.IntN(3)) * time.Hour) {
		c := cfg(t)
		tt := t
		for range 3 + g.r.IntN(6) {
			tt = tt.Add(time.Duration(g.r.IntN(4000)) * time.Millisecond)
			a.now = tt
			g.emit(c, tt, pick(g.r, cfgReads), callOpts{})
		}
	}
	if a.env != "prod" {
		return
	}
	for day := g.start; day.Before(g.end); day = day.Add(24 * time.Hour) {
		for range poisson(g.r, 2) {
			t := g.jitter(day, 24*time.Hour)
			c := asg(t)
			a.now = t
			k := "ec2:RunInstances"
			if g.r.IntN(2) == 0 {
				k = "ec2:TerminateInstances"
			}
			g.emit(c, t, k, callOpts{})
			g.emit(c, t.Add(2*time.Second), "ec2:CreateTags", callOpts{})
		}
	}
}

func withInvoker(id UserIdentity, by string) UserIdentity {
	id.InvokedBy = by
	return id
}

// scanner is a security-account Lambda that assumes an audit role in the
// member accounts every four hours (cross-account AssumeRole, recorded in
// both accounts with one sharedEventID).
func (g *gen) scanner(days []time.Time) {
	sec := g.accounts[2]
	fn := lambdaFn{name: "security-config-scanner", role: "security-config-scanner-role", ua: uaBoto3}
	reads := []string{"iam:ListUsers", "iam:GetAccountSummary", "iam:ListRoles", "ec2:DescribeSecurityGroups", "s3:ListBuckets", "s3:GetBucketPolicy",
		"s3:GetBucketPublicAccessBlock", "cloudtrail:GetTrailStatus", "cloudtrail:DescribeTrails", "guardduty:ListDetectors", "kms:ListKeys",
		"ec2:DescribeSnapshots", "rds:DescribeDBSnapshots", "iam:ListAccessKeys"}
	for t := g.start.Add(17 * time.Minute); t.Before(g.end); t = t.Add(8 * time.Hour) {
		c := g.lambdaSession(sec, fn, "us-east-1", t)
		for _, target := range g.accounts[:2] {
			t = t.Add(time.Duration(200+g.r.IntN(800)) * time.Millisecond)
			shared := g.uuid()
			roleARN := "arn:aws:iam::" + target.id + ":role/SecurityAudit"
			key := g.accessKey("ASIA")
			req := obj("roleArn", roleARN, "roleSessionName", "config-scanner", "durationSeconds", 900)
			resp := obj("credentials", obj("accessKeyId", key, "sessionToken", g.sessionToken(), "expiration", t.Add(15*time.Minute).Format(iamDate)),
				"assumedRoleUser", obj("assumedRoleId", g.roleID(target.id, "SecurityAudit")+":config-scanner", "arn", roleSessionARN(target.id, "SecurityAudit", "config-scanner")))
			res := []Resource{{AccountID: target.id, Type: "AWS::IAM::Role", ARN: roleARN}}
			sec.now = t
			g.emit(c, t, "sts:AssumeRole", callOpts{setReq: true, setResp: true, req: req, resp: resp, resources: res, sharedID: shared})
			g.emit(c, t, "sts:AssumeRole", callOpts{setReq: true, setResp: true, req: req, resp: resp, resources: res, sharedID: shared, recipient: target.id})
			ac := &caller{id: g.roleSession(target, "SecurityAudit", "/", "config-scanner", key, t, false), acct: target, region: "us-east-1", ipPool: c.ipPool, ua: uaBoto3}
			for range 4 + g.r.IntN(5) {
				t = t.Add(time.Duration(100+g.r.IntN(900)) * time.Millisecond)
				target.now = t
				g.emit(ac, t, pick(g.r, reads), callOpts{})
			}
		}
	}
}

// legacyUsers are two IAM users with long-term AKIA keys, each calling from
// one fixed address.
func (g *gen) legacyUsers(days []time.Time) {
	prod, staging := g.accounts[0], g.accounts[1]
	g.backupKey = g.accessKey("AKIA")
	backup := &caller{id: g.iamUser(prod, "svc-backup", g.backupKey), acct: prod, region: "us-east-1", ip: backupHost, ua: uaBackup, version: "1.09"}
	g.backupCaller = backup
	jk := &caller{id: g.iamUser(staging, "jenkins", g.accessKey("AKIA")), acct: staging, region: "us-east-1", ip: jenkinsIP, ua: uaJenkins}
	for _, day := range days {
		t := g.jitter(g.local(day, 1, 30), 10*time.Minute)
		step := func(c *caller, k string) {
			t = t.Add(time.Duration(1+g.r.IntN(20)) * time.Second)
			c.acct.now = t
			g.emit(c, t, k, callOpts{})
		}
		step(backup, "sts:GetCallerIdentity")
		step(backup, "ec2:DescribeVolumes")
		for range 3 {
			step(backup, "ec2:CreateSnapshot")
			step(backup, "ec2:CreateTags")
		}
		step(backup, "ec2:DescribeSnapshots")
		step(backup, "ec2:DescribeSnapshots")
		step(backup, "ec2:DeleteSnapshot")
		step(backup, "ec2:DeleteSnapshot")
		step(backup, "rds:CreateDBSnapshot")
		step(backup, "rds:DescribeDBSnapshots")
		if !weekday(day) {
			continue
		}
		for range poisson(g.r, 6) {
			t = g.jitter(g.local(day, 8, 0), 11*time.Hour)
			step(jk, "ecr:GetAuthorizationToken")
			step(jk, "ecr:DescribeImages")
			step(jk, "ecr:PutImage")
			step(jk, "ecs:DescribeServices")
			if g.r.IntN(3) == 0 {
				step(jk, "ecs:UpdateService")
			}
			step(jk, "ecs:DescribeServices")
		}
	}
}

// serviceEvents are AwsServiceEvent records (KMS automatic rotation).
func (g *gen) serviceEvents() {
	for _, a := range g.accounts {
		for i, k := range a.kmsKeys {
			t := g.local(time.Date(2026, 10, 9+7*i, 0, 0, 0, 0, time.UTC), 4, 0).Add(time.Duration(g.r.IntN(3600)) * time.Second)
			c := &caller{id: UserIdentity{Type: "AWSService", AccountID: a.id, InvokedBy: "kms.amazonaws.com"}, acct: a, region: "us-east-1", ip: "AWS Internal", ua: "AWS Internal", version: "1.08"}
			a.now = t
			g.emit(c, t, "kms:RotateKey", callOpts{setReq: true, setResp: true, eventType: "AwsServiceEvent",
				resources:  []Resource{{AccountID: a.id, Type: "AWS::KMS::Key", ARN: a.keyARN("us-east-1", k)}},
				serviceEvt: obj("keyId", k, "rotationType", "AUTOMATIC")})
		}
	}
}
