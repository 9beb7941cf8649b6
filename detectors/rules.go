package detectors

import (
	"embed"
	"fmt"
	"io/fs"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/trailwatch/trailwatch/events"
)

// Rule is one entry of the high-risk catalog, as data: the APIs it covers,
// the conditions on the call that make it risky (a closed vocabulary of the
// engine's own predicates, see Vocabulary), its category, base score,
// severity floor and message, and the example records that show it firing
// and staying quiet. The built-in catalog (rules/*.yaml, embedded) and the
// rules users add in thresholds.yaml share this format.
type Rule struct {
	ID          string `yaml:"id" json:"id"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	// Enabled false disables the rule (a built-in one by its id).
	Enabled *bool `yaml:"enabled,omitempty" json:"enabled,omitempty"`
	// APIs are "service:EventName" names; a trailing * matches any
	// suffix (Lambda's dated versions), and "*" every API.
	APIs []string `yaml:"apis" json:"apis"`
	// When lists conditions that must all hold.
	When      []Condition `yaml:"when,omitempty" json:"when,omitempty"`
	Category  string      `yaml:"category" json:"category"`
	BaseScore float64     `yaml:"base_score" json:"base_score"`
	// Floor is the least severity of the first successful time.
	Floor Severity `yaml:"floor,omitempty" json:"floor,omitempty"`
	// Message is the finding title phrase, a template with the
	// placeholders {api}, {account}, {what} (what the predicates say the
	// call did) and {param:PATH} (a request parameter; PATH|PATH tries
	// each in turn). Empty means "{what}", or "called {api}".
	Message string `yaml:"message,omitempty" json:"message,omitempty"`
	// History says what the principal's history of this risk is kept
	// under: "rule" (the rule's risk alone; also what an empty History
	// means), and beyond it "counterparty" (who or what the call
	// reached, as the conditions name it: the outside account, the
	// internet's address family, the policy grant, the user given a key)
	// and "param:PATH" (a request parameter, e.g. the trail stopped). So
	// "never before" and "done on N days" are about the same risk, not the
	// same API: opening to ::/0 is not discounted by openings to
	// 10.0.0.0/8, nor sharing with account B by sharing with account A.
	History  []string `yaml:"history,omitempty" json:"history,omitempty"`
	Examples Examples `yaml:"examples" json:"examples"`
	// Source and Line say where the rule was written, for messages.
	Source string `yaml:"-" json:"-"`
	Line   int    `yaml:"-" json:"-"`
}

// On reports whether the rule is enabled.
func (r *Rule) On() bool { return r.Enabled == nil || *r.Enabled }

// Examples are CloudTrail records the rule must fire on (Positive) and
// must not fire on (Negative).
type Examples struct {
	Positive []Example `yaml:"positive,omitempty" json:"positive,omitempty"`
	Negative []Example `yaml:"negative,omitempty" json:"negative,omitempty"`
}

// Example is one CloudTrail record, inline (Record) or in a JSON file
// relative to the rule's file (File). Fields an inline record leaves out
// take the defaults of ExampleRecord.
type Example struct {
	Record map[string]any `json:"record,omitempty"`
	File   string         `json:"file,omitempty"`
	Line   int            `json:"-"`
}

// UnmarshalYAML reads {file: PATH} or an inline record.
func (e *Example) UnmarshalYAML(n *yaml.Node) error {
	e.Line = n.Line
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: an example is a CloudTrail record (a mapping) or {file: PATH}", n.Line)
	}
	if len(n.Content) == 2 && n.Content[0].Value == "file" {
		return n.Content[1].Decode(&e.File)
	}
	return n.Decode(&e.Record)
}

// MarshalYAML writes the record or the file reference.
func (e Example) MarshalYAML() (any, error) {
	if e.File != "" {
		return map[string]string{"file": e.File}, nil
	}
	return e.Record, nil
}

// argKind is what a condition takes.
type argKind int

const (
	argTrue      argKind = iota // `name: true`
	argPath                     // `name: PATH`
	argPathValue                // `name: {path: PATH, value: V}`
	argList                     // `name: [A, B]`
	argBool                     // `name: true|false`
)

// predicate judges one call. A generic condition returns risky("") or safe.
type predicate func(ev *events.Event, p *params, c *Condition) verdict

type vocab struct {
	arg  argKind
	pred predicate
	doc  string
}

// vocabulary is the closed list of conditions a rule may use.
var vocabulary = map[string]vocab{
	"resource_policy_public":       {argTrue, grantsEveryone, "a resource policy (bucket, key, secret, repository) or Lambda permission grants everyone with no condition confining the caller"},
	"identity_policy_admin":        {argTrue, adminInlinePolicy, "an identity policy grants administrator or escalation rights (broad data access: the lesser form)"},
	"managed_policy_admin":         {argTrue, adminManagedPolicy, "the attached managed policy is an administrator policy"},
	"trust_policy_outside_account": {argTrue, trustsOutsideAccount, "a role trust policy lets anyone, or another account, assume the role"},
	"acl_public":                   {argTrue, publicACL, "an S3 ACL grants AllUsers or AuthenticatedUsers (canned, header or body)"},
	"public_access_block_relaxed":  {argTrue, publicAccessBlockRelaxed, "an S3 public access block setting is turned off"},
	"shared_outside_account":       {argTrue, sharedOut, "a snapshot or image is made public or shared with another account"},
	"cidr_open_to_world":           {argTrue, openToWorld, "a security group rule admits the whole internet (prefix /0 or ranges that cover it)"},
	"shares_with_outside_account":  {argTrue, externalShare, "a RAM share allows external principals and names one"},
	"event_selectors_reduced":      {argTrue, eventSelectorsReduced, "CloudTrail event selectors stop logging management or write events"},
	"access_key_for_other_user":    {argTrue, accessKeyForAnother, "an access key is created for another IAM user (or by a non-user for itself)"},
	"param_equals":                 {argPathValue, paramEquals, "the request parameter at path equals value (strings case-insensitively)"},
	"param_contains":               {argPathValue, paramContains, "the request parameter at path (or an element of the list there) contains value, case-insensitively"},
	"param_false":                  {argPath, paramFalse, "the request parameter at path is false"},
	"param_present":                {argPath, paramPresent, "the request parameter at path is present"},
	"actor_type":                   {argList, actorType, "userIdentity.type is one of the list (Root, IAMUser, AssumedRole…)"},
	"error_code":                   {argList, errorCodeIn, "the call failed with one of the listed error codes"},
	"console_sign_in":              {argBool, consoleSignIn, "the event is (true) or is not (false) a console sign-in"},
	"mfa":                          {argBool, mfaUsed, "the session or sign-in used (true) or did not use (false) MFA"},
	"succeeded":                    {argBool, succeeded, "the call or sign-in succeeded (true) or failed (false)"},
	"targets_trailwatch":           {argTrue, targetsTrailwatch, "the call changes one of Trailwatch's own resources (the deployed stack's, see self-protection) and the caller is not a deployer; the rule's floor then holds whatever the principal's history"},
	// Coverage of known attack techniques (coverage_conditions.go).
	"param_absent":                    {argPath, paramAbsent, "the request parameter at path is absent or empty (null, \"\", [] or {})"},
	"param_at_least":                  {argPathValue, paramAtLeast, "the number at path is at least value"},
	"param_at_most":                   {argPathValue, paramAtMost, "the number at path is at most value"},
	"resource_policy_outside_account": {argTrue, resourcePolicyOutsideAccount, "a resource policy or Lambda permission names a principal of another account"},
	"replication_outside_account":     {argTrue, replicationOutsideAccount, "an S3 replication rule sends replicas to another account (Destination.Account, or ownership handed to the destination)"},
	"instance_type_unusual":           {argTrue, instanceTypeUnusual, "a launch asks for an accelerated (GPU, Inferentia, Trainium, Gaudi, FPGA), bare-metal or 24xlarge-and-up instance type"},
	"session_policy_admin":            {argTrue, sessionPolicyAdmin, "a federation token's session policy grants administrator or escalation rights"},
	"web_acl_allows_all":              {argTrue, webACLAllowsAll, "a WAF web ACL is left with no rules and a default action of allow"},
}

// Vocabulary returns the condition names rules may use, with what each
// tests, sorted.
func Vocabulary() [][2]string {
	var out [][2]string
	for k, v := range vocabulary {
		out = append(out, [2]string{k, v.doc})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

func vocabularyNames() string {
	var names []string
	for _, v := range Vocabulary() {
		names = append(names, v[0])
	}
	return strings.Join(names, ", ")
}

// Condition is one entry of a rule's when list: a single-key mapping from
// a vocabulary name to its argument.
type Condition struct {
	Name   string
	Path   string
	Value  string
	Values []string
	Bool   bool
	Line   int
}

// UnmarshalYAML reads `name: argument` and checks it against Vocabulary.
func (c *Condition) UnmarshalYAML(n *yaml.Node) error {
	c.Line = n.Line
	if n.Kind != yaml.MappingNode || len(n.Content) != 2 {
		return fmt.Errorf("line %d: a condition is one `name: argument` (known: %s)", n.Line, vocabularyNames())
	}
	c.Name = n.Content[0].Value
	arg := n.Content[1]
	v, ok := vocabulary[c.Name]
	if !ok {
		return fmt.Errorf("line %d: unknown condition %q (known: %s)", n.Line, c.Name, vocabularyNames())
	}
	bad := func(want string) error {
		return fmt.Errorf("line %d: condition %s takes %s", arg.Line, c.Name, want)
	}
	switch v.arg {
	case argTrue:
		if arg.Tag != "!!bool" || arg.Value != "true" {
			return bad("true")
		}
		c.Bool = true
	case argBool:
		if arg.Tag != "!!bool" {
			return bad("true or false")
		}
		if err := arg.Decode(&c.Bool); err != nil {
			return bad("true or false")
		}
	case argPath:
		if arg.Kind != yaml.ScalarNode || strings.TrimSpace(arg.Value) == "" {
			return bad("a parameter path such as VersioningConfiguration.Status")
		}
		c.Path = arg.Value
	case argPathValue:
		var pv struct {
			Path  string `yaml:"path"`
			Value string `yaml:"value"`
		}
		if arg.Kind != yaml.MappingNode || arg.Decode(&pv) != nil || pv.Path == "" || pv.Value == "" {
			return bad("{path: PATH, value: VALUE}")
		}
		c.Path, c.Value = pv.Path, pv.Value
	case argList:
		if arg.Kind != yaml.SequenceNode || arg.Decode(&c.Values) != nil || len(c.Values) == 0 {
			return bad("a list of values")
		}
	}
	return nil
}

// MarshalYAML writes the condition back in its `name: argument` form.
func (c Condition) MarshalYAML() (any, error) {
	switch vocabulary[c.Name].arg {
	case argPath:
		return map[string]any{c.Name: c.Path}, nil
	case argPathValue:
		return map[string]any{c.Name: map[string]string{"path": c.Path, "value": c.Value}}, nil
	case argList:
		return map[string]any{c.Name: c.Values}, nil
	}
	return map[string]any{c.Name: c.Bool}, nil
}

// Generic predicates.

func paramEquals(_ *events.Event, p *params, c *Condition) verdict {
	for _, v := range p.at(c.Path) {
		if strings.EqualFold(scalarString(v), c.Value) {
			return risky("")
		}
	}
	return safe
}

func paramContains(_ *events.Event, p *params, c *Condition) verdict {
	want := strings.ToLower(c.Value)
	for _, v := range p.at(c.Path) {
		// A list of scalars (Lambda's layers) contains the value when an
		// element does.
		elems := []any{v}
		if l, ok := v.([]any); ok {
			elems = l
		}
		for _, e := range elems {
			if strings.Contains(strings.ToLower(scalarString(e)), want) {
				return risky("")
			}
		}
	}
	return safe
}

func paramFalse(_ *events.Event, p *params, c *Condition) verdict {
	for _, v := range p.at(c.Path) {
		if b, ok := v.(bool); ok && !b {
			return risky("")
		}
	}
	return safe
}

func paramPresent(_ *events.Event, p *params, c *Condition) verdict {
	if len(p.at(c.Path)) > 0 {
		return risky("")
	}
	return safe
}

func actorType(ev *events.Event, _ *params, c *Condition) verdict {
	for _, t := range c.Values {
		if t == ev.PrincipalType {
			return risky("")
		}
	}
	return safe
}

func errorCodeIn(ev *events.Event, _ *params, c *Condition) verdict {
	for _, code := range c.Values {
		if code == ev.ErrorCode {
			return risky("")
		}
	}
	return safe
}

func boolVerdict(b bool) verdict {
	if b {
		return risky("")
	}
	return safe
}

func consoleSignIn(ev *events.Event, _ *params, c *Condition) verdict {
	return boolVerdict(ev.ConsoleSignIn == c.Bool)
}

func mfaUsed(ev *events.Event, _ *params, c *Condition) verdict {
	return boolVerdict(ev.MFA == c.Bool)
}

func succeeded(ev *events.Event, _ *params, c *Condition) verdict {
	ok := ev.ErrorCode == "" && !ev.SignInFailed
	return boolVerdict(ok == c.Bool)
}

// scalarString renders a parameter value for comparison.
func scalarString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	case map[string]any, []any:
		return ""
	}
	return fmt.Sprint(v)
}

// at returns the values at a dot-separated path of requestParameters;
// through a list, every element is followed.
func (p *params) at(path string) []any {
	cur := []any{any(p.get())}
	for _, key := range strings.Split(path, ".") {
		var next []any
		for _, v := range cur {
			next = appendField(next, v, key)
		}
		cur = next
	}
	return cur
}

func appendField(out []any, v any, key string) []any {
	switch x := v.(type) {
	case map[string]any:
		if f, ok := x[key]; ok && f != nil {
			out = append(out, f)
		}
	case []any:
		for _, e := range x {
			out = appendField(out, e, key)
		}
	}
	return out
}

// Message templates.

var placeholder = regexp.MustCompile(`\{([a-z]+)(?::([^}]*))?\}`)

// checkMessage reports an unknown placeholder in a message template.
func checkMessage(msg string) error {
	for _, m := range placeholder.FindAllStringSubmatch(msg, -1) {
		switch m[1] {
		case "api", "account", "what":
			if m[2] != "" {
				return fmt.Errorf("placeholder {%s} takes no argument", m[1])
			}
		case "param":
			if strings.TrimSpace(m[2]) == "" {
				return fmt.Errorf("placeholder {param:PATH} needs a path")
			}
		default:
			return fmt.Errorf("unknown placeholder {%s} (known: {api}, {account}, {what}, {param:PATH})", m[1])
		}
	}
	return nil
}

func renderMessage(msg string, ev *events.Event, p *params, what string) string {
	return placeholder.ReplaceAllStringFunc(msg, func(s string) string {
		m := placeholder.FindStringSubmatch(s)
		switch m[1] {
		case "api":
			return ev.API
		case "account":
			return ev.Account
		case "what":
			return what
		case "param":
			for _, path := range strings.Split(m[2], "|") {
				for _, v := range p.at(strings.TrimSpace(path)) {
					if s := scalarString(v); s != "" {
						return s
					}
				}
			}
		}
		return ""
	})
}

// RuleSet is a compiled catalog: the enabled rules in evaluation order,
// indexed by API. The first rule whose APIs match and whose conditions all
// hold judges the call.
type RuleSet struct {
	all    []Rule // every rule, disabled ones included, in order
	on     []*Rule
	exact  map[string][]int
	prefix []int // indexes into on of rules with a prefix or "*" API
}

// Rules returns every rule of the set, disabled ones included, in
// evaluation order. The slice is the set's own: do not modify it.
func (s *RuleSet) Rules() []Rule { return s.all }

//go:embed rules/*.yaml
var builtinFS embed.FS

// ruleFile is the shape of a rules document.
type ruleFile struct {
	Rules []yaml.Node `yaml:"rules"`
}

var builtin = sync.OnceValues(func() ([]Rule, error) {
	names, err := fs.Glob(builtinFS, "rules/*.yaml")
	if err != nil {
		return nil, err
	}
	var out []Rule
	for _, name := range names {
		b, err := builtinFS.ReadFile(name)
		if err != nil {
			return nil, err
		}
		var f ruleFile
		if err := yaml.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for i := range f.Rules {
			var r Rule
			if err := f.Rules[i].Decode(&r); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			r.Source, r.Line = "builtin:"+name, f.Rules[i].Line
			out = append(out, r)
		}
	}
	return out, nil
})

// BuiltinRules returns the embedded catalog, in evaluation order.
func BuiltinRules() []Rule {
	rules, err := builtin()
	if err != nil {
		panic("embedded rule catalog: " + err.Error())
	}
	return append([]Rule(nil), rules...)
}

var defaultRuleSet = sync.OnceValue(func() *RuleSet {
	s, errs := CompileRules(nil, "")
	if len(errs) > 0 {
		panic(fmt.Sprintf("embedded rule catalog: %v", errs))
	}
	return s
})

// DefaultRules returns the compiled built-in catalog.
func DefaultRules() *RuleSet { return defaultRuleSet() }

var ruleIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,79}$`)
var apiPattern = regexp.MustCompile(`^(\*|[a-z0-9-]+:[A-Za-z0-9]+\*?|[a-z0-9-]+:\*)$`)

// CompileRules merges user rules (YAML nodes of rule mappings, from
// source) with the built-in catalog and compiles the result. A user rule
// whose id is a built-in one overrides the fields it sets (enabled: false
// disables it) and keeps its place; a new rule needs every field and at
// least one positive and one negative example, and is evaluated before the
// built-in catalog. Rules from user get source as their Source; errors
// start with "line N:" where the line is known.
func CompileRules(user []*yaml.Node, source string) (*RuleSet, []error) {
	base := BuiltinRules()
	index := map[string]int{}
	for i, r := range base {
		index[r.ID] = i
	}
	var errs []error
	fail := func(line int, format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		if line > 0 {
			msg = fmt.Sprintf("line %d: %s", line, msg)
		}
		errs = append(errs, fmt.Errorf("%s", msg))
	}
	decodeFail := func(n *yaml.Node, id string, err error) {
		line, msg := splitLine(err.Error())
		if line == 0 {
			line = n.Line
		}
		fail(line, "rule %s: %s", id, msg)
	}
	var added []Rule
	seen := map[string]int{}
	for _, n := range user {
		id := ""
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == "id" {
					id = n.Content[i+1].Value
				}
			}
		}
		if id == "" {
			fail(n.Line, "rules: every rule needs an id")
			continue
		}
		if prev, dup := seen[id]; dup {
			fail(n.Line, "rule %s: defined twice (first at line %d)", id, prev)
			continue
		}
		seen[id] = n.Line
		if i, ok := index[id]; ok {
			r := base[i]
			// A list given in an override replaces the built-in one.
			r.APIs, r.When, r.Examples = keepUnlessSet(n, r)
			if hasKey(n, "history") {
				r.History = nil
			}
			if err := n.Decode(&r); err != nil {
				decodeFail(n, id, err)
				continue
			}
			r.Source, r.Line = source, n.Line
			base[i] = r
			continue
		}
		var r Rule
		if err := n.Decode(&r); err != nil {
			decodeFail(n, id, err)
			continue
		}
		r.Source, r.Line = source, n.Line
		if len(r.Examples.Positive) == 0 || len(r.Examples.Negative) == 0 {
			fail(n.Line, "rule %s: a new rule needs at least one positive and one negative example", id)
		}
		added = append(added, r)
	}
	all := append(added, base...)
	s := &RuleSet{all: all, exact: map[string][]int{}}
	for i := range all {
		r := &all[i]
		for _, err := range validateRule(r) {
			fail(lineOf(r, source), "rule %s: %v", r.ID, err)
		}
		if !r.On() {
			continue
		}
		k := len(s.on)
		s.on = append(s.on, r)
		prefixed := false
		for _, api := range r.APIs {
			switch {
			case !strings.HasSuffix(api, "*"):
				if l := s.exact[api]; len(l) == 0 || l[len(l)-1] != k {
					s.exact[api] = append(l, k)
				}
			case !prefixed:
				s.prefix = append(s.prefix, k)
				prefixed = true
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}

// keepUnlessSet returns the lists of r the override n does not set, and
// nil for those it does (so decoding replaces them instead of merging).
func keepUnlessSet(n *yaml.Node, r Rule) ([]string, []Condition, Examples) {
	apis, when, ex := r.APIs, r.When, r.Examples
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch n.Content[i].Value {
		case "apis":
			apis = nil
		case "when":
			when = nil
		case "examples":
			ex = Examples{}
		}
	}
	return apis, when, ex
}

// hasKey reports whether the mapping n sets key.
func hasKey(n *yaml.Node, key string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}

// lineOf is the line to report for r: its own when it came from source.
func lineOf(r *Rule, source string) int {
	if r.Source == source {
		return r.Line
	}
	return 0
}

func validateRule(r *Rule) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !ruleIDPattern.MatchString(r.ID) {
		add("id %q: use 2 to 80 lower-case letters, digits and dashes", r.ID)
	}
	if len(r.APIs) == 0 {
		add("apis: at least one service:EventName")
	}
	for _, a := range r.APIs {
		if !apiPattern.MatchString(a) {
			add("apis: %q is not service:EventName (a trailing * matches a suffix, * every API)", a)
		}
	}
	if strings.TrimSpace(r.Category) == "" {
		add("category is required")
	}
	if !(r.BaseScore > 0 && r.BaseScore <= 1) || math.IsNaN(r.BaseScore) {
		add("base_score %v: want a score in (0, 1]", r.BaseScore)
	}
	if r.Floor < SeverityInfo || r.Floor > SeverityCritical {
		add("floor: not a severity")
	}
	if err := checkMessage(r.Message); err != nil {
		add("message: %v", err)
	}
	for _, h := range r.History {
		if path, ok := strings.CutPrefix(h, "param:"); ok && strings.TrimSpace(path) != "" {
			continue
		}
		if h != "counterparty" && h != "rule" {
			add("history: %q: want rule, counterparty or param:PATH", h)
		}
	}
	return errs
}

// find returns the rule that judges the call and its verdict, or nil:
// the first, in evaluation order, of the rules listing the API exactly and
// those whose prefix or "*" matches it.
func (s *RuleSet) find(ev *events.Event, p *params) (*Rule, verdict) {
	var buf [8]int
	pre := buf[:0]
	for _, k := range s.prefix {
		if s.on[k].matchesPrefix(ev.API) {
			pre = append(pre, k)
		}
	}
	exact := s.exact[ev.API]
	// Merge the two ascending lists.
	for i, j := 0, 0; i < len(exact) || j < len(pre); {
		var k int
		switch {
		case j == len(pre) || (i < len(exact) && exact[i] < pre[j]):
			k, i = exact[i], i+1
		case i == len(exact) || pre[j] < exact[i]:
			k, j = pre[j], j+1
		default: // the same rule in both lists
			k, i, j = exact[i], i+1, j+1
		}
		r := s.on[k]
		if v, ok := r.judge(ev, p); ok {
			if !v.risky {
				return nil, safe // settled
			}
			return r, v
		}
	}
	return nil, safe
}

// matchesPrefix reports whether one of the rule's "*" or "prefix*" APIs
// matches api.
func (r *Rule) matchesPrefix(api string) bool {
	for _, a := range r.APIs {
		if a == "*" || (strings.HasSuffix(a, "*") && strings.HasPrefix(api, a[:len(a)-1])) {
			return true
		}
	}
	return false
}

// judge evaluates every condition: all must hold. The verdict combines
// what the predicates said: the last description, lesser if any is.
func (r *Rule) judge(ev *events.Event, p *params) (verdict, bool) {
	v := verdict{risky: true}
	for i := range r.When {
		c := &r.When[i]
		cv := vocabulary[c.Name].pred(ev, p, c)
		if !cv.risky {
			// A settled call is judged harmless here and by no later
			// rule (a deployer changing Trailwatch's own resources).
			return safe, cv.settled
		}
		if cv.what != "" {
			v.what = cv.what
		}
		if cv.note != "" {
			v.note = cv.note
		}
		if cv.counterparty != "" {
			v.counterparty = cv.counterparty
		}
		v.lesser = v.lesser || cv.lesser
		v.pinned = v.pinned || cv.pinned
	}
	return v, true
}

// splitLine splits "line N: message" (as yaml.v3 and the conditions
// word their errors) into N and the message; only the first of several
// yaml.v3 type errors is kept.
func splitLine(msg string) (int, string) {
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
	msg, _, _ = strings.Cut(msg, "\n")
	rest, ok := strings.CutPrefix(msg, "line ")
	if !ok {
		return 0, msg
	}
	num, after, ok := strings.Cut(rest, ": ")
	n, err := strconv.Atoi(num)
	if !ok || err != nil {
		return 0, msg
	}
	return n, after
}
