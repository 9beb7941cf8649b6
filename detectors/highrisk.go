package detectors

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strings"

	"github.com/trailwatch/trailwatch/events"
)

// HighRiskAction flags actions that attackers use to hide, persist,
// escalate, expose data or destroy it, judged against whether this
// principal has done them before.
//
// Scoring: each rule has a base score (how dangerous the action is when
// its parameters make it so; the rule inspects requestParameters where the
// risk depends on them, e.g. a bucket policy granting "*"). The base is
// weighed by the principal's own history of the same API:
// 1 / (1 + ln(1 + days it was done before)), so the first time counts in
// full and the hundredth about a sixth. A failed call counts 40%. The first
// successful time of the most dangerous rules gives at least HIGH.
type HighRiskAction struct{}

// ID returns "high-risk-action".
func (HighRiskAction) ID() string { return IDHighRiskAction }

// Summary describes the detector.
func (HighRiskAction) Summary() string {
	return "Logging and detection tampering, IAM persistence and escalation, public or cross-account exposure, destruction, root activity and console sign-in without MFA, weighed by whether this principal did it before."
}

// Risk categories.
const (
	catTampering   = "logging and detection tampering"
	catPersistence = "IAM persistence and privilege escalation"
	catExposure    = "public or cross-account exposure"
	catDestruction = "destruction"
	catRoot        = "root account use"
	catNoMFA       = "console sign-in without MFA"
	catOrg         = "leaving the organization"
	catExecution   = "code execution and lateral movement"
)

type riskRule struct {
	api      string // service:EventName; a trailing * matches version suffixes
	category string
	base     float64
	floor    Severity
	// check inspects the event; it returns whether the call is risky and
	// a phrase saying what it did. Nil means always risky.
	check func(ev *events.Event, p params) (bool, string)
}

var riskRules = []riskRule{
	// Logging and detection tampering.
	{api: "cloudtrail:StopLogging", category: catTampering, base: 0.95, floor: SeverityHigh},
	{api: "cloudtrail:DeleteTrail", category: catTampering, base: 0.95, floor: SeverityHigh},
	{api: "cloudtrail:UpdateTrail", category: catTampering, base: 0.55},
	{api: "cloudtrail:PutEventSelectors", category: catTampering, base: 0.55, check: eventSelectorsReduced},
	{api: "cloudtrail:DeleteEventDataStore", category: catTampering, base: 0.9, floor: SeverityHigh},
	{api: "cloudtrail:StopEventDataStoreIngestion", category: catTampering, base: 0.9, floor: SeverityHigh},
	{api: "guardduty:DeleteDetector", category: catTampering, base: 0.95, floor: SeverityHigh},
	{api: "guardduty:UpdateDetector", category: catTampering, base: 0.95, floor: SeverityHigh, check: guardDutyDisabled},
	{api: "guardduty:DisassociateFromMasterAccount", category: catTampering, base: 0.85, floor: SeverityHigh},
	{api: "guardduty:DisassociateFromAdministratorAccount", category: catTampering, base: 0.85, floor: SeverityHigh},
	{api: "guardduty:DeleteMembers", category: catTampering, base: 0.7},
	{api: "guardduty:CreateFilter", category: catTampering, base: 0.6, check: guardDutyArchiveFilter},
	{api: "securityhub:DisableSecurityHub", category: catTampering, base: 0.95, floor: SeverityHigh},
	{api: "securityhub:BatchDisableStandards", category: catTampering, base: 0.7},
	{api: "config:StopConfigurationRecorder", category: catTampering, base: 0.9, floor: SeverityHigh},
	{api: "config:DeleteConfigurationRecorder", category: catTampering, base: 0.9, floor: SeverityHigh},
	{api: "config:DeleteDeliveryChannel", category: catTampering, base: 0.8},
	{api: "ec2:DeleteFlowLogs", category: catTampering, base: 0.85, floor: SeverityHigh},
	{api: "logs:DeleteLogGroup", category: catTampering, base: 0.45},
	{api: "access-analyzer:DeleteAnalyzer", category: catTampering, base: 0.7},
	{api: "macie2:DisableMacie", category: catTampering, base: 0.8},
	{api: "inspector2:Disable", category: catTampering, base: 0.8},
	{api: "detective:DeleteGraph", category: catTampering, base: 0.7},

	// IAM persistence and privilege escalation.
	{api: "iam:CreateUser", category: catPersistence, base: 0.6},
	{api: "iam:CreateAccessKey", category: catPersistence, base: 0.75, check: accessKeyForAnother},
	{api: "iam:CreateLoginProfile", category: catPersistence, base: 0.75},
	{api: "iam:UpdateLoginProfile", category: catPersistence, base: 0.7},
	{api: "iam:AttachUserPolicy", category: catPersistence, base: 0.9, floor: SeverityHigh, check: adminManagedPolicy},
	{api: "iam:AttachRolePolicy", category: catPersistence, base: 0.85, floor: SeverityHigh, check: adminManagedPolicy},
	{api: "iam:AttachGroupPolicy", category: catPersistence, base: 0.85, floor: SeverityHigh, check: adminManagedPolicy},
	{api: "iam:PutUserPolicy", category: catPersistence, base: 0.9, floor: SeverityHigh, check: adminInlinePolicy},
	{api: "iam:PutRolePolicy", category: catPersistence, base: 0.85, floor: SeverityHigh, check: adminInlinePolicy},
	{api: "iam:PutGroupPolicy", category: catPersistence, base: 0.85, floor: SeverityHigh, check: adminInlinePolicy},
	{api: "iam:CreatePolicyVersion", category: catPersistence, base: 0.9, floor: SeverityHigh, check: adminInlinePolicy},
	{api: "iam:UpdateAssumeRolePolicy", category: catPersistence, base: 0.9, floor: SeverityHigh, check: trustsOutsideAccount},
	{api: "iam:CreateRole", category: catPersistence, base: 0.6, check: trustsOutsideAccount},
	{api: "iam:AddUserToGroup", category: catPersistence, base: 0.6, check: adminGroup},
	{api: "iam:DeactivateMFADevice", category: catPersistence, base: 0.6},
	{api: "iam:DeleteVirtualMFADevice", category: catPersistence, base: 0.5},
	{api: "iam:CreateSAMLProvider", category: catPersistence, base: 0.6},
	{api: "iam:CreateOpenIDConnectProvider", category: catPersistence, base: 0.55},

	// Public or cross-account exposure.
	{api: "s3:PutBucketPolicy", category: catExposure, base: 0.9, floor: SeverityHigh, check: grantsEveryone},
	{api: "s3:PutBucketAcl", category: catExposure, base: 0.85, floor: SeverityHigh, check: publicACL},
	{api: "s3:PutBucketPublicAccessBlock", category: catExposure, base: 0.7, check: publicAccessBlockRelaxed},
	{api: "s3:DeleteBucketPublicAccessBlock", category: catExposure, base: 0.7},
	{api: "s3control:PutPublicAccessBlock", category: catExposure, base: 0.75, check: publicAccessBlockRelaxed},
	{api: "s3control:DeletePublicAccessBlock", category: catExposure, base: 0.75},
	{api: "ec2:ModifySnapshotAttribute", category: catExposure, base: 0.9, floor: SeverityHigh, check: sharedOut},
	{api: "ec2:ModifyImageAttribute", category: catExposure, base: 0.85, floor: SeverityHigh, check: sharedOut},
	{api: "rds:ModifyDBSnapshotAttribute", category: catExposure, base: 0.9, floor: SeverityHigh, check: sharedOut},
	{api: "rds:ModifyDBClusterSnapshotAttribute", category: catExposure, base: 0.9, floor: SeverityHigh, check: sharedOut},
	{api: "ec2:AuthorizeSecurityGroupIngress", category: catExposure, base: 0.7, check: openToWorld},
	{api: "lambda:AddPermission*", category: catExposure, base: 0.8, check: grantsEveryone},
	{api: "kms:PutKeyPolicy", category: catExposure, base: 0.8, check: grantsEveryone},
	{api: "secretsmanager:PutResourcePolicy", category: catExposure, base: 0.8, check: grantsEveryone},
	{api: "ecr:SetRepositoryPolicy", category: catExposure, base: 0.7, check: grantsEveryone},

	// Destruction.
	{api: "kms:ScheduleKeyDeletion", category: catDestruction, base: 0.8, floor: SeverityMedium},
	{api: "kms:DisableKey", category: catDestruction, base: 0.6},
	{api: "s3:DeleteBucket", category: catDestruction, base: 0.5},
	{api: "backup:DeleteBackupVault", category: catDestruction, base: 0.6},
	{api: "backup:DeleteRecoveryPoint", category: catDestruction, base: 0.55},
	{api: "rds:DeleteDBCluster", category: catDestruction, base: 0.5},
	{api: "rds:DeleteDBInstance", category: catDestruction, base: 0.45},

	{api: "organizations:LeaveOrganization", category: catOrg, base: 0.95, floor: SeverityHigh},
	{api: "organizations:DetachPolicy", category: catTampering, base: 0.6},
	{api: "organizations:DeletePolicy", category: catTampering, base: 0.6},
	{api: "s3:PutBucketVersioning", category: catDestruction, base: 0.5, check: versioningSuspended},
	{api: "ec2:DisableEbsEncryptionByDefault", category: catExposure, base: 0.6},
	{api: "iam:DeleteAccountPasswordPolicy", category: catPersistence, base: 0.5},
	{api: "rds:ModifyDBInstance", category: catPersistence, base: 0.6, check: masterPasswordReset},
	{api: "rds:ModifyDBCluster", category: catPersistence, base: 0.6, check: masterPasswordReset},
	{api: "ec2:ModifyInstanceAttribute", category: catPersistence, base: 0.55, check: userDataChanged},
	{api: "lambda:CreateFunctionUrlConfig*", category: catExposure, base: 0.7, check: functionURLWithoutAuth},
	{api: "lambda:UpdateFunctionUrlConfig*", category: catExposure, base: 0.7, check: functionURLWithoutAuth},
	{api: "ram:CreateResourceShare", category: catExposure, base: 0.6, check: externalShare},

	// Execution and lateral movement: routine for the roles that deploy,
	// telling for a principal that never did it (weighed by history).
	{api: "lambda:UpdateFunctionCode*", category: catExecution, base: 0.35},
	{api: "lambda:UpdateFunctionConfiguration*", category: catExecution, base: 0.3},
	{api: "ssm:SendCommand", category: catExecution, base: 0.35},
	{api: "ssm:StartSession", category: catExecution, base: 0.3},
	{api: "ec2:ImportKeyPair", category: catExecution, base: 0.3},
	{api: "ec2-instance-connect:SendSSHPublicKey", category: catExecution, base: 0.35},
}

// ruleIndex maps exact API names to rules; rules ending in * are prefixes.
var ruleIndex, rulePrefixes = func() (map[string]*riskRule, []*riskRule) {
	m := map[string]*riskRule{}
	var p []*riskRule
	for i := range riskRules {
		r := &riskRules[i]
		if strings.HasSuffix(r.api, "*") {
			p = append(p, r)
		} else {
			m[r.api] = r
		}
	}
	return m, p
}()

func findRule(api string) *riskRule {
	if r, ok := ruleIndex[api]; ok {
		return r
	}
	for _, r := range rulePrefixes {
		if strings.HasPrefix(api, strings.TrimSuffix(r.api, "*")) {
			return r
		}
	}
	return nil
}

// Check implements Detector.
func (HighRiskAction) Check(c *Context, ev *events.Event) []Signal {
	var (
		category string
		base     float64
		floor    Severity
		what     string
	)
	switch {
	case ev.PrincipalType == "Root" && ev.ConsoleSignIn:
		category, base, floor = catRoot, 0.6, SeverityMedium
		what = "signed in to the console as root with MFA"
		if !ev.MFA {
			base, floor = 0.95, SeverityHigh
			what = "signed in to the console as root WITHOUT MFA"
		}
	case ev.PrincipalType == "Root":
		category, base, floor = catRoot, 0.7, SeverityMedium
		what = "used the root account to call " + ev.API
	case ev.ConsoleSignIn && ev.Record.EventName == "ConsoleLogin" && !ev.MFA && ev.PrincipalType == "IAMUser":
		if ev.ErrorCode != "" || ev.SignInFailed {
			return nil
		}
		category, base, floor = catNoMFA, 0.6, SeverityMedium
		what = "signed in to the console without MFA"
	default:
		r := findRule(ev.API)
		if r == nil {
			return nil
		}
		category, base, floor = r.category, r.base, r.floor
		what = "called " + ev.API
		if r.check != nil {
			ok, detail := r.check(ev, params{raw: ev.Record.RequestParameters})
			if !ok {
				return nil
			}
			if detail != "" {
				what = detail
			}
		}
	}
	b := c.Baseline
	daysBefore := 0
	if v, ok := b.Has(DimAPI, ev.API); ok {
		daysBefore = int(v.Days)
	}
	weight := 1 / (1 + math.Log1p(float64(daysBefore)))
	score := base * weight
	failed := ev.ErrorCode != ""
	if failed {
		score *= 0.4
		floor = SeverityInfo
	}
	if daysBefore > 0 {
		floor = SeverityInfo
	}
	history := "never before"
	if daysBefore > 0 {
		history = fmt.Sprintf("done before on %s", plural(daysBefore, "day", "days"))
	}
	reason := fmt.Sprintf("%s %s (%s: %s in %s of history)", c.Name, what, category, history, plural(b.HistoryDays(), "day", "days"))
	if b.Events == 0 {
		reason = fmt.Sprintf("%s %s (%s: the first event ever seen from this principal)", c.Name, what, category)
	}
	if failed {
		reason += fmt.Sprintf("; the call failed with %s", ev.ErrorCode)
	}
	return []Signal{{
		Detector: IDHighRiskAction,
		Subject:  "action:" + ev.API,
		Group:    IDHighRiskAction + "/" + ev.API,
		Score:    score,
		Floor:    floor,
		Title:    what,
		Reason:   reason,
		Evidence: map[string]any{
			"api":              ev.API,
			"category":         category,
			"base_score":       base,
			"days_done_before": daysBefore,
			"history_weight":   round4(weight),
			"failed":           failed,
			"error_code":       ev.ErrorCode,
		},
	}}
}

// params gives lazy access to requestParameters.
type params struct {
	raw    json.RawMessage
	parsed map[string]any
	done   bool
}

func (p *params) get() map[string]any {
	if !p.done {
		p.done = true
		if len(p.raw) > 0 && p.raw[0] == '{' {
			_ = json.Unmarshal(p.raw, &p.parsed)
		}
	}
	return p.parsed
}

func (p *params) str(key string) string {
	if v, ok := p.get()[key].(string); ok {
		return v
	}
	return ""
}

// text is the raw parameters, for rules that look for a marker anywhere.
func (p *params) text() string { return string(p.raw) }

func eventSelectorsReduced(_ *events.Event, p params) (bool, string) {
	m := p.get()
	for _, sel := range asSlice(m["eventSelectors"]) {
		s, _ := sel.(map[string]any)
		if v, ok := s["includeManagementEvents"].(bool); ok && !v {
			return true, "reduced CloudTrail event selectors: management events no longer logged"
		}
		if rw := asString(s["readWriteType"]); rw == "ReadOnly" || rw == "None" {
			return true, "reduced CloudTrail event selectors: write events no longer logged (readWriteType " + rw + ")"
		}
	}
	return false, ""
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func versioningSuspended(_ *events.Event, p params) (bool, string) {
	cfg, _ := p.get()["VersioningConfiguration"].(map[string]any)
	if strings.EqualFold(asString(cfg["Status"]), "Suspended") {
		return true, "suspended versioning on bucket " + p.str("bucketName")
	}
	return false, ""
}

func masterPasswordReset(_ *events.Event, p params) (bool, string) {
	if _, ok := p.get()["masterUserPassword"]; ok {
		return true, "reset the master password of database " + firstNonEmpty(p.str("dBInstanceIdentifier"), p.str("dBClusterIdentifier"))
	}
	return false, ""
}

func userDataChanged(_ *events.Event, p params) (bool, string) {
	if _, ok := p.get()["userData"]; ok {
		return true, "changed the user data (boot script) of instance " + p.str("instanceId")
	}
	return false, ""
}

func functionURLWithoutAuth(_ *events.Event, p params) (bool, string) {
	if strings.EqualFold(p.str("authType"), "NONE") {
		return true, "exposed function " + p.str("functionName") + " through a URL without authentication"
	}
	return false, ""
}

func externalShare(_ *events.Event, p params) (bool, string) {
	if v, ok := p.get()["allowExternalPrincipals"].(bool); ok && !v {
		return false, ""
	}
	for _, pr := range asStrings(p.get()["principals"]) {
		if pr != "" {
			return true, "shared resources through RAM with " + pr + " (external principals allowed)"
		}
	}
	return false, ""
}

func guardDutyDisabled(_ *events.Event, p params) (bool, string) {
	if v, ok := p.get()["enable"].(bool); ok && !v {
		return true, "disabled the GuardDuty detector"
	}
	return false, ""
}

func guardDutyArchiveFilter(_ *events.Event, p params) (bool, string) {
	if strings.EqualFold(p.str("action"), "ARCHIVE") {
		return true, "created a GuardDuty filter that auto-archives findings"
	}
	return false, ""
}

func accessKeyForAnother(ev *events.Event, p params) (bool, string) {
	target := p.str("userName")
	if target == "" {
		// No userName: the caller's own key; only IAM users have one.
		return ev.PrincipalType != "IAMUser", "created an access key for itself"
	}
	if ev.PrincipalType == "IAMUser" && target == ev.Record.UserIdentity.UserName {
		return false, ""
	}
	return true, "created an access key for IAM user " + target
}

var adminPolicyNames = regexp.MustCompile(`(?i)(AdministratorAccess|IAMFullAccess|PowerUserAccess|:policy/.*admin)`)

func adminManagedPolicy(_ *events.Event, p params) (bool, string) {
	arn := p.str("policyArn")
	if !adminPolicyNames.MatchString(arn) {
		return false, ""
	}
	target := firstNonEmpty(p.str("userName"), p.str("roleName"), p.str("groupName"))
	return true, fmt.Sprintf("attached %s to %s", arn, target)
}

func adminInlinePolicy(_ *events.Event, p params) (bool, string) {
	doc := policyDocument(p.get()["policyDocument"])
	if doc == nil {
		return false, ""
	}
	for _, st := range statements(doc) {
		if !strings.EqualFold(asString(st["Effect"]), "Allow") {
			continue
		}
		actions := asStrings(st["Action"])
		resources := asStrings(st["Resource"])
		for _, a := range actions {
			if a == "*" || a == "*:*" || strings.EqualFold(a, "iam:*") || strings.EqualFold(a, "iam:PassRole") && contains(resources, "*") {
				if contains(resources, "*") || len(resources) == 0 {
					target := firstNonEmpty(p.str("userName"), p.str("roleName"), p.str("groupName"), p.str("policyArn"))
					return true, fmt.Sprintf("granted %q on %q through a policy on %s", a, "*", target)
				}
			}
		}
	}
	return false, ""
}

func trustsOutsideAccount(ev *events.Event, p params) (bool, string) {
	doc := policyDocument(firstNonNil(p.get()["policyDocument"], p.get()["assumeRolePolicyDocument"]))
	if doc == nil {
		return false, ""
	}
	own := ev.Account
	for _, st := range statements(doc) {
		if !strings.EqualFold(asString(st["Effect"]), "Allow") {
			continue
		}
		for _, pr := range principals(st["Principal"]) {
			if pr == "*" {
				return true, "made role " + p.str("roleName") + " assumable by anyone (\"*\")"
			}
			if acct := accountOf(pr); acct != "" && acct != own {
				return true, fmt.Sprintf("made role %s assumable by outside account %s", p.str("roleName"), acct)
			}
		}
	}
	return false, ""
}

func adminGroup(_ *events.Event, p params) (bool, string) {
	g := p.str("groupName")
	if strings.Contains(strings.ToLower(g), "admin") {
		return true, "added " + p.str("userName") + " to group " + g
	}
	return false, ""
}

func grantsEveryone(ev *events.Event, p params) (bool, string) {
	m := p.get()
	if m == nil {
		return false, ""
	}
	// Lambda AddPermission: principal "*" without a source account or ARN.
	if pr, ok := m["principal"].(string); ok {
		if pr == "*" && m["sourceArn"] == nil && m["sourceAccount"] == nil && m["principalOrgID"] == nil {
			return true, "granted invoke on function " + asString(m["functionName"]) + " to everyone (\"*\")"
		}
		return false, ""
	}
	doc := policyDocument(firstNonNil(m["bucketPolicy"], m["policy"], m["resourcePolicy"], m["policyText"]))
	if doc == nil {
		return false, ""
	}
	for _, st := range statements(doc) {
		if !strings.EqualFold(asString(st["Effect"]), "Allow") || st["Condition"] != nil {
			continue
		}
		for _, pr := range principals(st["Principal"]) {
			if pr == "*" {
				target := firstNonEmpty(asString(m["bucketName"]), asString(m["keyId"]), asString(m["secretId"]), asString(m["repositoryName"]))
				return true, fmt.Sprintf("granted %v on %s to everyone (Principal \"*\")", asStrings(st["Action"]), target)
			}
		}
	}
	return false, ""
}

func publicACL(_ *events.Event, p params) (bool, string) {
	t := p.text()
	if strings.Contains(t, "global/AllUsers") || strings.Contains(t, "global/AuthenticatedUsers") ||
		strings.Contains(t, `"public-read`) || strings.Contains(t, `"authenticated-read"`) {
		return true, "made bucket " + p.str("bucketName") + " readable by everyone through its ACL"
	}
	return false, ""
}

var pabFlags = []string{"BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"}

func publicAccessBlockRelaxed(_ *events.Event, p params) (bool, string) {
	var off []string
	for _, f := range pabFlags {
		if hasFalse(p.get(), f) {
			off = append(off, f)
		}
	}
	if len(off) == 0 {
		return false, ""
	}
	target := p.str("bucketName")
	if target == "" {
		target = "the account"
	}
	return true, fmt.Sprintf("turned off public access block settings %s on %s", strings.Join(off, ", "), target)
}

// hasFalse reports whether key is set to false anywhere in v, as S3 and
// S3 Control nest the public access block flags at different depths.
func hasFalse(v any, key string) bool {
	switch x := v.(type) {
	case map[string]any:
		if b, ok := x[key].(bool); ok && !b {
			return true
		}
		for _, e := range x {
			if hasFalse(e, key) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if hasFalse(e, key) {
				return true
			}
		}
	}
	return false
}

var accountID = regexp.MustCompile(`\b\d{12}\b`)

// sharedOut inspects what a snapshot or image attribute change adds: EC2's
// createVolumePermission/launchPermission {add: {items: [{group|userId}]}}
// and RDS's valuesToAdd. Removals never count.
func sharedOut(ev *events.Event, p params) (bool, string) {
	m := p.get()
	target := firstNonEmpty(p.str("snapshotId"), p.str("imageId"), p.str("dBSnapshotIdentifier"), p.str("dBClusterSnapshotIdentifier"))
	var added []string
	for _, attr := range []string{"createVolumePermission", "launchPermission"} {
		perm, _ := m[attr].(map[string]any)
		add, _ := perm["add"].(map[string]any)
		for _, it := range asSlice(add["items"]) {
			item, _ := it.(map[string]any)
			if g := asString(item["group"]); g != "" {
				added = append(added, g)
			}
			if u := asString(item["userId"]); u != "" {
				added = append(added, u)
			}
		}
	}
	if strings.EqualFold(p.str("attributeName"), "restore") {
		added = append(added, asStrings(m["valuesToAdd"])...)
	}
	for _, a := range added {
		if strings.EqualFold(a, "all") {
			return true, "made " + target + " public (shared with all accounts)"
		}
	}
	for _, a := range added {
		if accountID.MatchString(a) && a != ev.Account {
			return true, fmt.Sprintf("shared %s with outside account %s", target, a)
		}
	}
	return false, ""
}

var worldCIDR = regexp.MustCompile(`"(cidrIp|cidrIpv6|CidrIp|CidrIpv6)"\s*:\s*"(0\.0\.0\.0/0|::/0)"`)
var fromPort = regexp.MustCompile(`"fromPort"\s*:\s*(-?\d+)`)

func openToWorld(_ *events.Event, p params) (bool, string) {
	t := p.text()
	m := worldCIDR.FindStringSubmatch(t)
	if m == nil {
		return false, ""
	}
	port := "all ports"
	if f := fromPort.FindStringSubmatch(t); f != nil && f[1] != "-1" {
		port = "port " + f[1]
	}
	return true, fmt.Sprintf("opened security group %s to %s on %s", p.str("groupId"), m[2], port)
}

// policyDocument decodes a policy given as an object or as a JSON string,
// URL-encoded or not, as CloudTrail records them.
func policyDocument(v any) map[string]any {
	switch d := v.(type) {
	case map[string]any:
		return d
	case string:
		s := d
		if strings.HasPrefix(s, "%7B") || strings.HasPrefix(s, "%7b") {
			if u, err := url.QueryUnescape(s); err == nil {
				s = u
			}
		}
		var m map[string]any
		if json.Unmarshal([]byte(s), &m) == nil {
			return m
		}
	}
	return nil
}

func statements(doc map[string]any) []map[string]any {
	var out []map[string]any
	switch s := doc["Statement"].(type) {
	case map[string]any:
		out = append(out, s)
	case []any:
		for _, x := range s {
			if m, ok := x.(map[string]any); ok {
				out = append(out, m)
			}
		}
	}
	return out
}

// principals flattens a policy Principal element.
func principals(v any) []string {
	switch p := v.(type) {
	case string:
		return []string{p}
	case map[string]any:
		var out []string
		for _, x := range p {
			out = append(out, asStrings(x)...)
		}
		return out
	}
	return nil
}

func accountOf(principal string) string {
	if len(principal) == 12 && accountID.MatchString(principal) {
		return principal
	}
	if strings.HasPrefix(principal, "arn:") {
		parts := strings.Split(principal, ":")
		if len(parts) > 4 {
			return parts[4]
		}
	}
	return ""
}

func asString(v any) string {
	s, _ := v.(string)
	return s
}

func asStrings(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func firstNonNil(v ...any) any {
	for _, x := range v {
		if x != nil {
			return x
		}
	}
	return nil
}
