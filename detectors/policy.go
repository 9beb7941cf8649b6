package detectors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// This file is the vocabulary the high-risk rules judge parameters with:
// IAM and resource policies, S3 access control lists and network rules,
// each decoded into typed values and evaluated by what they mean, never by
// searching the raw JSON.

// ErrNoPolicy is returned by ParsePolicy when there is no policy to read
// (no value, null or an empty string).
var ErrNoPolicy = errors.New("no policy")

// Policy is an IAM identity or resource policy (bucket, key, secret,
// repository policies and role trust policies share the grammar).
//
// Element names are matched case-insensitively, so a policy AWS accepts is
// never misread because of its spelling.
type Policy struct {
	Version   string     `json:"Version"`
	Statement Statements `json:"Statement"`
}

// Statements is a policy's Statement element: one statement or a list.
type Statements []Statement

// UnmarshalJSON accepts one statement object or a list of them.
func (s *Statements) UnmarshalJSON(b []byte) error {
	return decodeOneOrMany(b, (*[]Statement)(s))
}

// Statement is one statement of a policy. A list element that is absent is
// nil; one that is present, even empty, is non-nil.
type Statement struct {
	Sid          json.RawMessage `json:"Sid,omitempty"`
	Effect       string          `json:"Effect"`
	Principal    *Principal      `json:"Principal,omitempty"`
	NotPrincipal *Principal      `json:"NotPrincipal,omitempty"`
	Action       StringList      `json:"Action,omitempty"`
	NotAction    StringList      `json:"NotAction,omitempty"`
	Resource     StringList      `json:"Resource,omitempty"`
	NotResource  StringList      `json:"NotResource,omitempty"`
	Condition    Conditions      `json:"Condition,omitempty"`
}

// StringList is a policy value written either as one string or as a list.
// Numbers and booleans (condition values such as "true" or 3600 are
// written both ways) read as their JSON text.
type StringList []string

// UnmarshalJSON accepts a string, a number, a boolean or a list of those.
func (l *StringList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	out := StringList{}
	if len(b) > 0 && b[0] == '[' {
		var raw []json.RawMessage
		if err := json.Unmarshal(b, &raw); err != nil {
			return err
		}
		for _, r := range raw {
			s, err := scalarText(r)
			if err != nil {
				return err
			}
			out = append(out, s)
		}
		*l = out
		return nil
	}
	if string(b) != "null" {
		s, err := scalarText(b)
		if err != nil {
			return err
		}
		out = append(out, s)
	}
	*l = out
	return nil
}

func scalarText(b json.RawMessage) (string, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "", errors.New("empty value")
	}
	switch b[0] {
	case '"':
		var s string
		err := json.Unmarshal(b, &s)
		return s, err
	case '{', '[':
		return "", fmt.Errorf("want a string, got %.20s", b)
	}
	return string(b), nil // number, true, false, null
}

// Principal is a statement's Principal or NotPrincipal: "*" or a map of
// principal types (AWS, Service, Federated, CanonicalUser) to one value or
// a list.
type Principal struct {
	// Any is the bare string form "*".
	Any bool
	// ByType holds the map form, keyed by the type as written.
	ByType map[string]StringList
}

// UnmarshalJSON accepts "*" (or any string, kept as an AWS value) or a map.
func (p *Principal) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if strings.TrimSpace(s) == "*" {
			p.Any = true
			return nil
		}
		p.ByType = map[string]StringList{"AWS": {s}}
		return nil
	}
	if string(b) == "null" {
		return nil
	}
	return json.Unmarshal(b, &p.ByType)
}

// Everyone reports whether the principal is everyone: "*", or a "*" in any
// of its values ({"AWS": "*"}, {"AWS": ["*"]}). AWS rejects other
// wildcards in principals; one that got through is read as everyone too.
func (p *Principal) Everyone() bool {
	if p == nil {
		return false
	}
	if p.Any {
		return true
	}
	for _, vs := range p.ByType {
		for _, v := range vs {
			if strings.Contains(v, "*") {
				return true
			}
		}
	}
	return false
}

// Values returns every principal value of type typ (case-insensitive),
// e.g. the account and ARN values of "AWS".
func (p *Principal) Values(typ string) []string {
	if p == nil {
		return nil
	}
	var out []string
	for k, vs := range p.ByType {
		if strings.EqualFold(k, typ) {
			out = append(out, vs...)
		}
	}
	sort.Strings(out)
	return out
}

// Conditions is a statement's Condition element: operator -> key -> values.
type Conditions map[string]map[string]StringList

// ParsePolicy decodes a policy as CloudTrail records it: a JSON object
// (already decoded into a map, or raw bytes) or a JSON string, URL-encoded
// or not. It returns ErrNoPolicy when there is nothing to read, and an
// error when the value is not a policy; callers decide what an unreadable
// policy means (the high-risk rules treat it as risky).
func ParsePolicy(v any) (*Policy, error) {
	var raw []byte
	switch d := v.(type) {
	case nil:
		return nil, ErrNoPolicy
	case *Policy:
		return d, nil
	case map[string]any:
		b, err := json.Marshal(d)
		if err != nil {
			return nil, fmt.Errorf("parse policy: %w", err)
		}
		raw = b
	case json.RawMessage:
		raw = d
	case []byte:
		raw = d
	case string:
		raw = []byte(d)
	default:
		return nil, fmt.Errorf("parse policy: unexpected %T", v)
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" || string(raw) == `""` {
		return nil, ErrNoPolicy
	}
	if raw[0] == '"' {
		// A policy carried as a JSON string inside JSON.
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("parse policy: %w", err)
		}
		return ParsePolicy(s)
	}
	if raw[0] != '{' && bytes.IndexByte(raw, '%') >= 0 {
		u, err := url.QueryUnescape(string(raw))
		if err != nil {
			return nil, fmt.Errorf("parse policy: url-decode: %w", err)
		}
		raw = bytes.TrimSpace([]byte(u))
	}
	if len(raw) == 0 || raw[0] != '{' {
		return nil, errors.New("parse policy: not a JSON object")
	}
	var p Policy
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("parse policy: %w", err)
	}
	return &p, nil
}

// Allows reports whether the statement's Effect is Allow.
func (s *Statement) Allows() bool { return strings.EqualFold(strings.TrimSpace(s.Effect), "Allow") }

// PublicPrincipal reports whether the statement names everyone, ignoring
// its conditions: Principal "*" (in any of its forms), or a NotPrincipal
// (everyone but the principals listed) that does not itself list everyone.
func (s *Statement) PublicPrincipal() bool {
	if s.Principal.Everyone() {
		return true
	}
	return s.NotPrincipal != nil && !s.NotPrincipal.Everyone()
}

// GrantsPublic reports whether the statement allows everyone: an Allow
// with a public principal and no condition that restricts who the caller
// can be (see Conditions.Restriction).
func (s *Statement) GrantsPublic() bool {
	if !s.Allows() || !s.PublicPrincipal() {
		return false
	}
	_, restricted := s.Condition.Restriction()
	return !restricted
}

// PublicStatement returns the first statement that grants everyone.
func (p *Policy) PublicStatement() (*Statement, bool) {
	if p == nil {
		return nil, false
	}
	for i := range p.Statement {
		if p.Statement[i].GrantsPublic() {
			return &p.Statement[i], true
		}
	}
	return nil, false
}

// Condition keys that name who or where the caller is. A clause on one of
// them, under an operator that must match, confines a public principal to
// an organization, an account, a network or a resource.
var (
	// idKeys hold identifiers: organization, account, VPC, endpoint.
	idKeys = map[string]bool{
		"aws:principalorgid": true, "aws:principalaccount": true, "aws:sourceaccount": true,
		"aws:sourceowner": true, "aws:sourcevpc": true, "aws:sourcevpce": true,
		"aws:sourceorgid": true, "kms:calleraccount": true,
	}
	// orgPathKeys hold organization paths "o-id/r-root/ou-…/".
	orgPathKeys = map[string]bool{"aws:principalorgpaths": true, "aws:sourceorgpaths": true}
	// arnKeys hold ARNs.
	arnKeys = map[string]bool{"aws:principalarn": true, "aws:sourcearn": true, "aws:sourcevpcarn": true}
	// ipKeys hold the caller's address.
	ipKeys = map[string]bool{"aws:sourceip": true}
)

// conditionOperator is a condition operator split into its parts:
// "ForAnyValue:StringLikeIfExists" is set "foranyvalue", base
// "stringlike", ifExists true.
type conditionOperator struct {
	set      string
	base     string
	ifExists bool
}

func parseOperator(op string) conditionOperator {
	o := conditionOperator{base: strings.ToLower(strings.TrimSpace(op))}
	if set, rest, ok := strings.Cut(o.base, ":"); ok {
		o.set, o.base = set, rest
	}
	if strings.HasSuffix(o.base, "ifexists") {
		o.ifExists, o.base = true, strings.TrimSuffix(o.base, "ifexists")
	}
	return o
}

// restricts reports whether the operator can confine a caller: it must
// match (StringEquals, StringEqualsIgnoreCase, StringLike, ArnEquals,
// ArnLike, IpAddress; ForAnyValue: keeps that). It cannot when it passes a
// caller that lacks the key: …IfExists, ForAllValues: (vacuously true for
// a missing key), Null; nor when it is negated (StringNotEquals,
// NotIpAddress…) or unrelated (Bool, Date…, Numeric…).
func (o conditionOperator) restricts() bool {
	if o.ifExists || (o.set != "" && o.set != "foranyvalue") {
		return false
	}
	switch o.base {
	case "stringequals", "stringequalsignorecase", "stringlike", "arnequals", "arnlike", "ipaddress":
		return true
	}
	return false
}

// literal reports whether values compare literally (no wildcards).
func (o conditionOperator) literal() bool {
	return o.base == "stringequals" || o.base == "stringequalsignorecase"
}

// Restriction reports whether the conditions confine who may call, and
// names the clause that does. Clauses are ANDed, so one restricting clause
// is enough; values within a clause are ORed, so every value must
// restrict. A clause restricts when its operator restricts (see
// conditionOperator.restricts) and its key names the caller:
//
//   - organization, account, VPC and endpoint IDs (aws:PrincipalOrgID,
//     aws:PrincipalAccount, aws:SourceAccount, aws:SourceOwner,
//     aws:SourceVpc, aws:SourceVpce, aws:SourceOrgID, kms:CallerAccount):
//     any value under StringEquals; under StringLike/ArnLike only a value
//     without wildcards ("o-*" or "?*" matches anyone's);
//   - organization paths (aws:PrincipalOrgPaths, aws:SourceOrgPaths): the
//     organization ID before the first "/" must be free of wildcards;
//   - ARNs (aws:PrincipalArn, aws:SourceArn, aws:SourceVpcArn): the
//     account field must be free of wildcards (or, for ARNs without an
//     account such as S3 buckets, the whole resource);
//   - aws:SourceIp under IpAddress: every value a valid address or CIDR,
//     none /0 and together not covering all of IPv4 or all of IPv6.
//
// A value that is empty or holds a policy variable ("${aws:…}", which
// takes the caller's own value) restricts nothing. Every other key
// (aws:UserAgent, aws:SecureTransport, aws:CurrentTime, kms:ViaService,
// lambda:FunctionUrlAuthType…) says nothing about who the caller is.
func (c Conditions) Restriction() (string, bool) {
	ops := make([]string, 0, len(c))
	for op := range c {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	for _, op := range ops {
		o := parseOperator(op)
		if !o.restricts() {
			continue
		}
		keys := make([]string, 0, len(c[op]))
		for k := range c[op] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if clauseRestricts(o, strings.ToLower(strings.TrimSpace(k)), c[op][k]) {
				return op + " " + k, true
			}
		}
	}
	return "", false
}

// Keys lists the condition keys, sorted, for explanations.
func (c Conditions) Keys() []string {
	seen := map[string]bool{}
	var out []string
	for _, kv := range c {
		for k := range kv {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}

func clauseRestricts(o conditionOperator, key string, values StringList) bool {
	if len(values) == 0 {
		return false
	}
	if ipKeys[key] {
		if o.base != "ipaddress" {
			return false
		}
		var ps []netip.Prefix
		for _, v := range values {
			p, ok := parseCIDR(v)
			if !ok {
				return false
			}
			ps = append(ps, p)
		}
		_, world := coversWorld(ps)
		return !world
	}
	if o.base == "ipaddress" {
		return false
	}
	for _, v := range values {
		v = strings.TrimSpace(v)
		if v == "" || strings.Contains(v, "${") {
			return false
		}
		var ok bool
		switch {
		case idKeys[key]:
			ok = o.literal() || !hasWildcard(v)
		case orgPathKeys[key]:
			org, _, _ := strings.Cut(v, "/")
			ok = org != "" && (o.literal() || !hasWildcard(org))
		case arnKeys[key]:
			ok = o.literal() || arnPinned(v)
		}
		if !ok {
			return false
		}
	}
	return true
}

// arnPinned reports whether an ARN pattern is confined to one account (or,
// for ARNs without an account, to one resource).
func arnPinned(v string) bool {
	parts := strings.SplitN(v, ":", 6)
	if len(parts) != 6 || !strings.EqualFold(parts[0], "arn") {
		return false
	}
	if acct := parts[4]; acct != "" {
		return !hasWildcard(acct)
	}
	return parts[5] != "" && !hasWildcard(parts[5])
}

func hasWildcard(s string) bool { return strings.ContainsAny(s, "*?") }

// wildcardOnly reports whether a pattern is made of wildcards (and
// separators) only, so it matches every value: "*", "*:*", "*/*", "?*".
func wildcardOnly(s string) bool {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "*") {
		return false
	}
	return strings.Trim(s, "*?/:") == ""
}

// MatchAction reports whether an IAM action pattern matches an action, as
// IAM does: case-insensitively, "*" for any run of characters (including
// none), "?" for exactly one.
func MatchAction(pattern, action string) bool {
	return globMatch(strings.ToLower(strings.TrimSpace(pattern)), strings.ToLower(action))
}

// globMatch matches s against a pattern of "*" and "?" in linear space and
// at most len(pattern)*len(s) steps.
func globMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// EscalationActions are actions that let whoever holds them on every
// resource make themselves (or another principal they control) an
// administrator: write or attach policies, mint credentials for others,
// pass or assume roles, replace the code that runs under a role.
var EscalationActions = []string{
	"iam:PassRole", "iam:CreateAccessKey", "iam:CreateLoginProfile", "iam:UpdateLoginProfile",
	"iam:AttachUserPolicy", "iam:AttachRolePolicy", "iam:AttachGroupPolicy",
	"iam:PutUserPolicy", "iam:PutRolePolicy", "iam:PutGroupPolicy",
	"iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion", "iam:AddUserToGroup",
	"iam:UpdateAssumeRolePolicy", "sts:AssumeRole", "lambda:UpdateFunctionCode",
	"lambda:UpdateFunctionConfiguration", "glue:UpdateDevEndpoint", "ssm:SendCommand",
}

// dataServices are services whose full-service wildcard on every resource
// is broad access to stored data or secrets.
var dataServices = []string{
	"s3", "dynamodb", "secretsmanager", "ssm", "kms", "rds", "rds-data",
	"redshift-data", "glacier", "backup", "ebs",
}

// Privilege is how much an identity policy grants.
type Privilege int

// Privilege levels, weakest first.
const (
	// PrivilegeNone grants nothing this package calls dangerous.
	PrivilegeNone Privilege = iota
	// PrivilegeBroadData grants a whole data service (s3:*, dynamodb:*,
	// secretsmanager:*…) on every resource, or everything but the
	// escalation actions (an Allow with NotAction that excludes them).
	PrivilegeBroadData
	// PrivilegeEscalation grants at least one escalation action on every
	// resource (iam:Put*, iam:*Policy*, sts:AssumeRole…).
	PrivilegeEscalation
	// PrivilegeAdmin grants every action ("*"), or everything but a list
	// that spares all the escalation actions (Allow with NotAction).
	PrivilegeAdmin
)

// String names the level.
func (p Privilege) String() string {
	switch p {
	case PrivilegeBroadData:
		return "broad data access"
	case PrivilegeEscalation:
		return "privilege escalation"
	case PrivilegeAdmin:
		return "administrator"
	}
	return "none"
}

// Privilege returns the strongest grant of the policy and the statement
// that makes it. Only Allow statements count; conditions are ignored (an
// administrator behind MFA is still an administrator) and Deny statements
// are not subtracted, so the judgement errs towards flagging. A grant
// counts only on every resource: Resource "*" or a pattern whose resource
// part is wildcards after its type ("arn:aws:iam::111122223333:role/*"),
// NotResource (everything but a list), or no resource element at all.
func (p *Policy) Privilege() (Privilege, *Statement) {
	best, at := PrivilegeNone, (*Statement)(nil)
	if p == nil {
		return best, nil
	}
	for i := range p.Statement {
		if lv := p.Statement[i].Privilege(); lv > best {
			best, at = lv, &p.Statement[i]
		}
	}
	return best, at
}

// Privilege is the grant of one statement (see Policy.Privilege).
func (s *Statement) Privilege() Privilege {
	if !s.Allows() || !s.everyResource() {
		return PrivilegeNone
	}
	for _, a := range s.Action {
		if wildcardOnly(a) {
			return PrivilegeAdmin
		}
	}
	escalations := 0
	for _, a := range EscalationActions {
		if s.grants(a) {
			escalations++
		}
	}
	switch {
	case s.NotAction != nil && escalations == len(EscalationActions):
		return PrivilegeAdmin
	case escalations > 0:
		return PrivilegeEscalation
	case s.NotAction != nil:
		return PrivilegeBroadData
	}
	for _, a := range s.Action {
		svc, act, ok := strings.Cut(strings.TrimSpace(a), ":")
		if !ok || !wildcardOnly(act) {
			continue
		}
		for _, d := range dataServices {
			if globMatch(strings.ToLower(svc), d) {
				return PrivilegeBroadData
			}
		}
	}
	return PrivilegeNone
}

// grants reports whether the statement's action elements cover action:
// Action matches it, or NotAction is present and does not.
func (s *Statement) grants(action string) bool {
	for _, a := range s.Action {
		if MatchAction(a, action) {
			return true
		}
	}
	if s.NotAction == nil {
		return false
	}
	for _, a := range s.NotAction {
		if MatchAction(a, action) {
			return false
		}
	}
	return true
}

func (s *Statement) everyResource() bool {
	if s.NotResource != nil {
		for _, r := range s.NotResource {
			if wildcardOnly(r) {
				return false // everything but everything
			}
		}
		return true
	}
	if s.Resource == nil {
		return true
	}
	for _, r := range s.Resource {
		if resourceIsEverything(r) {
			return true
		}
	}
	return false
}

// resourceIsEverything reports whether a resource pattern covers every
// resource of its kind: "*", "arn:aws:s3:::*", "arn:aws:iam::*:role/*".
func resourceIsEverything(r string) bool {
	r = strings.TrimSpace(r)
	if wildcardOnly(r) {
		return true
	}
	parts := strings.SplitN(r, ":", 6)
	if !strings.EqualFold(parts[0], "arn") {
		return false
	}
	if len(parts) < 6 {
		return wildcardOnly(parts[len(parts)-1])
	}
	res := parts[5]
	// Strip a resource type such as "role/", "function:", "table/"; an S3
	// resource has none: "bucket/*" is one bucket's objects.
	if i := strings.IndexAny(res, "/:"); i > 0 && !hasWildcard(res[:i]) && !strings.EqualFold(parts[2], "s3") {
		res = res[i+1:]
	}
	return wildcardOnly(res)
}

// describe says what a statement grants, for reasons: the action and
// resource elements as written.
func (s *Statement) describe() string {
	acts := fmt.Sprintf("%q", []string(s.Action))
	if s.NotAction != nil {
		acts = fmt.Sprintf("everything but %q", []string(s.NotAction))
	}
	res := fmt.Sprintf("%q", []string(s.Resource))
	switch {
	case s.NotResource != nil:
		res = fmt.Sprintf("everything but %q", []string(s.NotResource))
	case s.Resource == nil:
		res = `"*"`
	case len(s.Resource) == 1:
		res = fmt.Sprintf("%q", s.Resource[0])
	}
	if len(s.Action) == 1 && s.NotAction == nil {
		acts = fmt.Sprintf("%q", s.Action[0])
	}
	return acts + " on " + res
}

// parseCIDR reads an IPv4 or IPv6 CIDR or bare address. Prefix lengths
// written with leading zeros ("/00") read as their number.
func parseCIDR(s string) (netip.Prefix, bool) {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil {
		return p, true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	addr, bits, ok := strings.Cut(s, "/")
	if !ok {
		return netip.Prefix{}, false
	}
	a, err := netip.ParseAddr(strings.TrimSpace(addr))
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(bits))
	if err != nil || n < 0 || n > a.BitLen() {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, n), true
}

// normPrefix is a prefix masked to its network, an IPv4-mapped IPv6
// prefix read as the IPv4 range it stands for.
func normPrefix(p netip.Prefix) netip.Prefix {
	a, bits := p.Addr(), p.Bits()
	if a.Is4In6() && bits >= 96 {
		a, bits = a.Unmap(), bits-96
	}
	return netip.PrefixFrom(a, bits).Masked()
}

// coversWorld reports whether the prefixes admit every address of IPv4 or
// of IPv6: one of them has prefix length 0 (whatever address it is written
// with: "0.0.0.0/0", "1.2.3.4/0", "::/0", "2001:db8::/0"), or together
// they cover the family ("0.0.0.0/1" and "128.0.0.0/1"). It returns the
// prefixes that do, as written.
func coversWorld(ps []netip.Prefix) ([]netip.Prefix, bool) {
	fams := map[int][]netip.Prefix{}
	written := map[netip.Prefix]netip.Prefix{}
	for _, p := range ps {
		if !p.IsValid() {
			continue
		}
		q := normPrefix(p)
		if q.Bits() == 0 {
			return []netip.Prefix{p}, true
		}
		if _, dup := written[q]; !dup {
			written[q] = p
			fams[q.Addr().BitLen()] = append(fams[q.Addr().BitLen()], q)
		}
	}
	for _, bitLen := range []int{32, 128} {
		list := fams[bitLen]
		if len(list) < 2 {
			continue
		}
		sort.Slice(list, func(i, j int) bool {
			if c := list[i].Addr().Compare(list[j].Addr()); c != 0 {
				return c < 0
			}
			return list[i].Bits() < list[j].Bits()
		})
		// Prefixes nest or are disjoint: drop the nested ones, then the
		// sizes of the rest add up to the space they cover.
		total := new(big.Int)
		var last netip.Prefix
		var used []netip.Prefix
		for _, p := range list {
			if last.IsValid() && last.Contains(p.Addr()) {
				continue
			}
			last = p
			used = append(used, written[p])
			total.Add(total, new(big.Int).Lsh(big.NewInt(1), uint(bitLen-p.Bits())))
		}
		if total.Cmp(new(big.Int).Lsh(big.NewInt(1), uint(bitLen))) >= 0 {
			return used, true
		}
	}
	return nil, false
}

// WorldOpen reports whether a set of CIDRs, as written in a request,
// admits the whole internet (any prefix length 0, in either family, or
// prefixes that together cover a family), and names the CIDRs that do.
// Values that are not addresses or CIDRs are skipped (AWS rejects them).
func WorldOpen(cidrs []string) (string, bool) {
	var ps []netip.Prefix
	for _, c := range cidrs {
		if p, ok := parseCIDR(c); ok {
			ps = append(ps, p)
		}
	}
	used, ok := coversWorld(ps)
	if !ok {
		return "", false
	}
	names := make([]string, len(used))
	for i, p := range used {
		names[i] = p.String()
	}
	return strings.Join(names, " + "), true
}

// decodeOneOrMany decodes a value CloudTrail writes as one element or a
// list of them (shapes that come from XML).
func decodeOneOrMany[T any](b []byte, out *[]T) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		*out = nil
		return nil
	}
	if b[0] == '[' {
		return json.Unmarshal(b, out)
	}
	var one T
	if err := json.Unmarshal(b, &one); err != nil {
		return err
	}
	*out = []T{one}
	return nil
}

// oneOrMany is a list that may be written as its only element.
type oneOrMany[T any] []T

// UnmarshalJSON accepts one element or a list.
func (o *oneOrMany[T]) UnmarshalJSON(b []byte) error { return decodeOneOrMany(b, (*[]T)(o)) }

// itemsOf is an EC2 list: {"items": [...]} (items possibly one object), or
// a plain list.
type itemsOf[T any] []T

// UnmarshalJSON accepts {"items": one-or-many} or a list.
func (l *itemsOf[T]) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		return json.Unmarshal(b, (*[]T)(l))
	}
	var w struct {
		Items oneOrMany[T] `json:"items"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*l = itemsOf[T](w.Items)
	return nil
}

// --- S3 access control lists.

// Public S3 grantee groups.
const (
	allUsersURI           = "acs.amazonaws.com/groups/global/AllUsers"
	authenticatedUsersURI = "acs.amazonaws.com/groups/global/AuthenticatedUsers"
)

// publicCannedACLs are the canned ACLs that grant the public groups.
var publicCannedACLs = map[string]string{
	"public-read":        "AllUsers",
	"public-read-write":  "AllUsers",
	"authenticated-read": "AuthenticatedUsers",
}

// aclRequest is the part of PutBucketAcl, PutObjectAcl and CreateBucket
// request parameters that sets an ACL: the canned ACL header, the explicit
// grant headers, or an AccessControlPolicy body whose Grant is one grant
// or a list.
type aclRequest struct {
	BucketName string     `json:"bucketName"`
	Key        string     `json:"key"`
	CannedACL  StringList `json:"x-amz-acl"`
	// ACL is the "acl" subresource marker (""); a canned ACL written
	// there is read as one.
	ACL                 StringList `json:"acl"`
	GrantRead           StringList `json:"x-amz-grant-read"`
	GrantWrite          StringList `json:"x-amz-grant-write"`
	GrantReadACP        StringList `json:"x-amz-grant-read-acp"`
	GrantWriteACP       StringList `json:"x-amz-grant-write-acp"`
	GrantFullControl    StringList `json:"x-amz-grant-full-control"`
	AccessControlPolicy *struct {
		AccessControlList struct {
			Grant oneOrMany[aclGrant] `json:"Grant"`
		} `json:"AccessControlList"`
	} `json:"AccessControlPolicy"`
}

type aclGrant struct {
	Grantee struct {
		Type string `json:"xsi:type"`
		URI  string `json:"URI"`
	} `json:"Grantee"`
	Permission string `json:"Permission"`
}

// publicGroup names the public group a grantee URI stands for, if any.
// Scheme, case and a trailing slash do not matter.
func publicGroup(uri string) string {
	u := strings.ToLower(strings.TrimSpace(uri))
	u = strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://")
	u = strings.TrimSuffix(u, "/")
	switch u {
	case strings.ToLower(allUsersURI):
		return "AllUsers"
	case strings.ToLower(authenticatedUsersURI):
		return "AuthenticatedUsers"
	}
	return ""
}

// publicGrants returns what the request grants to AllUsers or
// AuthenticatedUsers, as phrases ("canned ACL public-read", "READ to
// AllUsers").
func (r *aclRequest) publicGrants() []string {
	var out []string
	for _, c := range append(append(StringList{}, r.CannedACL...), r.ACL...) {
		c = strings.ToLower(strings.TrimSpace(c))
		if g := publicCannedACLs[c]; g != "" {
			out = append(out, "canned ACL "+c)
		}
	}
	headers := []struct {
		perm   string
		values StringList
	}{
		{"READ", r.GrantRead}, {"WRITE", r.GrantWrite}, {"READ_ACP", r.GrantReadACP},
		{"WRITE_ACP", r.GrantWriteACP}, {"FULL_CONTROL", r.GrantFullControl},
	}
	for _, h := range headers {
		for _, v := range h.values {
			for _, g := range grantHeaderGroups(v) {
				out = append(out, h.perm+" to "+g)
			}
		}
	}
	if r.AccessControlPolicy != nil {
		for _, g := range r.AccessControlPolicy.AccessControlList.Grant {
			if grp := publicGroup(g.Grantee.URI); grp != "" {
				perm := g.Permission
				if perm == "" {
					perm = "access"
				}
				out = append(out, perm+" to "+grp)
			}
		}
	}
	return out
}

// grantHeaderGroups reads an x-amz-grant-* header value, a comma-separated
// list of type=value grantees (uri="http://…/AllUsers", id="…",
// emailAddress="…"), and returns the public groups it names.
func grantHeaderGroups(v string) []string {
	var out []string
	for _, part := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "uri") {
			continue
		}
		if g := publicGroup(strings.Trim(strings.TrimSpace(val), `"'`)); g != "" {
			out = append(out, g)
		}
	}
	return out
}

// --- Security group rules.

// sgRequest is the part of AuthorizeSecurityGroupIngress/Egress and
// ModifySecurityGroupRules request parameters that says where traffic may
// come from or go to: ipPermissions (ipRanges, ipv6Ranges, prefix lists,
// groups), the flat form (cidrIp, cidrIpv6 beside ipProtocol and ports),
// and ModifySecurityGroupRulesRequest's SecurityGroupRule (one or a list,
// each with CidrIpv4/CidrIpv6 or a prefix list or group).
type sgRequest struct {
	GroupID       string                `json:"groupId"`
	IPProtocol    string                `json:"ipProtocol"`
	FromPort      json.RawMessage       `json:"fromPort"`
	ToPort        json.RawMessage       `json:"toPort"`
	CidrIP        string                `json:"cidrIp"`
	CidrIPv6      string                `json:"cidrIpv6"`
	IPPermissions itemsOf[sgPermission] `json:"ipPermissions"`
	Modify        *struct {
		GroupID string                  `json:"GroupId"`
		Rules   oneOrMany[sgRuleUpdate] `json:"SecurityGroupRule"`
	} `json:"ModifySecurityGroupRulesRequest"`
}

type sgPermission struct {
	IPProtocol string          `json:"ipProtocol"`
	FromPort   json.RawMessage `json:"fromPort"`
	ToPort     json.RawMessage `json:"toPort"`
	IPRanges   itemsOf[struct {
		CidrIP string `json:"cidrIp"`
	}] `json:"ipRanges"`
	IPv6Ranges itemsOf[struct {
		CidrIPv6 string `json:"cidrIpv6"`
	}] `json:"ipv6Ranges"`
}

type sgRuleUpdate struct {
	RuleID string `json:"SecurityGroupRuleId"`
	Rule   struct {
		IPProtocol string          `json:"IpProtocol"`
		FromPort   json.RawMessage `json:"FromPort"`
		ToPort     json.RawMessage `json:"ToPort"`
		CidrIPv4   string          `json:"CidrIpv4"`
		CidrIPv6   string          `json:"CidrIpv6"`
	} `json:"SecurityGroupRule"`
}

// sgRange is one source or destination CIDR of a rule with its ports.
type sgRange struct {
	cidr             string
	proto            string
	fromPort, toPort string
}

// ranges lists every CIDR the request opens, in every field and family.
// Prefix lists and security groups are never the world and are not listed.
func (r *sgRequest) ranges() []sgRange {
	var out []sgRange
	add := func(cidr, proto string, from, to json.RawMessage) {
		if strings.TrimSpace(cidr) != "" {
			out = append(out, sgRange{cidr: cidr, proto: proto, fromPort: portText(from), toPort: portText(to)})
		}
	}
	add(r.CidrIP, r.IPProtocol, r.FromPort, r.ToPort)
	add(r.CidrIPv6, r.IPProtocol, r.FromPort, r.ToPort)
	for _, p := range r.IPPermissions {
		for _, x := range p.IPRanges {
			add(x.CidrIP, p.IPProtocol, p.FromPort, p.ToPort)
		}
		for _, x := range p.IPv6Ranges {
			add(x.CidrIPv6, p.IPProtocol, p.FromPort, p.ToPort)
		}
	}
	if r.Modify != nil {
		for _, u := range r.Modify.Rules {
			add(u.Rule.CidrIPv4, u.Rule.IPProtocol, u.Rule.FromPort, u.Rule.ToPort)
			add(u.Rule.CidrIPv6, u.Rule.IPProtocol, u.Rule.FromPort, u.Rule.ToPort)
		}
	}
	return out
}

func portText(b json.RawMessage) string {
	s, err := scalarText(b)
	if err != nil || s == "null" {
		return ""
	}
	return strings.Trim(s, `"`)
}

// ports says which ports a rule opens: "all ports" for protocol -1 or
// without ports, else "port 22" or "ports 8000-8080".
func (x sgRange) ports() string {
	if x.proto == "-1" || x.fromPort == "" || x.fromPort == "-1" {
		return "all ports"
	}
	if x.toPort != "" && x.toPort != x.fromPort {
		return "ports " + x.fromPort + "-" + x.toPort
	}
	return "port " + x.fromPort
}

// worldRule returns the CIDRs that open the request to the whole internet
// and the ports they open, if any.
func (r *sgRequest) worldRule() (cidrs, ports string, ok bool) {
	rs := r.ranges()
	var ps []netip.Prefix
	for _, x := range rs {
		if p, ok := parseCIDR(x.cidr); ok {
			ps = append(ps, p)
		}
	}
	used, world := coversWorld(ps)
	if !world {
		return "", "", false
	}
	in := map[netip.Prefix]bool{}
	var names []string
	for _, p := range used {
		in[normPrefix(p)] = true
		names = append(names, p.String())
	}
	var opened []string
	seen := map[string]bool{}
	for _, x := range rs {
		p, ok := parseCIDR(x.cidr)
		if !ok || !in[normPrefix(p)] {
			continue
		}
		if ph := x.ports(); !seen[ph] {
			seen[ph] = true
			opened = append(opened, ph)
		}
	}
	if seen["all ports"] {
		opened = []string{"all ports"}
	}
	return strings.Join(names, " + "), strings.Join(opened, ", "), true
}

// --- Snapshot and image sharing.

// sharingRequest is the part of ModifySnapshotAttribute,
// ModifyImageAttribute and the RDS snapshot attribute calls that adds or
// removes who may use a snapshot or image.
type sharingRequest struct {
	SnapshotID             string             `json:"snapshotId"`
	ImageID                string             `json:"imageId"`
	DBSnapshotID           string             `json:"dBSnapshotIdentifier"`
	DBClusterSnapshotID    string             `json:"dBClusterSnapshotIdentifier"`
	AttributeName          string             `json:"attributeName"`
	ValuesToAdd            StringList         `json:"valuesToAdd"`
	CreateVolumePermission *permissionChanges `json:"createVolumePermission"`
	LaunchPermission       *permissionChanges `json:"launchPermission"`
}

// permissionChanges is EC2's {add: {items: [...]}, remove: {...}}.
type permissionChanges struct {
	Add itemsOf[permissionItem] `json:"add"`
}

// permissionItem is one grantee: a group ("all" is everyone; CloudTrail
// writes "group", and "groups" has been documented), an account, or an
// organization.
type permissionItem struct {
	Group  StringList `json:"group"`
	Groups StringList `json:"groups"`
	UserID StringList `json:"userId"`
}

func (r *sharingRequest) target() string {
	return firstNonEmpty(r.SnapshotID, r.ImageID, r.DBSnapshotID, r.DBClusterSnapshotID)
}

// added returns the groups and the accounts the request adds. Removals
// never count.
func (r *sharingRequest) added() (groups, accounts []string) {
	for _, pc := range []*permissionChanges{r.CreateVolumePermission, r.LaunchPermission} {
		if pc == nil {
			continue
		}
		for _, it := range pc.Add {
			groups = append(groups, it.Group...)
			groups = append(groups, it.Groups...)
			accounts = append(accounts, it.UserID...)
		}
	}
	if strings.EqualFold(strings.TrimSpace(r.AttributeName), "restore") {
		for _, v := range r.ValuesToAdd {
			if strings.EqualFold(strings.TrimSpace(v), "all") {
				groups = append(groups, v)
			} else {
				accounts = append(accounts, v)
			}
		}
	}
	return groups, accounts
}

// isAccountID reports whether s is a 12-digit AWS account ID.
func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
