package detectors_test

import (
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/trailwatch/trailwatch/detectors"
	dt "github.com/trailwatch/trailwatch/detectors/detectorstest"
	"github.com/trailwatch/trailwatch/events"
)

// userRules parses doc (a YAML list of rules) into the nodes CompileRules
// takes.
func userRules(t *testing.T, doc string) []*yaml.Node {
	t.Helper()
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &root); err != nil {
		t.Fatal(err)
	}
	return root.Content[0].Content
}

const okExamples = `
  examples:
    positive: [{eventSource: ssm.amazonaws.com, eventName: PutParameter}]
    negative: [{eventSource: ssm.amazonaws.com, eventName: DeleteParameter}]`

// TestCompileRulesErrors: every mistake in a user rule is reported with
// the line it is on, unknown conditions with the vocabulary.
func TestCompileRulesErrors(t *testing.T) {
	tests := []struct {
		name, doc string
		line      int
		want      string
	}{
		{"unknown condition", "- id: x1\n  apis: [ssm:PutParameter]\n  when:\n    - is_crypto_miner: true\n  category: c\n  base_score: 0.5" + okExamples, 4, `unknown condition "is_crypto_miner" (known: access_key_for_other_user`},
		{"condition with two keys", "- id: x1\n  apis: [ssm:PutParameter]\n  when:\n    - {param_false: a, mfa: true}\n  category: c\n  base_score: 0.5" + okExamples, 4, "one `name: argument`"},
		{"param_equals without value", "- id: x1\n  apis: [ssm:PutParameter]\n  when:\n    - param_equals: {path: type}\n  category: c\n  base_score: 0.5" + okExamples, 4, "takes {path: PATH, value: VALUE}"},
		{"predicate given false", "- id: x1\n  apis: [ssm:PutParameter]\n  when:\n    - acl_public: false\n  category: c\n  base_score: 0.5" + okExamples, 4, "acl_public takes true"},
		{"bad api", "- id: x1\n  apis: [PutParameter]\n  category: c\n  base_score: 0.5" + okExamples, 1, `"PutParameter" is not service:EventName`},
		{"score out of range", "- id: x1\n  apis: [ssm:PutParameter]\n  category: c\n  base_score: 1.5" + okExamples, 1, "base_score 1.5"},
		{"score not a number", "- id: x1\n  apis: [ssm:PutParameter]\n  category: c\n  base_score: high" + okExamples, 4, "cannot unmarshal"},
		{"bad floor", "- id: x1\n  apis: [ssm:PutParameter]\n  category: c\n  base_score: 0.5\n  floor: URGENT" + okExamples, 1, "unknown severity"},
		{"unknown placeholder", "- id: x1\n  apis: [ssm:PutParameter]\n  category: c\n  base_score: 0.5\n  message: wrote {parameter}" + okExamples, 1, "unknown placeholder {parameter}"},
		{"no examples", "- id: x1\n  apis: [ssm:PutParameter]\n  category: c\n  base_score: 0.5", 1, "at least one positive and one negative example"},
		{"no id", "- apis: [ssm:PutParameter]", 1, "needs an id"},
		{"twice", "- id: s3-delete-bucket\n  base_score: 0.9\n- id: s3-delete-bucket\n  enabled: false", 3, "defined twice (first at line 1)"},
		{"override breaks a built-in", "- id: s3-delete-bucket\n  base_score: 0", 1, "rule s3-delete-bucket: base_score 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, errs := detectors.CompileRules(userRules(t, tt.doc), "t.yaml")
			if set != nil || len(errs) == 0 {
				t.Fatalf("compiled; want an error containing %q", tt.want)
			}
			msg := errs[0].Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q lacks %q", msg, tt.want)
			}
			if want := "line " + itoa(tt.line) + ": "; !strings.HasPrefix(msg, want) {
				t.Errorf("error %q does not start with %q", msg, want)
			}
		})
	}
}

func itoa(n int) string {
	const digits = "0123456789"
	if n < 10 {
		return digits[n : n+1]
	}
	return itoa(n/10) + digits[n%10:n%10+1]
}

// TestUserRules: a user rule fires by config alone, comes before the
// built-in catalog, an override changes only what it sets, and a disabled
// rule is quiet while the twin of each stays as it was.
func TestUserRules(t *testing.T) {
	set, errs := detectors.CompileRules(userRules(t, `
- id: ssm-put-production-secret
  apis: [ssm:PutParameter]
  when:
    - param_equals: {path: type, value: securestring}
    - param_contains: {path: name, value: /PROD/}
  category: secret tampering
  base_score: 0.7
  floor: HIGH
  message: wrote production secret {param:name} in {account} ({api})`+okExamples+`
- id: s3-versioning-any
  apis: [s3:PutBucketVersioning]
  category: destruction
  base_score: 0.4
  message: "{what} and more"`+okExamples+`
- id: s3-delete-bucket
  base_score: 0.9
  floor: HIGH
- id: logs-delete-log-group
  enabled: false
`), "t.yaml")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	cfg := detectors.DefaultConfig()
	cfg.Rules = set
	check := func(ev events.Event) []detectors.Signal {
		c := &detectors.Context{Baseline: detectors.NewBaseline(alice), Config: cfg, Name: "alice"}
		return detectors.HighRiskAction{}.Check(c, &ev)
	}
	tests := []struct {
		name   string
		ev     events.Event
		rule   string // "" for no signal
		title  string
		score  float64
		floor  detectors.Severity
		caught bool
	}{
		{name: "new rule fires", ev: dt.Event(alice, "ssm:PutParameter", at(10, 10, 0), dt.Params(`{"name":"/prod/db/password","type":"SecureString"}`)),
			rule: "ssm-put-production-secret", title: "wrote production secret /prod/db/password in 111122223333 (ssm:PutParameter)", score: 0.7, floor: detectors.SeverityHigh},
		{name: "new rule's twin is quiet", ev: dt.Event(alice, "ssm:PutParameter", at(10, 10, 0), dt.Params(`{"name":"/dev/db/password","type":"SecureString"}`))},
		{name: "new rule comes before the built-in one", ev: dt.Event(alice, "s3:PutBucketVersioning", at(10, 10, 0), dt.Params(`{"bucketName":"b","VersioningConfiguration":{"Status":"Enabled"}}`)),
			rule: "s3-versioning-any", title: "called s3:PutBucketVersioning and more", score: 0.4},
		{name: "override changes score and floor", ev: dt.Event(alice, "s3:DeleteBucket", at(10, 10, 0)),
			rule: "s3-delete-bucket", title: "called s3:DeleteBucket", score: 0.9, floor: detectors.SeverityHigh},
		{name: "disabled rule is quiet", ev: dt.Event(alice, "logs:DeleteLogGroup", at(10, 10, 0))},
		{name: "untouched built-in rule as it was", ev: dt.Event(alice, "cloudtrail:StopLogging", at(10, 10, 0)),
			rule: "cloudtrail-stop-logging", title: "called cloudtrail:StopLogging", score: 0.95, floor: detectors.SeverityHigh},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sigs := check(tt.ev)
			if tt.rule == "" {
				if len(sigs) != 0 {
					t.Fatalf("fired: %+v", sigs)
				}
				return
			}
			if len(sigs) != 1 {
				t.Fatalf("%d signals", len(sigs))
			}
			s := sigs[0]
			if s.Evidence["rule"] != tt.rule || s.Title != tt.title || s.Score != tt.score || s.Floor != tt.floor {
				t.Errorf("rule %v title %q score %v floor %v; want %s %q %v %v", s.Evidence["rule"], s.Title, s.Score, s.Floor, tt.rule, tt.title, tt.score, tt.floor)
			}
		})
	}
	// The built-in catalog is untouched by a compiled user set.
	c := &detectors.Context{Baseline: detectors.NewBaseline(alice), Config: detectors.DefaultConfig(), Name: "alice"}
	ev := dt.Event(alice, "logs:DeleteLogGroup", at(10, 10, 0))
	if len(detectors.HighRiskAction{}.Check(c, &ev)) != 1 {
		t.Error("disabling a rule in one set disabled it in the built-in catalog")
	}
}

// TestGenericConditions: the parameter and caller conditions, each with a
// call that meets it and a twin that does not.
func TestGenericConditions(t *testing.T) {
	tests := []struct {
		cond, params string
		opts         []dt.Opt
		fires        bool
	}{
		{`param_equals: {path: a.b, value: "X"}`, `{"a":{"b":"x"}}`, nil, true},
		{`param_equals: {path: a.b, value: "X"}`, `{"a":{"b":"xy"}}`, nil, false},
		{`param_equals: {path: items.group, value: all}`, `{"items":[{"group":"me"},{"group":"all"}]}`, nil, true},
		{`param_equals: {path: n, value: "3"}`, `{"n":3}`, nil, true},
		{`param_contains: {path: g, value: ADMIN}`, `{"g":"SecAdmins"}`, nil, true},
		{`param_contains: {path: g, value: ADMIN}`, `{"g":"devs"}`, nil, false},
		{`param_false: a.enable`, `{"a":{"enable":false}}`, nil, true},
		{`param_false: a.enable`, `{"a":{"enable":"false"}}`, nil, false},
		{`param_present: userData`, `{"userData":"x"}`, nil, true},
		{`param_present: userData`, `{"userData":null}`, nil, false},
		{`param_present: userData`, `not json`, nil, false},
		{`actor_type: [Root, IAMUser]`, `{}`, nil, true},
		{`actor_type: [AssumedRole]`, `{}`, nil, false},
		{`error_code: [AccessDenied]`, `{}`, []dt.Opt{dt.Err("AccessDenied")}, true},
		{`error_code: [AccessDenied]`, `{}`, nil, false},
		{`succeeded: false`, `{}`, []dt.Opt{dt.Err("AccessDenied")}, true},
		{`succeeded: false`, `{}`, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.cond+" "+tt.params, func(t *testing.T) {
			set, errs := detectors.CompileRules(userRules(t, "- id: probe\n  apis: [ssm:*]\n  when:\n    - "+tt.cond+"\n  category: c\n  base_score: 0.5"+okExamples), "t.yaml")
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			cfg := detectors.DefaultConfig()
			cfg.Rules = set
			ev := dt.Event(alice, "ssm:PutParameter", at(10, 10, 0), append([]dt.Opt{dt.Params(tt.params)}, tt.opts...)...)
			c := &detectors.Context{Baseline: detectors.NewBaseline(alice), Config: cfg, Name: "alice"}
			sigs := detectors.HighRiskAction{}.Check(c, &ev)
			if got := len(sigs) == 1 && sigs[0].Evidence["rule"] == "probe"; got != tt.fires {
				t.Errorf("fired = %v, want %v (%+v)", got, tt.fires, sigs)
			}
		})
	}
}

// TestBuiltinCatalogShape: every rule has an id, examples both ways, and
// self-protection comes first, then the root rules, so a root call is
// judged as root use unless it changes Trailwatch itself.
// counterpartyConditions are the conditions whose verdict names who or
// what the call reached.
var counterpartyConditions = map[string]bool{
	"resource_policy_public": true, "identity_policy_admin": true, "managed_policy_admin": true,
	"trust_policy_outside_account": true, "acl_public": true, "shared_outside_account": true,
	"cidr_open_to_world": true, "shares_with_outside_account": true, "access_key_for_other_user": true,
}

func TestBuiltinCatalogShape(t *testing.T) {
	rules := detectors.BuiltinRules()
	if len(rules) < 85 {
		t.Fatalf("%d built-in rules", len(rules))
	}
	seen := map[string]bool{}
	for i, r := range rules {
		if seen[r.ID] {
			t.Errorf("duplicate id %s", r.ID)
		}
		seen[r.ID] = true
		if len(r.Examples.Positive) == 0 || len(r.Examples.Negative) == 0 {
			t.Errorf("%s: needs a positive and a negative example", r.ID)
		}
		if i == 0 && r.ID != "trailwatch-self-protection" {
			t.Errorf("rule 0 is %s; self-protection comes first (a change to Trailwatch is CRITICAL whoever makes it)", r.ID)
		}
		if i >= 1 && i < 4 && !strings.HasPrefix(r.ID, "root-") {
			t.Errorf("rule %d is %s; the root rules come next", i, r.ID)
		}
		// Every rule states what its history is kept under, and a rule
		// whose condition names a counterparty keeps it per counterparty.
		if len(r.History) == 0 {
			t.Errorf("%s: states no history (rule, counterparty or param:PATH)", r.ID)
		}
		for _, c := range r.When {
			if counterpartyConditions[c.Name] && !slices.Contains(r.History, "counterparty") {
				t.Errorf("%s: condition %s names a counterparty; history %v does not keep it", r.ID, c.Name, r.History)
			}
		}
	}
	c := &detectors.Context{Baseline: detectors.NewBaseline("111122223333:root"), Config: detectors.DefaultConfig(), Name: "root"}
	ev := dt.Event("111122223333:root", "cloudtrail:StopLogging", at(10, 10, 0))
	if s := (detectors.HighRiskAction{}).Check(c, &ev); len(s) != 1 || s[0].Evidence["rule"] != "root-activity" {
		t.Errorf("root stopping CloudTrail: %+v; want root-activity", s)
	}
}

// BenchmarkHighRiskCheck: the catalog lookup on the hot path, for a call
// no rule covers and one a rule with a condition judges.
func BenchmarkHighRiskCheck(b *testing.B) {
	c := &detectors.Context{Baseline: detectors.NewBaseline(alice), Config: detectors.DefaultConfig(), Name: "alice"}
	plain := dt.Event(alice, "ec2:CreateTags", at(10, 10, 0), dt.Params(`{"resourcesSet":{}}`))
	sg := dt.Event(alice, "ec2:AuthorizeSecurityGroupIngress", at(10, 10, 0), dt.Params(`{"groupId":"sg-1","ipPermissions":{"items":[{"fromPort":22,"ipRanges":{"items":[{"cidrIp":"10.0.0.0/8"}]}}]}}`))
	b.ReportAllocs()
	for b.Loop() {
		detectors.HighRiskAction{}.Check(c, &plain)
		detectors.HighRiskAction{}.Check(c, &sg)
	}
}

// BenchmarkBuiltinCatalog: parsing and compiling the embedded catalog, a
// cold start's one-time cost.
func BenchmarkBuiltinCatalog(b *testing.B) {
	for b.Loop() {
		if _, errs := detectors.CompileRules(nil, ""); len(errs) > 0 {
			b.Fatal(errs)
		}
	}
}
