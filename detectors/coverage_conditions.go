package detectors

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/trailwatch/trailwatch/events"
)

// Conditions added for coverage of known attack techniques (issue 14,
// rules/07-coverage.yaml). Each judges by meaning what the generic
// parameter conditions cannot: a parameter that is absent, a number above
// or below a bound, an account named in a resource policy or a replication
// destination, an instance type, a session policy, a web ACL that lets
// everything through. They are registered in the vocabulary (rules.go).

// paramAbsent: the parameter at path is absent, null or empty ("", [] or
// {}). A PutBucketLogging without LoggingEnabled turns logging off.
func paramAbsent(_ *events.Event, p *params, c *Condition) verdict {
	for _, v := range p.at(c.Path) {
		if !emptyValue(v) {
			return safe
		}
	}
	return risky("")
}

func emptyValue(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(x) == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

// paramAtLeast: a number at path (a JSON number or a numeric string) is
// at least value. A value that is not a number never holds.
func paramAtLeast(_ *events.Event, p *params, c *Condition) verdict {
	return compareParam(p, c, func(x, bound float64) bool { return x >= bound })
}

// paramAtMost: a number at path is at most value.
func paramAtMost(_ *events.Event, p *params, c *Condition) verdict {
	return compareParam(p, c, func(x, bound float64) bool { return x <= bound })
}

func compareParam(p *params, c *Condition, holds func(x, bound float64) bool) verdict {
	bound, err := strconv.ParseFloat(strings.TrimSpace(c.Value), 64)
	if err != nil {
		return safe
	}
	for _, v := range p.at(c.Path) {
		if x, ok := number(v); ok && holds(x, bound) {
			return risky("")
		}
	}
	return safe
}

// number reads a JSON number or a numeric string (CloudTrail renders some
// XML APIs' numbers as strings).
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil
	}
	return 0, false
}

// resourcePolicyOutsideAccount judges a resource policy (bucket, key,
// secret, repository) or a Lambda permission that names a principal of
// another account: the data or the function becomes reachable from there.
// Public grants are resource_policy_public's; a statement that names
// everyone is skipped here.
func resourcePolicyOutsideAccount(ev *events.Event, p *params, _ *Condition) verdict {
	m := p.get()
	if m == nil {
		return safe
	}
	own := ev.Account
	if pr, ok := m["principal"].(string); ok {
		// Lambda AddPermission: an account ID or an IAM ARN.
		if acct := accountOf(strings.TrimSpace(pr)); acct != "" && acct != own {
			fn := asString(m["functionName"])
			return risky(fmt.Sprintf("granted %s on function %s to outside account %s", firstNonEmpty(asString(m["action"]), "invoke"), fn, acct)).to("account " + acct)
		}
		return safe
	}
	pol, target, v, done := resourcePolicy(m)
	if done {
		return v
	}
	for i := range pol.Statement {
		st := &pol.Statement[i]
		if !st.Allows() || st.PublicPrincipal() {
			continue
		}
		for _, pr := range st.Principal.Values("AWS") {
			if acct := accountOf(strings.TrimSpace(pr)); acct != "" && acct != own {
				return risky(fmt.Sprintf("granted %v on %s to outside account %s", []string(st.Action), target, acct)).to("account " + acct)
			}
		}
	}
	return safe
}

// replicationOutsideAccount judges an S3 replication configuration: a
// rule whose destination names another account (Destination.Account), or
// hands the replicas' ownership to the destination's owner
// (AccessControlTranslation.Owner "Destination", valid only across
// accounts), copies every new object out of the account.
func replicationOutsideAccount(ev *events.Event, p *params, _ *Condition) verdict {
	bucket := p.str("bucketName")
	for _, d := range p.at("ReplicationConfiguration.Rule.Destination") {
		dst, _ := d.(map[string]any)
		if dst == nil {
			continue
		}
		to := asString(dst["Bucket"])
		if acct := strings.TrimSpace(scalarString(dst["Account"])); acct != "" && acct != ev.Account {
			return risky(fmt.Sprintf("replicated bucket %s to %s in outside account %s", bucket, to, acct)).to("account " + acct)
		}
		if act, _ := dst["AccessControlTranslation"].(map[string]any); act != nil && strings.EqualFold(asString(act["Owner"]), "Destination") {
			return risky(fmt.Sprintf("replicated bucket %s to %s, owned by the destination's account", bucket, to)).to("destination owner")
		}
	}
	return safe
}

// instanceTypePattern splits an EC2 instance type: family letters,
// generation, attributes, size ("p4d.24xlarge", "g5.xlarge",
// "inf2.48xlarge", "m7i.metal-48xl").
var instanceTypePattern = regexp.MustCompile(`^([a-z]+)(\d+)([a-z0-9-]*)\.([a-z0-9-]+)$`)

// acceleratedFamilies are the EC2 families built around GPUs or other
// accelerators (what mining and model training on stolen credentials
// launch): P and G (GPU), Inf and Trn (Inferentia, Trainium), DL (Gaudi),
// F (FPGA), VT (video transcoding).
var acceleratedFamilies = map[string]string{
	"p": "GPU", "g": "GPU", "gr": "GPU", "inf": "Inferentia", "trn": "Trainium",
	"dl": "Gaudi", "f": "FPGA", "vt": "video transcoding",
}

// hugeSize is the least N of an Nxlarge size judged unusual.
const hugeSize = 24

// unusualInstanceType reports why an instance type is unusual: an
// accelerated family, bare metal, or a size of 24xlarge and up.
func unusualInstanceType(t string) (string, bool) {
	m := instanceTypePattern.FindStringSubmatch(strings.ToLower(strings.TrimSpace(t)))
	if m == nil {
		return "", false
	}
	if kind, ok := acceleratedFamilies[m[1]]; ok {
		return kind + " instance type " + t, true
	}
	size := m[4]
	if strings.HasPrefix(size, "metal") {
		return "bare-metal instance type " + t, true
	}
	if n, ok := strings.CutSuffix(size, "xlarge"); ok {
		if k, err := strconv.Atoi(n); err == nil && k >= hugeSize {
			return "very large instance type " + t, true
		}
	}
	return "", false
}

// instanceTypeUnusual judges the instance type of a launch (RunInstances'
// instanceType, a launch template's or a fleet's overrides).
func instanceTypeUnusual(_ *events.Event, p *params, _ *Condition) verdict {
	for _, path := range []string{"instanceType", "LaunchTemplateData.InstanceType", "CreateFleetRequest.LaunchTemplateConfigs.Overrides.InstanceType"} {
		for _, v := range p.at(path) {
			t := scalarString(v)
			if why, ok := unusualInstanceType(t); ok {
				return risky("launched " + why).to(t)
			}
		}
	}
	return safe
}

// sessionPolicyAdmin judges the session policy a federation token is
// minted with (GetFederationToken's policy): without one the session can
// do nothing, with an administrator grant it keeps all of the user's
// rights, and outlives the user's keys.
func sessionPolicyAdmin(_ *events.Event, p *params, _ *Condition) verdict {
	name := p.str("name")
	pol, ok, err := readPolicy(p.get()["policy"])
	switch {
	case !ok:
		return safe
	case err != nil:
		return unreadable("obtained federated credentials "+name+" with a session policy Trailwatch could not read", err)
	}
	lv, st := pol.Privilege()
	switch lv {
	case PrivilegeAdmin, PrivilegeEscalation:
		return risky(fmt.Sprintf("obtained federated credentials named %s keeping %s (%s)", name, st.describe(), lv)).to(lv.String())
	}
	return safe
}

// webACLAllowsAll judges a WAF web ACL update: a default action of allow
// and no rules left lets every request through while the ACL stays
// attached. Keys are matched case-insensitively (defaultAction or
// DefaultAction).
func webACLAllowsAll(_ *events.Event, p *params, _ *Condition) verdict {
	m := p.get()
	da, _ := fieldFold(m, "defaultAction").(map[string]any)
	if da == nil || fieldFold(da, "allow") == nil {
		return safe
	}
	if !emptyValue(fieldFold(m, "rules")) {
		return safe
	}
	return risky("left web ACL " + firstNonEmpty(asString(fieldFold(m, "name")), asString(fieldFold(m, "id"))) + " with no rules and a default action of allow (it lets every request through)")
}

// fieldFold returns m's value under key, matched case-insensitively.
func fieldFold(m map[string]any, key string) any {
	if v, ok := m[key]; ok {
		return v
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return nil
}
