package detectors

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/trailwatch/trailwatch/events"
)

// Protection says what of Trailwatch itself the self-protection rules
// guard (Resources) and whose changes to it are expected (Deployers).
//
// A resource is "KIND/NAME": KIND one of ProtectedKinds, NAME the
// resource's name as CloudFormation created it (a queue, function, table,
// topic, rule, log group, role, alarm or bucket name, a KMS key ID, an SSM
// parameter name, a stack or StackSet name); a NAME ending in * covers
// every name it begins. An ARN in place of NAME is read for its name.
// A deployer is a principal ARN glob (* matches any run of characters,
// / included) matched against the caller's ARN and, for a role session,
// the role's ARN.
//
// The built-in part (BuiltinProtection) covers every name CloudFormation
// derives from the stack names and the deployment roles of the CDK
// bootstrap and of StackSets; the detect function adds the exact
// identifiers the CDK app passes it (SELF_PROTECTION), and thresholds.yaml
// may add more.
type Protection struct {
	Resources []string `yaml:"resources,omitempty" json:"resources,omitempty"`
	Deployers []string `yaml:"deployers,omitempty" json:"deployers,omitempty"`
}

// ProtectedKinds are the resource kinds a Protection names.
var ProtectedKinds = []string{"alarm", "bucket", "bus", "function", "key", "loggroup", "parameter", "role", "rule", "queue", "stack", "stackset", "table", "topic"}

// Stack and StackSet names the CDK app and the README use.
const (
	centralStack   = "TrailwatchCentral"
	forwarderStack = "TrailwatchForwarder"
	forwarderSet   = "trailwatch-forwarder"
)

// BuiltinProtection is what is protected without any configuration: the
// central bus, the stacks and the forwarder StackSet, and every resource
// whose name CloudFormation derived from a Trailwatch stack name
// ("TrailwatchCentral-…", "TrailwatchForwarder-…", a StackSet instance's
// "StackSet-trailwatch-forwarder-…"); changes by the CDK bootstrap's
// CloudFormation execution and deploy roles and by StackSet execution
// roles are expected.
func BuiltinProtection() Protection {
	var res []string
	for _, k := range []string{"alarm", "function", "loggroup", "queue", "role", "rule", "table", "topic"} {
		for _, stack := range []string{centralStack, forwarderStack, "StackSet-" + forwarderSet} {
			res = append(res, k+"/"+stack+"-*")
		}
	}
	res = append(res,
		"loggroup//aws/lambda/"+centralStack+"-*",
		"bucket/"+strings.ToLower(centralStack)+"-*",
		"bus/trailwatch-central",
		"alarm/TrailwatchForwarderDLQ",
		"stack/"+centralStack, "stack/"+forwarderStack, "stack/StackSet-"+forwarderSet+"-*",
		"stackset/"+forwarderSet,
	)
	return Protection{
		Resources: res,
		Deployers: []string{
			"arn:aws*:iam::*:role/cdk-*-cfn-exec-role-*",
			"arn:aws*:iam::*:role/cdk-*-deploy-role-*",
			"arn:aws*:iam::*:role/stacksets-exec-*",
			"arn:aws*:iam::*:role/AWSCloudFormationStackSetExecutionRole",
		},
	}
}

// ParseProtection reads the JSON the CDK app passes the detect function
// ({"resources": [...], "deployers": [...]}) and checks it.
func ParseProtection(s string) (Protection, error) {
	var p Protection
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("self-protection: %w", err)
	}
	if err := p.Validate(); err != nil {
		return p, err
	}
	return p, nil
}

// Validate checks every resource and deployer.
func (p Protection) Validate() error {
	for _, r := range p.Resources {
		kind, name, ok := strings.Cut(r, "/")
		if !ok || !isKind(kind) || strings.TrimSpace(name) == "" || name == "*" {
			return fmt.Errorf("self-protection resource %q: want KIND/NAME with KIND one of %s", r, strings.Join(ProtectedKinds, ", "))
		}
	}
	for _, d := range p.Deployers {
		if !strings.HasPrefix(d, "arn:") || d == "arn:*" || strings.Count(d, ":") < 5 {
			return fmt.Errorf("self-protection deployer %q: want a principal ARN, * matching any characters", d)
		}
	}
	return nil
}

func isKind(k string) bool {
	for _, x := range ProtectedKinds {
		if x == k {
			return true
		}
	}
	return false
}

// Merge returns p with q's resources and deployers added.
func (p Protection) Merge(q Protection) Protection {
	return Protection{
		Resources: append(append([]string(nil), p.Resources...), q.Resources...),
		Deployers: append(append([]string(nil), p.Deployers...), q.Deployers...),
	}
}

// ProtectedSet is a compiled Protection: what targets_trailwatch guards.
type ProtectedSet struct {
	exact     map[string]bool // "kind/name"
	prefixes  []string        // "kind/prefix"
	deployers []*regexp.Regexp
}

// NewProtectedSet validates p and compiles it together with
// BuiltinProtection.
func NewProtectedSet(p Protection) (*ProtectedSet, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return compileProtection(BuiltinProtection().Merge(p)), nil
}

func compileProtection(p Protection) *ProtectedSet {
	s := &ProtectedSet{exact: map[string]bool{}}
	for _, r := range p.Resources {
		kind, name, _ := strings.Cut(r, "/")
		name = normalizeName(kind, name)
		if pre, ok := strings.CutSuffix(name, "*"); ok {
			s.prefixes = append(s.prefixes, kind+"/"+pre)
			continue
		}
		s.exact[kind+"/"+name] = true
	}
	sort.Strings(s.prefixes)
	for _, d := range p.Deployers {
		s.deployers = append(s.deployers, globRegexp(d))
	}
	return s
}

// globRegexp compiles a glob where * matches any run of characters.
func globRegexp(g string) *regexp.Regexp {
	parts := strings.Split(g, "*")
	for i := range parts {
		parts[i] = regexp.QuoteMeta(parts[i])
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
}

func (s *ProtectedSet) covers(kind, name string) bool {
	if name == "" {
		return false
	}
	key := kind + "/" + name
	if s.exact[key] {
		return true
	}
	for _, p := range s.prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// deployer reports whether the caller is one of the deployers.
func (s *ProtectedSet) deployer(ev *events.Event) bool {
	arns := []string{ev.PrincipalARN, assumedRoleARN(ev.PrincipalARN)}
	if ev.Record != nil && ev.Record.UserIdentity.SessionContext != nil {
		arns = append(arns, ev.Record.UserIdentity.SessionContext.SessionIssuer.ARN)
	}
	for _, a := range arns {
		if a == "" {
			continue
		}
		for _, re := range s.deployers {
			if re.MatchString(a) {
				return true
			}
		}
	}
	return false
}

// assumedRoleARN returns the role ARN of an assumed-role session ARN
// (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION), or "".
func assumedRoleARN(arn string) string {
	head, rest, ok := strings.Cut(arn, ":assumed-role/")
	if !ok || !strings.Contains(head, ":sts:") {
		return ""
	}
	role, _, _ := strings.Cut(rest, "/")
	return strings.Replace(head, ":sts:", ":iam:", 1) + ":role/" + role
}

// normalizeName reduces an identifier as a request may give it (an ARN, a
// queue URL, a stack ID, a qualified function name) to the name a
// Protection lists.
func normalizeName(kind, v string) string {
	v = strings.TrimSpace(v)
	switch kind {
	case "queue":
		if strings.HasPrefix(v, "https://") || strings.HasPrefix(v, "http://") {
			return v[strings.LastIndex(v, "/")+1:]
		}
		if strings.HasPrefix(v, "arn:") {
			return v[strings.LastIndex(v, ":")+1:]
		}
	case "function":
		if _, after, ok := strings.Cut(v, "function:"); ok {
			v = after
			if i := strings.Index(v, ":"); i >= 0 {
				v = v[:i] // a version or alias qualifier
			}
		}
	case "topic":
		if strings.HasPrefix(v, "arn:") {
			return v[strings.LastIndex(v, ":")+1:]
		}
	case "table":
		if _, after, ok := strings.Cut(v, ":table/"); ok {
			v, _, _ = strings.Cut(after, "/")
		}
	case "parameter":
		if _, after, ok := strings.Cut(v, ":parameter/"); ok {
			v = after
		}
		v = strings.TrimPrefix(v, "/")
	case "key":
		if _, after, ok := strings.Cut(v, ":key/"); ok {
			v = after
		} else if _, after, ok := strings.Cut(v, ":alias/"); ok {
			v = "alias/" + after
		}
	case "bucket":
		v = strings.TrimPrefix(v, "arn:aws:s3:::")
	case "bus":
		if _, after, ok := strings.Cut(v, ":event-bus/"); ok {
			v = after
		}
	case "rule":
		if strings.HasPrefix(v, "arn:") {
			v = v[strings.LastIndex(v, "/")+1:]
		}
		if _, after, ok := strings.Cut(v, "|"); ok {
			v = after // CloudFormation's "bus|rule"
		}
	case "stack":
		if _, after, ok := strings.Cut(v, ":stack/"); ok {
			v, _, _ = strings.Cut(after, "/")
		}
	case "stackset":
		if _, after, ok := strings.Cut(v, ":stackset/"); ok {
			v = after
		}
		v, _, _ = strings.Cut(v, ":") // "name:uuid", the StackSet ID
	case "loggroup":
		if _, after, ok := strings.Cut(v, ":log-group:"); ok {
			v = strings.TrimSuffix(after, ":*")
		}
	case "role":
		if strings.HasPrefix(v, "arn:") {
			v = v[strings.LastIndex(v, "/")+1:]
		}
	}
	return v
}

// target is where an API family names the resource it changes.
type target struct {
	kind string
	// paths into requestParameters; "response:PATH" reads
	// responseElements. Every value found is a candidate.
	paths []string
	// subscription reads a subscription ARN (…:TOPIC:ID) for its topic.
	subscription bool
	// what names the kind in the finding's title. (events:PutPermission
	// without eventBusName acts on the default bus: no candidate, never
	// ours.)
	what string
}

// protectedAPIs maps "service:EventName" (Lambda's without its dated
// suffix) to where the call names its target. Data-plane calls
// (dynamodb:DeleteItem, s3:PutObject, sqs:ReceiveMessage) are not in it:
// EventBridge does not deliver data events to the ingest rule.
var protectedAPIs = map[string][]target{
	"events:PutRule":          {{kind: "rule", paths: []string{"name"}, what: "rule"}},
	"events:DeleteRule":       {{kind: "rule", paths: []string{"name"}, what: "rule"}},
	"events:DisableRule":      {{kind: "rule", paths: []string{"name"}, what: "rule"}},
	"events:PutTargets":       {{kind: "rule", paths: []string{"rule"}, what: "rule"}},
	"events:RemoveTargets":    {{kind: "rule", paths: []string{"rule"}, what: "rule"}},
	"events:PutPermission":    {{kind: "bus", paths: []string{"eventBusName"}, what: "event bus"}},
	"events:RemovePermission": {{kind: "bus", paths: []string{"eventBusName"}, what: "event bus"}},
	"events:DeleteEventBus":   {{kind: "bus", paths: []string{"name"}, what: "event bus"}},
	"events:UpdateEventBus":   {{kind: "bus", paths: []string{"name"}, what: "event bus"}},

	"sqs:SetQueueAttributes": {{kind: "queue", paths: []string{"queueUrl"}, what: "queue"}},
	"sqs:DeleteQueue":        {{kind: "queue", paths: []string{"queueUrl"}, what: "queue"}},
	"sqs:PurgeQueue":         {{kind: "queue", paths: []string{"queueUrl"}, what: "queue"}},
	"sqs:AddPermission":      {{kind: "queue", paths: []string{"queueUrl"}, what: "queue"}},
	"sqs:RemovePermission":   {{kind: "queue", paths: []string{"queueUrl"}, what: "queue"}},

	"lambda:UpdateFunctionCode":          {{kind: "function", paths: []string{"functionName"}, what: "function"}},
	"lambda:UpdateFunctionConfiguration": {{kind: "function", paths: []string{"functionName"}, what: "function"}},
	"lambda:PutFunctionConcurrency":      {{kind: "function", paths: []string{"functionName"}, what: "function"}},
	"lambda:DeleteFunctionConcurrency":   {{kind: "function", paths: []string{"functionName"}, what: "function"}},
	"lambda:DeleteFunction":              {{kind: "function", paths: []string{"functionName"}, what: "function"}},
	"lambda:AddPermission":               {{kind: "function", paths: []string{"functionName"}, what: "function"}},
	"lambda:RemovePermission":            {{kind: "function", paths: []string{"functionName"}, what: "function"}},
	"lambda:DeleteEventSourceMapping": {
		{kind: "function", paths: []string{"functionName", "response:functionArn"}, what: "function's event source"},
		{kind: "queue", paths: []string{"response:eventSourceArn"}, what: "queue's event source mapping"},
	},
	"lambda:UpdateEventSourceMapping": {
		{kind: "function", paths: []string{"functionName", "response:functionArn"}, what: "function's event source"},
		{kind: "queue", paths: []string{"response:eventSourceArn"}, what: "queue's event source mapping"},
	},

	"dynamodb:DeleteTable":             {{kind: "table", paths: []string{"tableName"}, what: "table"}},
	"dynamodb:UpdateTable":             {{kind: "table", paths: []string{"tableName"}, what: "table"}},
	"dynamodb:UpdateTimeToLive":        {{kind: "table", paths: []string{"tableName"}, what: "table"}},
	"dynamodb:UpdateContinuousBackups": {{kind: "table", paths: []string{"tableName"}, what: "table"}},
	"dynamodb:PutResourcePolicy":       {{kind: "table", paths: []string{"resourceArn"}, what: "table"}},
	"dynamodb:DeleteResourcePolicy":    {{kind: "table", paths: []string{"resourceArn"}, what: "table"}},

	"sns:DeleteTopic":               {{kind: "topic", paths: []string{"topicArn"}, what: "topic"}},
	"sns:SetTopicAttributes":        {{kind: "topic", paths: []string{"topicArn"}, what: "topic"}},
	"sns:Subscribe":                 {{kind: "topic", paths: []string{"topicArn"}, what: "topic"}},
	"sns:AddPermission":             {{kind: "topic", paths: []string{"topicArn"}, what: "topic"}},
	"sns:RemovePermission":          {{kind: "topic", paths: []string{"topicArn"}, what: "topic"}},
	"sns:Unsubscribe":               {{kind: "topic", paths: []string{"subscriptionArn"}, subscription: true, what: "topic's subscription"}},
	"sns:SetSubscriptionAttributes": {{kind: "topic", paths: []string{"subscriptionArn"}, subscription: true, what: "topic's subscription"}},

	"ssm:PutParameter":          {{kind: "parameter", paths: []string{"name"}, what: "parameter"}},
	"ssm:DeleteParameter":       {{kind: "parameter", paths: []string{"name"}, what: "parameter"}},
	"ssm:DeleteParameters":      {{kind: "parameter", paths: []string{"names"}, what: "parameter"}},
	"ssm:LabelParameterVersion": {{kind: "parameter", paths: []string{"name"}, what: "parameter"}},

	"kms:DisableKey":          {{kind: "key", paths: []string{"keyId"}, what: "KMS key"}},
	"kms:ScheduleKeyDeletion": {{kind: "key", paths: []string{"keyId"}, what: "KMS key"}},
	"kms:PutKeyPolicy":        {{kind: "key", paths: []string{"keyId"}, what: "KMS key"}},
	"kms:DisableKeyRotation":  {{kind: "key", paths: []string{"keyId"}, what: "KMS key"}},

	"s3:PutBucketPolicy":     {{kind: "bucket", paths: []string{"bucketName"}, what: "bucket"}},
	"s3:DeleteBucketPolicy":  {{kind: "bucket", paths: []string{"bucketName"}, what: "bucket"}},
	"s3:DeleteBucket":        {{kind: "bucket", paths: []string{"bucketName"}, what: "bucket"}},
	"s3:PutBucketAcl":        {{kind: "bucket", paths: []string{"bucketName"}, what: "bucket"}},
	"s3:PutBucketVersioning": {{kind: "bucket", paths: []string{"bucketName"}, what: "bucket"}},
	"s3:PutBucketLifecycle":  {{kind: "bucket", paths: []string{"bucketName"}, what: "bucket"}},
	"s3:PutBucketEncryption": {{kind: "bucket", paths: []string{"bucketName"}, what: "bucket"}},

	"cloudformation:DeleteStack":                 {{kind: "stack", paths: []string{"stackName"}, what: "stack"}},
	"cloudformation:UpdateStack":                 {{kind: "stack", paths: []string{"stackName"}, what: "stack"}},
	"cloudformation:CreateChangeSet":             {{kind: "stack", paths: []string{"stackName"}, what: "stack"}},
	"cloudformation:ExecuteChangeSet":            {{kind: "stack", paths: []string{"stackName"}, what: "stack"}},
	"cloudformation:SetStackPolicy":              {{kind: "stack", paths: []string{"stackName"}, what: "stack"}},
	"cloudformation:UpdateTerminationProtection": {{kind: "stack", paths: []string{"stackName"}, what: "stack"}},
	"cloudformation:UpdateStackSet":              {{kind: "stackset", paths: []string{"stackSetName"}, what: "StackSet"}},
	"cloudformation:DeleteStackSet":              {{kind: "stackset", paths: []string{"stackSetName"}, what: "StackSet"}},
	"cloudformation:DeleteStackInstances":        {{kind: "stackset", paths: []string{"stackSetName"}, what: "StackSet"}},
	"cloudformation:UpdateStackInstances":        {{kind: "stackset", paths: []string{"stackSetName"}, what: "StackSet"}},

	"logs:DeleteLogGroup":        {{kind: "loggroup", paths: []string{"logGroupName"}, what: "log group"}},
	"logs:PutRetentionPolicy":    {{kind: "loggroup", paths: []string{"logGroupName"}, what: "log group"}},
	"logs:DeleteRetentionPolicy": {{kind: "loggroup", paths: []string{"logGroupName"}, what: "log group"}},

	"monitoring:DeleteAlarms":        {{kind: "alarm", paths: []string{"alarmNames"}, what: "alarm"}},
	"monitoring:DisableAlarmActions": {{kind: "alarm", paths: []string{"alarmNames"}, what: "alarm"}},
	"monitoring:PutMetricAlarm":      {{kind: "alarm", paths: []string{"alarmName"}, what: "alarm"}},

	"iam:PutRolePolicy":          {{kind: "role", paths: []string{"roleName"}, what: "role"}},
	"iam:DeleteRolePolicy":       {{kind: "role", paths: []string{"roleName"}, what: "role"}},
	"iam:AttachRolePolicy":       {{kind: "role", paths: []string{"roleName"}, what: "role"}},
	"iam:DetachRolePolicy":       {{kind: "role", paths: []string{"roleName"}, what: "role"}},
	"iam:UpdateAssumeRolePolicy": {{kind: "role", paths: []string{"roleName"}, what: "role"}},
	"iam:DeleteRole":             {{kind: "role", paths: []string{"roleName"}, what: "role"}},
}

// ProtectedAPIs returns the APIs whose targets targets_trailwatch reads,
// sorted, Lambda's with a trailing * for its dated names.
func ProtectedAPIs() []string {
	var out []string
	for api := range protectedAPIs {
		if strings.HasPrefix(api, "lambda:") {
			api += "*"
		}
		out = append(out, api)
	}
	sort.Strings(out)
	return out
}

// lambdaVersion is the dated suffix of Lambda's event names.
var lambdaVersion = regexp.MustCompile(`\d{8}(v\d+)?$`)

// protectedTargets returns the Trailwatch resources the call changes, as
// "the KIND NAME" phrases, or nil.
func protectedTargets(ev *events.Event, p *params, set *ProtectedSet) []string {
	api := ev.API
	if ev.Service == "lambda" {
		api = lambdaVersion.ReplaceAllString(api, "")
	}
	var hits []string
	var resp *params
	for _, t := range protectedAPIs[api] {
		for _, path := range t.paths {
			src := p
			if rest, ok := strings.CutPrefix(path, "response:"); ok {
				if resp == nil {
					resp = &params{}
					if ev.Record != nil {
						resp.raw = ev.Record.ResponseElements
					}
				}
				src, path = resp, rest
			}
			for _, v := range src.at(path) {
				for _, s := range asStrings(v) {
					if t.subscription {
						s = subscriptionTopic(s)
					}
					name := normalizeName(t.kind, s)
					if set.covers(t.kind, name) {
						hits = append(hits, "the "+t.what+" "+name)
					}
				}
			}
		}
	}
	return hits
}

// subscriptionTopic returns the topic ARN of a subscription ARN
// (arn:aws:sns:REGION:ACCOUNT:TOPIC:ID).
func subscriptionTopic(arn string) string {
	if strings.Count(arn, ":") < 6 {
		return ""
	}
	return arn[:strings.LastIndex(arn, ":")]
}

var builtinProtected = compileProtection(BuiltinProtection())

// targetsTrailwatch is the targets_trailwatch condition: the call changes
// one of Trailwatch's own resources and the caller is not a deployer. Its
// verdict is pinned: the rule's floor holds however often the principal
// did it before.
func targetsTrailwatch(ev *events.Event, p *params, _ *Condition) verdict {
	set := p.protected
	if set == nil {
		set = builtinProtected
	}
	hits := protectedTargets(ev, p, set)
	if len(hits) == 0 {
		return safe
	}
	if set.deployer(ev) {
		// Expected: no rule judges a deployment's own changes.
		return verdict{settled: true}
	}
	v := risky("changed Trailwatch's own resources (" + strings.Join(hits, ", ") + ") with " + ev.API)
	v.pinned = true
	return v
}
