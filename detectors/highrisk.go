package detectors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
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
//
// Parameters are judged by meaning (policy.go): a resource policy is public
// when an Allow statement names everyone and no condition confines the
// caller to an organization, account, network or resource; an identity
// policy is administrator-like when it grants "*", NotAction, or an
// escalation action (iam:PassRole, iam:Put*Policy…, matched as IAM globs)
// on every resource, and broad (a lesser form, at most MEDIUM) when it
// grants a whole data service such as s3:* on every resource; an ACL is
// public when it grants the AllUsers or AuthenticatedUsers group, by
// canned ACL, grant header or body; a network rule is open to the world
// when its CIDRs, in any field and family, have prefix length 0 or together
// cover IPv4 or IPv6; a snapshot or image is public when a change adds
// group "all". A policy or rule that is present but cannot be read is
// treated as risky in the lesser form: Trailwatch cannot vouch for it.
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
	// check inspects the event and says whether the call is risky and
	// what it did. Nil means always risky.
	check func(ev *events.Event, p params) verdict
}

// verdict is a rule check's judgement of one call.
type verdict struct {
	risky bool
	// what says what the call did, for the title ("made bucket x public").
	what string
	// lesser marks a weaker form of the rule's risk (broad data access
	// rather than administrator, a policy that could not be read): the
	// base score is capped at lesserBase and the floor at MEDIUM.
	lesser bool
	// note, when set, ends the reason (why a policy could not be read).
	note string
}

// lesserBase caps the base score of a lesser verdict: MEDIUM the first
// time, routed but not ticketed with the default routing.
const lesserBase = 0.6

func risky(what string) verdict  { return verdict{risky: true, what: what} }
func lesser(what string) verdict { return verdict{risky: true, what: what, lesser: true} }

// unreadable is the verdict on parameters that are present but cannot be
// read: the lesser form, with the parse error in the reason.
func unreadable(what string, err error) verdict {
	return verdict{risky: true, what: what, lesser: true, note: "Trailwatch could not read it: " + err.Error()}
}

// safe is the verdict of a call that is not risky.
var safe = verdict{}

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
	{api: "s3:CreateBucket", category: catExposure, base: 0.85, floor: SeverityHigh, check: publicACL},
	{api: "s3:PutObjectAcl", category: catExposure, base: 0.65, check: publicACL},
	{api: "s3:PutBucketPublicAccessBlock", category: catExposure, base: 0.7, check: publicAccessBlockRelaxed},
	{api: "s3:DeleteBucketPublicAccessBlock", category: catExposure, base: 0.7},
	{api: "s3control:PutPublicAccessBlock", category: catExposure, base: 0.75, check: publicAccessBlockRelaxed},
	{api: "s3control:DeletePublicAccessBlock", category: catExposure, base: 0.75},
	{api: "ec2:ModifySnapshotAttribute", category: catExposure, base: 0.9, floor: SeverityHigh, check: sharedOut},
	{api: "ec2:ModifyImageAttribute", category: catExposure, base: 0.85, floor: SeverityHigh, check: sharedOut},
	{api: "rds:ModifyDBSnapshotAttribute", category: catExposure, base: 0.9, floor: SeverityHigh, check: sharedOut},
	{api: "rds:ModifyDBClusterSnapshotAttribute", category: catExposure, base: 0.9, floor: SeverityHigh, check: sharedOut},
	{api: "ec2:AuthorizeSecurityGroupIngress", category: catExposure, base: 0.7, check: openToWorld},
	// A rule changed by ID may be ingress or egress: judged as ingress.
	{api: "ec2:ModifySecurityGroupRules", category: catExposure, base: 0.7, check: openToWorld},
	// Egress to the world is common (the default rule); new egress to it
	// is a weak exfiltration signal, LOW on its own.
	{api: "ec2:AuthorizeSecurityGroupEgress", category: catExposure, base: 0.3, check: openToWorld},
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
		note     string
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
			v := r.check(ev, params{raw: ev.Record.RequestParameters})
			if !v.risky {
				return nil
			}
			if v.what != "" {
				what = v.what
			}
			note = v.note
			if v.lesser {
				base = math.Min(base, lesserBase)
				floor = min(floor, SeverityMedium)
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
	if note != "" {
		reason += "; " + note
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

func eventSelectorsReduced(_ *events.Event, p params) verdict {
	m := p.get()
	for _, sel := range asSlice(m["eventSelectors"]) {
		s, _ := sel.(map[string]any)
		if v, ok := s["includeManagementEvents"].(bool); ok && !v {
			return risky("reduced CloudTrail event selectors: management events no longer logged")
		}
		if rw := asString(s["readWriteType"]); rw == "ReadOnly" || rw == "None" {
			return risky("reduced CloudTrail event selectors: write events no longer logged (readWriteType " + rw + ")")
		}
	}
	return safe
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func versioningSuspended(_ *events.Event, p params) verdict {
	cfg, _ := p.get()["VersioningConfiguration"].(map[string]any)
	if strings.EqualFold(asString(cfg["Status"]), "Suspended") {
		return risky("suspended versioning on bucket " + p.str("bucketName"))
	}
	return safe
}

func masterPasswordReset(_ *events.Event, p params) verdict {
	if _, ok := p.get()["masterUserPassword"]; ok {
		return risky("reset the master password of database " + firstNonEmpty(p.str("dBInstanceIdentifier"), p.str("dBClusterIdentifier")))
	}
	return safe
}

func userDataChanged(_ *events.Event, p params) verdict {
	if _, ok := p.get()["userData"]; ok {
		return risky("changed the user data (boot script) of instance " + p.str("instanceId"))
	}
	return safe
}

func functionURLWithoutAuth(_ *events.Event, p params) verdict {
	if strings.EqualFold(p.str("authType"), "NONE") {
		return risky("exposed function " + p.str("functionName") + " through a URL without authentication")
	}
	return safe
}

func externalShare(_ *events.Event, p params) verdict {
	if v, ok := p.get()["allowExternalPrincipals"].(bool); ok && !v {
		return safe
	}
	for _, pr := range asStrings(p.get()["principals"]) {
		if pr != "" {
			return risky("shared resources through RAM with " + pr + " (external principals allowed)")
		}
	}
	return safe
}

func guardDutyDisabled(_ *events.Event, p params) verdict {
	if v, ok := p.get()["enable"].(bool); ok && !v {
		return risky("disabled the GuardDuty detector")
	}
	return safe
}

func guardDutyArchiveFilter(_ *events.Event, p params) verdict {
	if strings.EqualFold(p.str("action"), "ARCHIVE") {
		return risky("created a GuardDuty filter that auto-archives findings")
	}
	return safe
}

func accessKeyForAnother(ev *events.Event, p params) verdict {
	target := p.str("userName")
	if target == "" {
		// No userName: the caller's own key; only IAM users have one.
		if ev.PrincipalType == "IAMUser" {
			return safe
		}
		return risky("created an access key for itself")
	}
	if ev.PrincipalType == "IAMUser" && target == ev.Record.UserIdentity.UserName {
		return safe
	}
	return risky("created an access key for IAM user " + target)
}

var adminPolicyNames = regexp.MustCompile(`(?i)(AdministratorAccess|IAMFullAccess|PowerUserAccess|:policy/.*admin)`)

func adminManagedPolicy(_ *events.Event, p params) verdict {
	arn := p.str("policyArn")
	if !adminPolicyNames.MatchString(arn) {
		return safe
	}
	target := firstNonEmpty(p.str("userName"), p.str("roleName"), p.str("groupName"))
	return risky(fmt.Sprintf("attached %s to %s", arn, target))
}

// policyParam returns the first of the named parameters that holds a
// value (CloudTrail sometimes records an empty "policy" beside the
// "bucketPolicy" that carries the document).
func policyParam(m map[string]any, keys ...string) any {
	for _, k := range keys {
		v, ok := m[k]
		if !ok || v == nil {
			continue
		}
		if s, isString := v.(string); isString && strings.TrimSpace(s) == "" {
			continue
		}
		return v
	}
	return nil
}

// readPolicy parses a policy parameter. ok is false when there is none;
// err is set when there is one that cannot be read.
func readPolicy(v any) (pol *Policy, ok bool, err error) {
	pol, err = ParsePolicy(v)
	if errors.Is(err, ErrNoPolicy) {
		return nil, false, nil
	}
	return pol, true, err
}

// adminInlinePolicy judges an identity policy written to a user, role,
// group or managed policy version by Policy.Privilege: administrator and
// escalation grants are the rule's full risk, broad data access its lesser
// form.
func adminInlinePolicy(_ *events.Event, p params) verdict {
	target := firstNonEmpty(p.str("userName"), p.str("roleName"), p.str("groupName"), p.str("policyArn"))
	pol, ok, err := readPolicy(p.get()["policyDocument"])
	switch {
	case !ok:
		return safe
	case err != nil:
		return unreadable("wrote a policy Trailwatch could not read to "+target, err)
	}
	lv, st := pol.Privilege()
	switch lv {
	case PrivilegeAdmin, PrivilegeEscalation:
		return risky(fmt.Sprintf("granted %s through a policy on %s (%s)", st.describe(), target, lv))
	case PrivilegeBroadData:
		return lesser(fmt.Sprintf("granted %s through a policy on %s (%s)", st.describe(), target, lv))
	}
	return safe
}

// trustsOutsideAccount judges a role trust policy: assumable by anyone (a
// public principal no condition confines, see Statement.GrantsPublic) or
// by a principal of another account.
func trustsOutsideAccount(ev *events.Event, p params) verdict {
	role := p.str("roleName")
	pol, ok, err := readPolicy(policyParam(p.get(), "policyDocument", "assumeRolePolicyDocument"))
	switch {
	case !ok:
		return safe
	case err != nil:
		return unreadable("set a trust policy Trailwatch could not read on role "+role, err)
	}
	own := ev.Account
	for i := range pol.Statement {
		st := &pol.Statement[i]
		if !st.Allows() {
			continue
		}
		if st.GrantsPublic() {
			return risky(fmt.Sprintf("made role %s assumable by anyone (%s)", role, publicPhrase(st)))
		}
		if st.PublicPrincipal() {
			continue // confined by its conditions
		}
		for _, pr := range st.Principal.Values("AWS") {
			if acct := accountOf(pr); acct != "" && acct != own {
				return risky(fmt.Sprintf("made role %s assumable by outside account %s", role, acct))
			}
		}
	}
	return safe
}

// publicPhrase says how a statement names everyone and why its conditions
// do not help, for reasons.
func publicPhrase(st *Statement) string {
	who := `Principal "*"`
	if !st.Principal.Everyone() {
		who = fmt.Sprintf("NotPrincipal: everyone but %v", st.NotPrincipal.Values("AWS"))
	}
	if keys := st.Condition.Keys(); len(keys) > 0 {
		who += fmt.Sprintf("; its conditions on %s do not confine the caller", strings.Join(keys, ", "))
	}
	return who
}

func adminGroup(_ *events.Event, p params) verdict {
	g := p.str("groupName")
	if strings.Contains(strings.ToLower(g), "admin") {
		return risky("added " + p.str("userName") + " to group " + g)
	}
	return safe
}

// grantsEveryone judges a resource policy (bucket, key, secret,
// repository) or a Lambda permission: public when it grants everyone and
// nothing confines the caller (Statement.GrantsPublic).
func grantsEveryone(_ *events.Event, p params) verdict {
	m := p.get()
	if m == nil {
		return safe
	}
	// Lambda AddPermission: principal "*" unless a source account,
	// organization or a source ARN pinned to an account confines it.
	if pr, ok := m["principal"].(string); ok {
		if strings.TrimSpace(pr) != "*" {
			return safe
		}
		if src := strings.TrimSpace(asString(m["sourceArn"])); src != "" && arnPinned(src) {
			return safe
		}
		if strings.TrimSpace(asString(m["sourceAccount"])) != "" || strings.TrimSpace(asString(m["principalOrgID"])) != "" {
			return safe
		}
		return risky("granted invoke on function " + asString(m["functionName"]) + " to everyone (\"*\")")
	}
	target := firstNonEmpty(asString(m["bucketName"]), asString(m["keyId"]), asString(m["secretId"]), asString(m["repositoryName"]))
	pol, ok, err := readPolicy(policyParam(m, "bucketPolicy", "policy", "resourcePolicy", "policyText"))
	switch {
	case !ok:
		return safe
	case err != nil:
		return unreadable("set a resource policy Trailwatch could not read on "+target, err)
	}
	st, public := pol.PublicStatement()
	if !public {
		return safe
	}
	return risky(fmt.Sprintf("granted %v on %s to everyone (%s)", []string(st.Action), target, publicPhrase(st)))
}

// publicACL judges an ACL set on a bucket or object, or given at bucket
// creation: public when it grants AllUsers or AuthenticatedUsers by canned
// ACL, grant header or AccessControlPolicy body.
func publicACL(ev *events.Event, p params) verdict {
	if len(bytes.TrimSpace(p.raw)) == 0 || string(p.raw) == "null" {
		return safe
	}
	var r aclRequest
	target := "bucket " + p.str("bucketName")
	if err := json.Unmarshal(p.raw, &r); err != nil {
		return unreadable("set an ACL Trailwatch could not read on "+target, err)
	}
	if r.Key != "" {
		target = "object " + r.BucketName + "/" + r.Key
	}
	grants := r.publicGrants()
	if len(grants) == 0 {
		return safe
	}
	verb := "made"
	if ev.Record.EventName == "CreateBucket" {
		verb = "created"
	}
	if len(grants) == 1 && (grants[0] == "canned ACL public-read" || grants[0] == "READ to AllUsers") {
		return risky(fmt.Sprintf("%s %s readable by everyone through its ACL", verb, target))
	}
	who := "every AWS account"
	for _, g := range grants {
		if strings.Contains(g, "AllUsers") || strings.HasPrefix(g, "canned ACL public-") {
			who = "everyone"
		}
	}
	return risky(fmt.Sprintf("%s %s open to %s through its ACL (%s)", verb, target, who, strings.Join(grants, ", ")))
}

var pabFlags = []string{"BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"}

func publicAccessBlockRelaxed(_ *events.Event, p params) verdict {
	var off []string
	for _, f := range pabFlags {
		if hasFalse(p.get(), f) {
			off = append(off, f)
		}
	}
	if len(off) == 0 {
		return safe
	}
	target := p.str("bucketName")
	if target == "" {
		target = "the account"
	}
	return risky(fmt.Sprintf("turned off public access block settings %s on %s", strings.Join(off, ", "), target))
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

// sharedOut judges what a snapshot or image attribute change adds: EC2's
// createVolumePermission/launchPermission {add: {items: [{group|userId}]}}
// and RDS's valuesToAdd. Group "all" is public; a 12-digit account other
// than the caller's is outside. Removals never count.
func sharedOut(ev *events.Event, p params) verdict {
	if len(bytes.TrimSpace(p.raw)) == 0 || string(p.raw) == "null" {
		return safe
	}
	var r sharingRequest
	if err := json.Unmarshal(p.raw, &r); err != nil {
		return unreadable("changed who may use "+firstNonEmpty(p.str("snapshotId"), p.str("imageId"), p.str("dBSnapshotIdentifier"), p.str("dBClusterSnapshotIdentifier"), "a snapshot or image")+" in a way Trailwatch could not read", err)
	}
	groups, accounts := r.added()
	for _, g := range groups {
		if strings.EqualFold(strings.TrimSpace(g), "all") {
			return risky("made " + r.target() + " public (shared with all accounts)")
		}
	}
	for _, a := range accounts {
		if a = strings.TrimSpace(a); isAccountID(a) && a != ev.Account {
			return risky(fmt.Sprintf("shared %s with outside account %s", r.target(), a))
		}
	}
	return safe
}

// openToWorld judges security group rules: open when their CIDRs admit
// the whole internet (sgRequest.worldRule).
func openToWorld(ev *events.Event, p params) verdict {
	if len(bytes.TrimSpace(p.raw)) == 0 || string(p.raw) == "null" {
		return safe
	}
	var r sgRequest
	if err := json.Unmarshal(p.raw, &r); err != nil {
		return unreadable("changed security group rules Trailwatch could not read on "+firstNonEmpty(p.str("groupId"), "a security group"), err)
	}
	cidrs, ports, ok := r.worldRule()
	if !ok {
		return safe
	}
	switch {
	case r.Modify != nil:
		rule := ""
		if len(r.Modify.Rules) > 0 {
			rule = r.Modify.Rules[0].RuleID + " of "
		}
		return risky(fmt.Sprintf("changed rule %ssecurity group %s to %s on %s", rule, r.Modify.GroupID, cidrs, ports))
	case ev.Record.EventName == "AuthorizeSecurityGroupEgress":
		return risky(fmt.Sprintf("opened egress from security group %s to %s on %s", r.GroupID, cidrs, ports))
	}
	return risky(fmt.Sprintf("opened security group %s to %s on %s", r.GroupID, cidrs, ports))
}

func accountOf(principal string) string {
	if isAccountID(principal) {
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
