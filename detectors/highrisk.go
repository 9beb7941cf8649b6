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
// The rules are data (Rule, rules/*.yaml embedded, extended and
// overridden by the config's RuleSet): the first rule whose APIs match and
// whose conditions hold judges a call; this file keeps the predicates the
// conditions name (vocabulary in rules.go) and the scoring.
//
// Scoring: each rule has a base score (how dangerous the action is when
// its parameters make it so; its conditions inspect requestParameters where
// the risk depends on them, e.g. a bucket policy granting "*"). The base is
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
	// pinned keeps the full base score and the floor however often the
	// principal did it before (self-protection: no history makes a
	// change to Trailwatch itself expected).
	pinned bool
	// settled, on a verdict that is not risky, ends the search: no later
	// rule judges the call.
	settled bool
	// counterparty is who or what the call reached, for rules that keep
	// their history per counterparty (Rule.History): "everyone",
	// "account 444455556666", "IPv6 internet", "administrator".
	counterparty string
}

// to names the verdict's counterparty.
func (v verdict) to(party string) verdict {
	v.counterparty = party
	return v
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

// Check implements Detector.
func (HighRiskAction) Check(c *Context, ev *events.Event) []Signal {
	r, v, p := judgeRisk(c.Config, ev)
	if r == nil {
		return nil
	}
	category, base, floor, note := r.Category, r.BaseScore, r.Floor, v.note
	what := v.what
	if what == "" {
		what = "called " + ev.API
	}
	if r.Message != "" {
		what = renderMessage(r.Message, ev, p, what)
	}
	if v.lesser {
		base = math.Min(base, lesserBase)
		floor = min(floor, SeverityMedium)
	}
	b := c.Baseline
	risk := historyKey(r, v, p)
	daysBefore, since := 0, "risk"
	if rv, ok := b.Has(DimRisk, risk); ok {
		daysBefore = int(rv.Days)
	} else if av, ok := b.Has(DimAPI, ev.API); ok && b.RiskSince > 0 && av.First < b.RiskSince && !tookRule(b, r.ID) {
		// Migrated from a model that kept only APIs, and no risk of
		// this rule taken since: what it knew of the API stands in
		// for the risk's history, so an upgrade does not make every
		// routine risky action "never before". Once the rule's risks
		// are kept, a new counterparty is new.
		daysBefore, since = int(av.Days), "api"
	}
	weight := 1 / (1 + math.Log1p(float64(daysBefore)))
	if v.pinned {
		weight = 1
	}
	score := base * weight
	failed := ev.ErrorCode != ""
	if failed {
		score *= 0.4
		// A denied attempt at a top-tier action (leaving the
		// organization, stopping the trail) is itself worth on-call's
		// attention: MEDIUM, routed by default. Other failures keep no
		// floor.
		if ev.ErrClass == events.ErrDenied && floor >= SeverityHigh && daysBefore == 0 {
			floor = SeverityMedium
		} else {
			floor = SeverityInfo
		}
	}
	if daysBefore > 0 && !v.pinned {
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
	learn := ""
	if !failed {
		learn = risk
	}
	return []Signal{{
		Detector: IDHighRiskAction,
		Learn:    learn,
		// The risk's counterparty and target are part of the subject: a
		// routine share with the DR account does not absorb, as a repeat,
		// a share with an unknown one.
		Subject: "action:" + ev.API + strings.TrimPrefix(risk, r.ID),
		Group:   IDHighRiskAction + "/" + ev.API,
		Score:   score,
		Floor:   floor,
		Title:   what,
		Reason:  reason,
		Evidence: map[string]any{
			"api":              ev.API,
			"category":         category,
			"base_score":       base,
			"days_done_before": daysBefore,
			"history_weight":   round4(weight),
			"history_subject":  risk,
			"history_of":       since,
			"failed":           failed,
			"error_code":       ev.ErrorCode,
			"rule":             r.ID,
		},
	}}
}

// judgeRisk finds the rule that judges the call under the config's catalog
// (nil config: the built-in one), with its verdict and the parameters it
// read.
func judgeRisk(cfg *Config, ev *events.Event) (*Rule, verdict, *params) {
	rules := DefaultRules()
	if cfg != nil && cfg.Rules != nil {
		rules = cfg.Rules
	}
	p := &params{}
	if ev.Record != nil {
		p.raw = ev.Record.RequestParameters
	}
	if cfg != nil {
		p.protected = cfg.Protected
	}
	r, v := rules.find(ev, p)
	return r, v, p
}

// Learn folds an event into a baseline as the engine does: Observe, then
// the risk it took, if a high-risk rule judges it risky and it succeeded.
// It is for building baselines outside the engine (tests, tools); the
// engine takes the risk from the detector's signal (Signal.Learn) rather
// than judge the call twice. A nil config means the defaults.
func Learn(cfg *Config, b *Baseline, ev *events.Event) {
	if cfg == nil {
		cfg = DefaultConfig()
	}
	b.Observe(ev, cfg.Forget)
	if ev.ErrorCode != "" || cfg.Detector(IDHighRiskAction).Mode == ModeOff {
		return
	}
	if r, v, p := judgeRisk(cfg, ev); r != nil {
		b.see(DimRisk, historyKey(r, v, p), dayOf(ev.Time))
	}
}

// tookRule reports whether the baseline remembers any risk of the rule,
// whatever its counterparty.
func tookRule(b *Baseline, id string) bool {
	for k := range b.Dims[DimRisk].Values {
		if k == id || strings.HasPrefix(k, id+" | ") {
			return true
		}
	}
	return false
}

// historyKey is the subject the principal's history of a rule's risk is
// kept under (Rule.History): the rule, then its counterparty and named
// parameters when the rule says they matter.
func historyKey(r *Rule, v verdict, p *params) string {
	key := r.ID
	for _, h := range r.History {
		if h == "rule" {
			continue
		}
		part := ""
		if path, ok := strings.CutPrefix(h, "param:"); ok {
			for _, x := range p.at(path) {
				if s := scalarString(x); s != "" {
					part = s
					break
				}
			}
		} else {
			part = v.counterparty
		}
		key += " | " + truncateRunes(part, 96)
	}
	return key
}

// params gives lazy access to requestParameters.
type params struct {
	raw json.RawMessage
	// protected is the config's self-protection set (nil: the built-in).
	protected *ProtectedSet
	parsed    map[string]any
	done      bool
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

func eventSelectorsReduced(_ *events.Event, p *params, _ *Condition) verdict {
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

func externalShare(_ *events.Event, p *params, _ *Condition) verdict {
	if v, ok := p.get()["allowExternalPrincipals"].(bool); ok && !v {
		return safe
	}
	for _, pr := range asStrings(p.get()["principals"]) {
		if pr != "" {
			return risky("shared resources through RAM with " + pr + " (external principals allowed)").to(pr)
		}
	}
	return safe
}

func accessKeyForAnother(ev *events.Event, p *params, _ *Condition) verdict {
	target := p.str("userName")
	if target == "" {
		// No userName: the caller's own key; only IAM users have one.
		if ev.PrincipalType == "IAMUser" {
			return safe
		}
		return risky("created an access key for itself").to("itself")
	}
	if ev.PrincipalType == "IAMUser" && target == ev.Record.UserIdentity.UserName {
		return safe
	}
	return risky("created an access key for IAM user " + target).to("user " + target)
}

var adminPolicyNames = regexp.MustCompile(`(?i)(AdministratorAccess|IAMFullAccess|PowerUserAccess|:policy/.*admin)`)

func adminManagedPolicy(_ *events.Event, p *params, _ *Condition) verdict {
	arn := p.str("policyArn")
	if !adminPolicyNames.MatchString(arn) {
		return safe
	}
	target := firstNonEmpty(p.str("userName"), p.str("roleName"), p.str("groupName"))
	return risky(fmt.Sprintf("attached %s to %s", arn, target)).to(arn)
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
func adminInlinePolicy(_ *events.Event, p *params, _ *Condition) verdict {
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
		return risky(fmt.Sprintf("granted %s through a policy on %s (%s)", st.describe(), target, lv)).to(lv.String())
	case PrivilegeBroadData:
		return lesser(fmt.Sprintf("granted %s through a policy on %s (%s)", st.describe(), target, lv)).to(lv.String())
	}
	return safe
}

// trustsOutsideAccount judges a role trust policy: assumable by anyone (a
// public principal no condition confines, see Statement.GrantsPublic) or
// by a principal of another account.
func trustsOutsideAccount(ev *events.Event, p *params, _ *Condition) verdict {
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
			return risky(fmt.Sprintf("made role %s assumable by anyone (%s)", role, publicPhrase(st))).to("everyone")
		}
		if st.PublicPrincipal() {
			continue // confined by its conditions
		}
		for _, pr := range st.Principal.Values("AWS") {
			if acct := accountOf(pr); acct != "" && acct != own {
				return risky(fmt.Sprintf("made role %s assumable by outside account %s", role, acct)).to("account " + acct)
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

// grantsEveryone judges a resource policy (bucket, key, secret,
// repository) or a Lambda permission: public when it grants everyone and
// nothing confines the caller (Statement.GrantsPublic).
func grantsEveryone(_ *events.Event, p *params, _ *Condition) verdict {
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
		return risky("granted invoke on function " + asString(m["functionName"]) + " to everyone (\"*\")").to("everyone")
	}
	pol, target, v, done := resourcePolicy(m)
	if done {
		return v
	}
	st, public := pol.PublicStatement()
	if !public {
		return safe
	}
	return risky(fmt.Sprintf("granted %v on %s to everyone (%s)", []string(st.Action), target, publicPhrase(st))).to("everyone")
}

// resourcePolicy reads the resource policy a call sets (on a bucket, key,
// secret or repository) and names its target. done is true when there is
// nothing to judge further: no policy (v is safe) or one that cannot be read
// (v is the lesser, unreadable verdict).
func resourcePolicy(m map[string]any) (pol *Policy, target string, v verdict, done bool) {
	target = firstNonEmpty(asString(m["bucketName"]), asString(m["keyId"]), asString(m["secretId"]), asString(m["repositoryName"]))
	pol, ok, err := readPolicy(policyParam(m, "bucketPolicy", "policy", "resourcePolicy", "policyText"))
	switch {
	case !ok:
		return nil, target, safe, true
	case err != nil:
		return nil, target, unreadable("set a resource policy Trailwatch could not read on "+target, err), true
	}
	return pol, target, safe, false
}

// publicACL judges an ACL set on a bucket or object, or given at bucket
// creation: public when it grants AllUsers or AuthenticatedUsers by canned
// ACL, grant header or AccessControlPolicy body.
func publicACL(ev *events.Event, p *params, _ *Condition) verdict {
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
		return risky(fmt.Sprintf("%s %s readable by everyone through its ACL", verb, target)).to("everyone")
	}
	who := "every AWS account"
	for _, g := range grants {
		if strings.Contains(g, "AllUsers") || strings.HasPrefix(g, "canned ACL public-") {
			who = "everyone"
		}
	}
	return risky(fmt.Sprintf("%s %s open to %s through its ACL (%s)", verb, target, who, strings.Join(grants, ", "))).to(who)
}

var pabFlags = []string{"BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"}

func publicAccessBlockRelaxed(_ *events.Event, p *params, _ *Condition) verdict {
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
func sharedOut(ev *events.Event, p *params, _ *Condition) verdict {
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
			return risky("made " + r.target() + " public (shared with all accounts)").to("all accounts")
		}
	}
	for _, a := range accounts {
		if a = strings.TrimSpace(a); isAccountID(a) && a != ev.Account {
			return risky(fmt.Sprintf("shared %s with outside account %s", r.target(), a)).to("account " + a)
		}
	}
	return safe
}

// openToWorld judges security group rules: open when their CIDRs admit
// the whole internet (sgRequest.worldRule).
func openToWorld(ev *events.Event, p *params, _ *Condition) verdict {
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
	party := internetFamily(cidrs)
	switch {
	case r.Modify != nil:
		rule := ""
		if len(r.Modify.Rules) > 0 {
			rule = r.Modify.Rules[0].RuleID + " of "
		}
		return risky(fmt.Sprintf("changed rule %ssecurity group %s to %s on %s", rule, r.Modify.GroupID, cidrs, ports)).to(party)
	case ev.Record.EventName == "AuthorizeSecurityGroupEgress":
		return risky(fmt.Sprintf("opened egress from security group %s to %s on %s", r.GroupID, cidrs, ports)).to("egress to " + party)
	}
	return risky(fmt.Sprintf("opened security group %s to %s on %s", r.GroupID, cidrs, ports)).to(party)
}

// internetFamily names the address family a world-open rule admits, the
// counterparty of opening to the world: "IPv4 internet", "IPv6 internet"
// or both.
func internetFamily(cidrs string) string {
	v4, v6 := strings.Contains(cidrs, "."), strings.Contains(cidrs, ":")
	switch {
	case v4 && v6:
		return "IPv4 and IPv6 internet"
	case v6:
		return "IPv6 internet"
	}
	return "IPv4 internet"
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
