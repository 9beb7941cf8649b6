package detectors

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/trailwatch/trailwatch/events"
)

// resourceFamily says, for one service, which top-level request parameters
// name the target and what kind of resource it is: the first present wins.
type resourceFamily struct {
	// only, when set, limits the family to APIs whose name contains it.
	only  string
	keys  []string // parameter names, in order of preference
	kinds []string // the kind each names
}

func family(only string, kv ...string) resourceFamily {
	f := resourceFamily{only: only}
	for i := 0; i+1 < len(kv); i += 2 {
		f.keys, f.kinds = append(f.keys, kv[i]), append(f.kinds, kv[i+1])
	}
	return f
}

// resourceFamilies are the services where a new target matters: code and
// deployments (functions, stacks, repositories), identities (roles, users,
// groups, policies), data (buckets, secrets, parameters, keys), network
// exposure (security groups), and logging (trails, log groups, recorders).
// A kind is a short code, stored in every baseline; resourceKinds says it
// in words.
var resourceFamilies = map[string]resourceFamily{
	"lambda":         family("", "functionName", "fn"),
	"cloudformation": family("", "stackName", "stack"),
	"ecr":            family("", "repositoryName", "ecr"),
	"codecommit":     family("", "repositoryName", "git"),
	"iam": family("", "roleName", "role", "userName", "user", "groupName", "group",
		"instanceProfileName", "iprof", "policyArn", "policy"),
	"s3":             family("", "bucketName", "s3"),
	"secretsmanager": family("", "secretId", "secret", "name", "secret"),
	"ssm":            family("Parameter", "name", "param"),
	"kms":            family("", "keyId", "kms"),
	"ec2":            family("SecurityGroup", "groupId", "sg"),
	"cloudtrail":     family("", "name", "trail", "trailName", "trail"),
	"logs":           family("", "logGroupName", "logs"),
	"config":         family("", "configurationRecorderName", "recorder"),
}

// resourceKinds says each kind code in words, for titles and reasons.
var resourceKinds = map[string]string{
	"fn": "Lambda function", "stack": "CloudFormation stack", "ecr": "ECR repository",
	"git": "CodeCommit repository", "role": "IAM role", "user": "IAM user", "group": "IAM group",
	"iprof": "instance profile", "policy": "IAM policy", "s3": "S3 bucket", "secret": "Secrets Manager secret",
	"param": "SSM parameter", "kms": "KMS key", "sg": "security group", "trail": "CloudTrail trail",
	"logs": "log group", "recorder": "Config recorder",
}

// ResourceLabel says a remembered resource ("fn orders") in words
// ("Lambda function orders").
func ResourceLabel(v string) string {
	code, name, ok := strings.Cut(v, " ")
	if words, known := resourceKinds[code]; ok && known {
		return words + " " + name
	}
	return v
}

// topStrings returns the string values of the named keys of a JSON
// object's top level ("" where a key is absent, not a string, or nested
// deeper: a decoy "functionName" inside another parameter is not the
// target), reading the object once without building it. On malformed JSON
// it returns what it read before the fault.
func topStrings(raw []byte, keys []string) []string {
	out := make([]string, len(keys))
	i := skipWS(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return out
	}
	i++
	for {
		i = skipWS(raw, i)
		if i >= len(raw) || raw[i] != '"' {
			return out
		}
		kEnd := endOfString(raw, i)
		if kEnd < 0 {
			return out
		}
		key := raw[i+1 : kEnd-1]
		i = skipWS(raw, kEnd)
		if i >= len(raw) || raw[i] != ':' {
			return out
		}
		i = skipWS(raw, i+1)
		vEnd := endOfValue(raw, i)
		if vEnd < 0 {
			return out
		}
		if raw[i] == '"' {
			for k, want := range keys {
				if out[k] == "" && string(key) == want {
					out[k] = jsonString(raw[i:vEnd])
				}
			}
		}
		i = skipWS(raw, vEnd)
		if i >= len(raw) || raw[i] != ',' {
			return out
		}
		i++
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// endOfString returns the index after the string starting at b[i] (a
// quote), or -1.
func endOfString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// endOfValue returns the index after the JSON value starting at b[i], or
// -1: strings by their quotes, objects and arrays by depth (skipping their
// strings), literals up to a delimiter.
func endOfValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return endOfString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				e := endOfString(b, j)
				if e < 0 {
					return -1
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' && b[j] != '\t' && b[j] != '\r' {
		j++
	}
	return j
}

// jsonString decodes a quoted JSON string: directly when it has no escape
// and is valid UTF-8, else as encoding/json does (which also replaces
// invalid bytes with U+FFFD).
func jsonString(q []byte) string {
	if bytes.IndexByte(q, '\\') < 0 && utf8.Valid(q) {
		return string(q[1 : len(q)-1])
	}
	var s string
	if json.Unmarshal(q, &s) != nil {
		return ""
	}
	return s
}

// maxResourceRunes bounds a remembered resource name.
const maxResourceRunes = 128

// ResourceOf names the resource a mutating call changes, as a principal's
// baseline remembers it: a kind code and the name ("fn prod-orders-api";
// ResourceLabel says it in words), or "" when the call is read-only, of a
// family where the target does not matter, names none, or was made by a
// person keyed per session (Event.Human): people meet new resources every
// day, and a new target tells about machines (a deploy role, CI, an
// instance's role). ARNs are reduced to the resource's name, so a function
// named by ARN in one call and by name in the next is one resource.
func ResourceOf(ev *events.Event) string {
	if !ev.Mutating || ev.Human || ev.Record == nil || len(ev.Record.RequestParameters) < 2 {
		return ""
	}
	fam, ok := resourceFamilies[ev.Service]
	if !ok || (fam.only != "" && !strings.Contains(ev.API, fam.only)) {
		return ""
	}
	vals := topStrings(ev.Record.RequestParameters, fam.keys)
	for i, name := range vals {
		kind := fam.kinds[i]
		name = resourceName(name)
		if kind == "param" {
			// "/prod/db" and "prod/db" name the same parameter.
			name = strings.TrimPrefix(name, "/")
		}
		if name != "" {
			return kind + " " + truncateRunes(name, maxResourceRunes)
		}
	}
	return ""
}

// resourceName reduces an ARN to the resource's own name: the part after
// the resource type ("function:NAME[:qualifier]", "stack/NAME/id",
// "policy/path/NAME", "trail/NAME", "secret:NAME"); other values are kept.
func resourceName(v string) string {
	v = strings.TrimSpace(v)
	if !strings.HasPrefix(v, "arn:") {
		return v
	}
	parts := strings.SplitN(v, ":", 6)
	if len(parts) < 6 {
		return v
	}
	res := parts[5]
	switch {
	case strings.HasPrefix(res, "function:"):
		res = strings.TrimPrefix(res, "function:")
		if i := strings.IndexByte(res, ':'); i >= 0 {
			res = res[:i]
		}
	case strings.HasPrefix(res, "stack/"):
		res = strings.TrimPrefix(res, "stack/")
		if i := strings.IndexByte(res, '/'); i >= 0 {
			res = res[:i]
		}
	case strings.HasPrefix(res, "secret:"):
		res = strings.TrimPrefix(res, "secret:")
	case strings.HasPrefix(res, "parameter/"):
		res = strings.TrimPrefix(res, "parameter")
	default:
		if i := strings.LastIndexByte(res, '/'); i >= 0 && !strings.HasPrefix(res, "key/") && !strings.HasPrefix(res, "alias/") {
			res = res[i+1:]
		}
	}
	return res
}
