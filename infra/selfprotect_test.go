package infra

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/trailwatch/trailwatch/infra/internal/detection"
	"github.com/trailwatch/trailwatch/infra/internal/state"
)

// selfProtectionOf renders the detect function's SELF_PROTECTION value
// with each deploy-time reference as "<LOGICALID>" (Ref) or
// "<LOGICALID.Attr>" (Fn::GetAtt), and returns it with the number of
// references.
func selfProtectionOf(t *testing.T) (string, int) {
	t.Helper()
	for id, fn := range resources(fixture.centralTpl, "AWS::Lambda::Function") {
		if functionName(id) != "detect" {
			continue
		}
		v := asMap(asMap(props(fn)["Environment"])["Variables"])[detection.SelfProtectionVariable]
		join, ok := asMap(v)["Fn::Join"].([]interface{})
		if !ok || len(join) != 2 || join[0] != "" {
			t.Fatalf("%s = %v, want an Fn::Join of the resources' references", detection.SelfProtectionVariable, v)
		}
		var b strings.Builder
		n := 0
		for _, part := range asList(join[1]) {
			switch p := part.(type) {
			case string:
				b.WriteString(p)
			default:
				m := asMap(p)
				n++
				if r, ok := m["Ref"].(string); ok {
					b.WriteString("<" + r + ">")
				} else if ga, ok := m["Fn::GetAtt"].([]interface{}); ok && len(ga) == 2 {
					b.WriteString(fmt.Sprintf("<%v.%v>", ga[0], ga[1]))
				} else {
					t.Fatalf("unexpected part %v", p)
				}
			}
		}
		return b.String(), n
	}
	t.Fatal("no detect function")
	return "", 0
}

// TestSelfProtectionEnvironment: the CDK app passes the detect function
// the identifier of every queue, function (but its own), table, topic,
// parameter, key and bucket of the central stack,
// each taken from the resource itself by the attribute its API calls use,
// within Lambda's 4 KB environment.
func TestSelfProtectionEnvironment(t *testing.T) {
	value, refs := selfProtectionOf(t)
	var p struct {
		Resources []string `json:"resources"`
	}
	dec := json.NewDecoder(strings.NewReader(value))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("%s is not the protection JSON: %v\n%s", detection.SelfProtectionVariable, err, value)
	}
	got := append([]string(nil), p.Resources...)
	sort.Strings(got)

	attr := map[string]string{"AWS::SQS::Queue": ".QueueName", "AWS::SNS::Topic": ".TopicName"}
	var want []string
	for typ, kind := range map[string]string{
		"AWS::SQS::Queue": "queue", "AWS::Lambda::Function": "function", "AWS::DynamoDB::Table": "table",
		"AWS::SNS::Topic": "topic", "AWS::SSM::Parameter": "parameter", "AWS::KMS::Key": "key",
		"AWS::S3::Bucket": "bucket",
	} {
		for id := range resources(fixture.centralTpl, typ) {
			if typ == "AWS::Lambda::Function" && functionName(id) == "detect" {
				continue // its own name would be a circular reference
			}
			want = append(want, kind+"/<"+id+attr[typ]+">")
		}
	}
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("SELF_PROTECTION resources\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if must := "table/<" + state.TableLogicalID + ">"; !contains(got, must) {
		t.Errorf("SELF_PROTECTION lacks %s", must)
	}
	for _, kind := range []string{"queue/", "key/", "topic/", "parameter/", "bucket/", "function/"} {
		n := 0
		for _, r := range got {
			if strings.HasPrefix(r, kind) {
				n++
			}
		}
		if n == 0 {
			t.Errorf("SELF_PROTECTION names no %s resource", strings.TrimSuffix(kind, "/"))
		}
	}

	// Lambda limits the environment, names and values, to 4 KB. A
	// deploy-time name is at most 80 characters here (SQS's limit; the
	// others CloudFormation generates are shorter; a key ID has 36).
	total := 0
	for id, fn := range resources(fixture.centralTpl, "AWS::Lambda::Function") {
		if functionName(id) != "detect" {
			continue
		}
		for k, v := range asMap(asMap(props(fn)["Environment"])["Variables"]) {
			total += len(k)
			if s, ok := v.(string); ok {
				total += len(s)
			} else if k != detection.SelfProtectionVariable {
				total += 80
			}
		}
	}
	literal := len(value)
	for _, r := range got {
		literal -= len(r) - strings.Index(r, "/") - 1
	}
	total += literal + refs*80
	if total > 4096 {
		t.Errorf("detect's environment may reach %d bytes at deploy time; Lambda allows 4096", total)
	}
	t.Logf("%d resources, worst-case environment %d bytes", len(got), total)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
