package detectors_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/trailwatch/trailwatch/detectors"
	dt "github.com/trailwatch/trailwatch/detectors/detectorstest"
	"github.com/trailwatch/trailwatch/events"
)

// TestResourceOf: each API family names the resource a call changes, by
// name or by ARN (reduced to the name), and nothing for reads, denied
// calls, families where the target does not matter, or calls naming none.
func TestResourceOf(t *testing.T) {
	tests := []struct {
		name, api, params string
		opts              []dt.Opt
		want              string
	}{
		{"lambda by name", "lambda:UpdateFunctionCode20150331v2", `{"functionName":"orders"}`, nil, "fn orders"},
		{"lambda by qualified ARN", "lambda:UpdateFunctionConfiguration20150331v2", `{"functionName":"arn:aws:lambda:us-east-1:111122223333:function:orders:live"}`, nil, "fn orders"},
		{"cloudformation by name", "cloudformation:UpdateStack", `{"stackName":"orders-service"}`, nil, "stack orders-service"},
		{"cloudformation by stack ID", "cloudformation:DeleteStack", `{"stackName":"arn:aws:cloudformation:us-east-1:111122223333:stack/orders-service/0e1f-42"}`, nil, "stack orders-service"},
		{"ecr repository", "ecr:PutImage", `{"repositoryName":"checkout","imageTag":"v1"}`, nil, "ecr checkout"},
		{"codecommit repository", "codecommit:CreateCommit", `{"repositoryName":"infra","branchName":"main"}`, nil, "git infra"},
		{"iam role", "iam:AttachRolePolicy", `{"roleName":"deploy","policyArn":"arn:aws:iam::aws:policy/ReadOnlyAccess"}`, nil, "role deploy"},
		{"iam user", "iam:CreateAccessKey", `{"userName":"svc-backup"}`, nil, "user svc-backup"},
		{"iam group", "iam:PutGroupPolicy", `{"groupName":"admins","policyName":"p"}`, nil, "group admins"},
		{"iam managed policy by ARN", "iam:CreatePolicyVersion", `{"policyArn":"arn:aws:iam::111122223333:policy/team/boundary"}`, nil, "policy boundary"},
		{"s3 bucket", "s3:PutBucketPolicy", `{"bucketName":"reports","bucketPolicy":{}}`, nil, "s3 reports"},
		{"secret by ARN", "secretsmanager:PutSecretValue", `{"secretId":"arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf"}`, nil, "secret db-AbCdEf"},
		{"secret created by name", "secretsmanager:CreateSecret", `{"name":"db"}`, nil, "secret db"},
		{"param with and without slash", "ssm:PutParameter", `{"name":"/prod/db/password","type":"SecureString"}`, nil, "param prod/db/password"},
		{"param by ARN", "ssm:DeleteParameter", `{"name":"arn:aws:ssm:us-east-1:111122223333:parameter/prod/db/password"}`, nil, "param prod/db/password"},
		{"kms key", "kms:ScheduleKeyDeletion", `{"keyId":"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab"}`, nil, "kms key/1234abcd-12ab"},
		{"security group", "ec2:AuthorizeSecurityGroupIngress", `{"groupId":"sg-0a1b2c3d"}`, nil, "sg sg-0a1b2c3d"},
		{"trail", "cloudtrail:StopLogging", `{"name":"arn:aws:cloudtrail:us-east-1:111122223333:trail/org-trail"}`, nil, "trail org-trail"},
		{"trail selectors", "cloudtrail:PutEventSelectors", `{"trailName":"org-trail"}`, nil, "trail org-trail"},
		{"log group", "logs:DeleteLogGroup", `{"logGroupName":"/aws/lambda/orders"}`, nil, "logs /aws/lambda/orders"},
		{"config recorder", "config:StopConfigurationRecorder", `{"configurationRecorderName":"default"}`, nil, "recorder default"},

		{"decoy nested under another parameter", "lambda:UpdateFunctionCode20150331v2", `{"environment":{"functionName":"decoy"},"functionName":"payments"}`, nil, "fn payments"},
		{"escaped name", "lambda:UpdateFunctionCode20150331v2", `{"functionName":"pay\u006dents"}`, nil, "fn payments"},
		{"braces and quotes inside strings before the key", "cloudformation:UpdateStack", `{"tags":[{"k":"}{\"x","v":"]"}],"stackName" : "orders-service"}`, nil, "stack orders-service"},
		{"first preferred key wins", "iam:AttachRolePolicy", `{"policyArn":"arn:aws:iam::aws:policy/ReadOnlyAccess","roleName":"deploy"}`, nil, "role deploy"},
		{"read-only call", "lambda:GetFunction20150331v2", `{"functionName":"orders"}`, []dt.Opt{dt.Mutating(false)}, ""},
		{"denied call (named here; Observe does not learn it)", "lambda:UpdateFunctionCode20150331v2", `{"functionName":"orders"}`, []dt.Opt{dt.Err("AccessDenied")}, "fn orders"},
		{"family without targets", "dynamodb:PutItem", `{"tableName":"orders"}`, nil, ""},
		{"ec2 call outside security groups", "ec2:RunInstances", `{"groupId":"sg-0a1b2c3d"}`, nil, ""},
		{"ssm call outside parameters", "ssm:SendCommand", `{"name":"AWS-RunShellScript"}`, nil, ""},
		{"no parameters", "iam:CreateRole", ``, nil, ""},
		{"parameter of another type", "lambda:UpdateFunctionCode20150331v2", `{"functionName":{"nested":true}}`, nil, ""},
		{"malformed parameters", "lambda:UpdateFunctionCode20150331v2", `{"functionName":`, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := append([]dt.Opt{dt.Params(tt.params)}, tt.opts...)
			ev := dt.Event("111122223333:role/deploy", tt.api, at(10, 10, 0), opts...)
			if got := detectors.ResourceOf(&ev); got != tt.want {
				t.Errorf("ResourceOf(%s %s) = %q, want %q", tt.api, tt.params, got, tt.want)
			}
			if tt.want != "" && detectors.ResourceLabel(tt.want) == tt.want {
				t.Errorf("ResourceLabel(%q) says nothing more", tt.want)
			}
		})
	}
}

// TestDeniedCallTeachesNoResource: a denied call's resource is not one the
// principal changed; the baseline does not learn it.
func TestDeniedCallTeachesNoResource(t *testing.T) {
	b := detectors.NewBaseline("111122223333:role/deploy")
	ev := dt.Event("111122223333:role/deploy", "lambda:UpdateFunctionCode20150331v2", at(10, 10, 0),
		dt.Params(`{"functionName":"orders"}`), dt.Err("AccessDenied"))
	if ev.ErrClass != events.ErrDenied {
		t.Fatalf("fixture not denied: %q", ev.ErrClass)
	}
	detectors.Learn(nil, b, &ev)
	if n := len(b.Dims[detectors.DimResource].Values); n != 0 {
		t.Errorf("denied call taught %d resources", n)
	}
}

// FuzzTopStrings: on any JSON object, topStrings reads the same top-level
// string values as encoding/json; on anything else it never panics.
func FuzzTopStrings(f *testing.F) {
	for _, seed := range []string{
		`{"functionName":"orders"}`,
		`{"environment":{"functionName":"decoy"},"functionName":"payments"}`,
		`{"tags":[{"k":"}{\"x"}],"stackName":"s","n":1.5e3,"b":true,"z":null}`,
		`{"functionName":"a\"b\\c\u00e9"}`,
		`{"functionName":`, `[]`, `"x"`, ``,
	} {
		f.Add([]byte(seed))
	}
	keys := []string{"functionName", "stackName", "n", "b"}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got := detectors.TopStrings(raw, keys)
		var m map[string]any
		if json.Unmarshal(raw, &m) != nil {
			return
		}
		for i, k := range keys {
			want, _ := m[k].(string)
			if dup := bytes.Count(raw, []byte(`"`+k+`"`)); dup > 1 {
				continue // encoding/json keeps the last duplicate, topStrings the first
			}
			if got[i] != want {
				t.Errorf("%q: key %s = %q, encoding/json reads %q", raw, k, got[i], want)
			}
		}
	})
}
