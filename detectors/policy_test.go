package detectors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/trailwatch/trailwatch/events"
)

// mustStatement decodes one statement written as JSON.
func mustStatement(t *testing.T, js string) Statement {
	t.Helper()
	var s Statement
	if err := json.Unmarshal([]byte(js), &s); err != nil {
		t.Fatalf("statement %s: %v", js, err)
	}
	return s
}

func TestParsePolicyForms(t *testing.T) {
	const doc = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}`
	var asMap map[string]any
	if err := json.Unmarshal([]byte(doc), &asMap); err != nil {
		t.Fatal(err)
	}
	quoted, _ := json.Marshal(doc)
	cases := []struct {
		name string
		in   any
	}{
		{"decoded object", asMap},
		{"JSON string", doc},
		{"JSON string with surrounding space", "  \n" + doc + "\n"},
		{"raw bytes", []byte(doc)},
		{"raw message", json.RawMessage(doc)},
		{"URL-encoded", "%7B" + strings.TrimPrefix(urlEncode(doc), "%7B")},
		{"URL-encoded lower-case", strings.ToLower(urlEncode(doc)[:3]) + urlEncode(doc)[3:]},
		{"JSON string inside JSON", json.RawMessage(quoted)},
		{"single statement object", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}}`},
		{"element names in other case", `{"statement":[{"effect":"Allow","principal":"*","action":"s3:GetObject","resource":"*"}]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePolicy(tc.in)
			if err != nil {
				t.Fatalf("ParsePolicy: %v", err)
			}
			if len(p.Statement) != 1 {
				t.Fatalf("%d statements, want 1", len(p.Statement))
			}
			st := p.Statement[0]
			if !st.Allows() || !st.Principal.Everyone() || !reflect.DeepEqual([]string(st.Action), []string{"s3:GetObject"}) {
				t.Errorf("statement read as %+v", st)
			}
		})
	}

	for _, none := range []any{nil, "", "   ", "null", json.RawMessage("null"), []byte(`""`)} {
		if _, err := ParsePolicy(none); !errors.Is(err, ErrNoPolicy) {
			t.Errorf("ParsePolicy(%#v) = %v, want ErrNoPolicy", none, err)
		}
	}
	for _, bad := range []any{
		"{not json", "[1,2]", "%7Bnot%20json", "%zz", 42,
		`{"Statement":[{"Effect":"Allow","Action":{"a":1}}]}`,
		`{"Statement":[{"Effect":"Allow","Principal":["*"]}]}`,
		`{"Statement":[{"Effect":"Allow","Condition":{"StringEquals":"x"}}]}`,
		`{"Statement":"x"}`,
	} {
		if p, err := ParsePolicy(bad); err == nil || errors.Is(err, ErrNoPolicy) {
			t.Errorf("ParsePolicy(%#v) = %+v, %v; want a parse error", bad, p, err)
		}
	}
}

func urlEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

func TestStringList(t *testing.T) {
	cases := []struct {
		in   string
		want []string
		err  bool
	}{
		{`"s3:GetObject"`, []string{"s3:GetObject"}, false},
		{`["a","b"]`, []string{"a", "b"}, false},
		{`true`, []string{"true"}, false},
		{`[3600, false]`, []string{"3600", "false"}, false},
		{`[]`, []string{}, false},
		{`null`, []string{}, false},
		{`{"a":"b"}`, nil, true},
		{`[["nested"]]`, nil, true},
	}
	for _, tc := range cases {
		var l StringList
		err := json.Unmarshal([]byte(tc.in), &l)
		if (err != nil) != tc.err {
			t.Errorf("%s: error %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if !tc.err && (l == nil || !reflect.DeepEqual([]string(l), tc.want)) {
			t.Errorf("%s: %#v, want %#v (present lists are never nil)", tc.in, l, tc.want)
		}
	}
}

func TestPublicPrincipal(t *testing.T) {
	cases := []struct {
		stmt string
		want bool
	}{
		{`{"Principal":"*"}`, true},
		{`{"Principal":{"AWS":"*"}}`, true},
		{`{"Principal":{"AWS":["*"]}}`, true},
		{`{"Principal":{"AWS":["arn:aws:iam::444455556666:root","*"]}}`, true},
		{`{"Principal":{"aws":"*"}}`, true},
		{`{"Principal":{"CanonicalUser":"*"}}`, true},
		{`{"Principal":{"AWS":"arn:aws:iam::*:root"}}`, true}, // AWS rejects it; read as everyone
		{`{"Principal":{"AWS":"arn:aws:iam::444455556666:root"}}`, false},
		{`{"Principal":{"Service":"cloudtrail.amazonaws.com"}}`, false},
		{`{"Principal":"arn:aws:iam::444455556666:root"}`, false},
		{`{"NotPrincipal":{"AWS":"arn:aws:iam::444455556666:root"}}`, true}, // everyone but one account
		{`{"NotPrincipal":{"AWS":"*"}}`, false},                             // everyone but everyone
		{`{}`, false},
	}
	for _, tc := range cases {
		st := mustStatement(t, tc.stmt)
		if got := st.PublicPrincipal(); got != tc.want {
			t.Errorf("%s: PublicPrincipal %v, want %v", tc.stmt, got, tc.want)
		}
	}
}

// TestConditionRestriction is the table of condition clauses: which ones
// confine a public principal (the statement stays non-public) and which do
// not.
func TestConditionRestriction(t *testing.T) {
	cases := []struct {
		name string
		cond string
		want bool
	}{
		// Identity keys under operators that must match.
		{"org ID StringEquals", `{"StringEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}`, true},
		{"key names are case-insensitive", `{"StringEquals":{"AWS:PrincipalOrgId":"o-a1b2c3d4e5"}}`, true},
		{"operator names are case-insensitive", `{"stringequals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}`, true},
		{"account StringEqualsIgnoreCase", `{"StringEqualsIgnoreCase":{"aws:PrincipalAccount":"111122223333"}}`, true},
		{"source account list", `{"StringEquals":{"aws:SourceAccount":["111122223333","444455556666"]}}`, true},
		{"source owner", `{"StringEquals":{"aws:SourceOwner":"111122223333"}}`, true},
		{"source VPC", `{"StringEquals":{"aws:SourceVpc":"vpc-111bbb22"}}`, true},
		{"source VPC endpoint StringLike literal", `{"StringLike":{"aws:SourceVpce":"vpce-1a2b3c4d"}}`, true},
		{"kms:CallerAccount", `{"StringEquals":{"kms:CallerAccount":"111122223333"}}`, true},
		{"source org ID", `{"StringEquals":{"aws:SourceOrgID":"o-a1b2c3d4e5"}}`, true},
		{"ForAnyValue keeps the operator", `{"ForAnyValue:StringEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}`, true},
		{"StringEquals takes * literally", `{"StringEquals":{"aws:PrincipalOrgID":"*"}}`, true},
		// Identity keys that admit anyone.
		{"StringLike bare *", `{"StringLike":{"aws:PrincipalOrgID":"*"}}`, false},
		{"StringLike ?*", `{"StringLike":{"aws:PrincipalOrgID":"?*"}}`, false},
		{"StringLike partial wildcard ID", `{"StringLike":{"aws:PrincipalOrgID":"o-*"}}`, false},
		{"one wildcard value among literals", `{"StringLike":{"aws:SourceAccount":["111122223333","*"]}}`, false},
		{"IfExists", `{"StringEqualsIfExists":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}`, false},
		{"ForAllValues on a single-valued key", `{"ForAllValues:StringEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}`, false},
		{"Null", `{"Null":{"aws:PrincipalOrgID":"false"}}`, false},
		{"negated", `{"StringNotEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}`, false},
		{"empty value list", `{"StringEquals":{"aws:PrincipalOrgID":[]}}`, false},
		{"empty value", `{"StringEquals":{"aws:PrincipalOrgID":""}}`, false},
		{"policy variable", `{"StringEquals":{"aws:PrincipalAccount":"${aws:PrincipalAccount}"}}`, false},
		// Organization paths.
		{"org path under an OU", `{"ForAnyValue:StringLike":{"aws:PrincipalOrgPaths":"o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/*"}}`, true},
		{"org path any organization", `{"ForAnyValue:StringLike":{"aws:PrincipalOrgPaths":"o-*/*"}}`, false},
		{"org path *", `{"ForAnyValue:StringLike":{"aws:PrincipalOrgPaths":"*"}}`, false},
		// ARNs.
		{"principal ARN own account role wildcard", `{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/*"}}`, true},
		{"principal ARN any account", `{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/*"}}`, false},
		{"principal ARN account with ?", `{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::11112222333?:root"}}`, false},
		{"ArnEquals takes wildcards too", `{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::*:root"}}`, false},
		{"source ARN of a bucket", `{"ArnLike":{"aws:SourceArn":"arn:aws:s3:::uploads"}}`, true},
		{"source ARN any bucket", `{"ArnLike":{"aws:SourceArn":"arn:aws:s3:::*"}}`, false},
		{"source ARN trail in own account", `{"StringEquals":{"aws:SourceArn":"arn:aws:cloudtrail:us-east-1:111122223333:trail/org"}}`, true},
		{"source ARN not an ARN under ArnLike", `{"ArnLike":{"aws:SourceArn":"*"}}`, false},
		{"source VPC ARN", `{"ArnEquals":{"aws:SourceVpcArn":"arn:aws:ec2:us-east-1:111122223333:vpc/vpc-111bbb22"}}`, true},
		// Addresses.
		{"source IP private /8", `{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, true},
		{"source IP bare address", `{"IpAddress":{"aws:SourceIp":["203.0.113.7","2001:db8::/32"]}}`, true},
		{"source IP /0", `{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}`, false},
		{"source IP IPv6 /0", `{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","::/0"]}}`, false},
		{"source IP written with another address /0", `{"IpAddress":{"aws:SourceIp":"10.1.2.3/0"}}`, false},
		{"source IP two halves", `{"IpAddress":{"aws:SourceIp":["0.0.0.0/1","128.0.0.0/1"]}}`, false},
		{"source IP unreadable value", `{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","internal"]}}`, false},
		{"NotIpAddress", `{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, false},
		{"IpAddressIfExists", `{"IpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}}`, false},
		{"string operator on the IP key", `{"StringEquals":{"aws:SourceIp":"10.0.0.1"}}`, false},
		{"IP operator on an ID key", `{"IpAddress":{"aws:SourceAccount":"10.0.0.0/8"}}`, false},
		// Keys that say nothing about who the caller is.
		{"user agent", `{"StringLike":{"aws:UserAgent":"*"}}`, false},
		{"user agent literal", `{"StringEquals":{"aws:UserAgent":"my-tool/1.0"}}`, false},
		{"secure transport", `{"Bool":{"aws:SecureTransport":"true"}}`, false},
		{"current time", `{"DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}`, false},
		{"kms:ViaService alone", `{"StringEquals":{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}`, false},
		{"function URL auth type", `{"StringEquals":{"lambda:FunctionUrlAuthType":"NONE"}}`, false},
		// Clauses are ANDed: one restricting clause is enough.
		{"restricting and non-restricting", `{"StringLike":{"aws:UserAgent":"*"},"StringEquals":{"aws:SourceVpce":"vpce-1a2b3c4d"}}`, true},
		{"two keys in one operator", `{"StringEquals":{"aws:UserAgent":"x","aws:SourceAccount":"111122223333"}}`, true},
		{"none", `{}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var c Conditions
			if err := json.Unmarshal([]byte(tc.cond), &c); err != nil {
				t.Fatal(err)
			}
			clause, got := c.Restriction()
			if got != tc.want {
				t.Errorf("%s: restricts %v (clause %q), want %v", tc.cond, got, clause, tc.want)
			}
			// The same clause on a public statement decides whether it is public.
			st := mustStatement(t, `{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":`+tc.cond+`}`)
			if st.GrantsPublic() == tc.want {
				t.Errorf("%s: GrantsPublic %v, want %v", tc.cond, st.GrantsPublic(), !tc.want)
			}
		})
	}
}

func TestGrantsPublic(t *testing.T) {
	cases := []struct {
		stmt string
		want bool
	}{
		{`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}`, true},
		{`{"Effect":"allow","Principal":{"AWS":["*"]},"Action":"s3:GetObject"}`, true},
		{`{"Effect":"Deny","Principal":"*","Action":"s3:*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}`, false},
		{`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"s3:GetObject"}`, false},
		{`{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"s3:GetObject"}`, true},
		{`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Condition":{"StringEquals":{"aws:SourceAccount":"111122223333"}}}`, false},
	}
	for _, tc := range cases {
		st := mustStatement(t, tc.stmt)
		if got := st.GrantsPublic(); got != tc.want {
			t.Errorf("%s: GrantsPublic %v, want %v", tc.stmt, got, tc.want)
		}
	}
}

func TestMatchAction(t *testing.T) {
	cases := []struct {
		pattern, action string
		want            bool
	}{
		{"*", "iam:PassRole", true},
		{"iam:*", "iam:PassRole", true},
		{"iam:*", "sts:AssumeRole", false},
		{"IAM:passrole", "iam:PassRole", true},
		{"iam:Put*", "iam:PutUserPolicy", true},
		{"iam:Put*", "iam:AttachUserPolicy", false},
		{"iam:*Policy*", "iam:AttachRolePolicy", true},
		{"iam:*Policy", "iam:CreatePolicyVersion", false},
		{"iam:?ttachUserPolicy", "iam:AttachUserPolicy", true},
		{"iam:?AttachUserPolicy", "iam:AttachUserPolicy", false},
		{"iam:Pass???e", "iam:PassRole", true},
		{"iam:Pass??e", "iam:PassRole", false},
		{"*:*", "s3:GetObject", true},
		{"s3:*Object*", "s3:GetObject", true},
		{"**", "s3:GetObject", true},
		{"i*m:*s*R*e", "iam:PassRole", true},
		{"iam:PassRole ", "iam:PassRole", true},
		{"", "iam:PassRole", false},
		{"iam:PassRole", "", false},
		{"*a*a*a*a*a*a*a*a*b", strings.Repeat("a", 200), false},
	}
	for _, tc := range cases {
		if got := MatchAction(tc.pattern, tc.action); got != tc.want {
			t.Errorf("MatchAction(%q, %q) = %v, want %v", tc.pattern, tc.action, got, tc.want)
		}
	}
}

func TestStatementPrivilege(t *testing.T) {
	cases := []struct {
		name string
		stmt string
		want Privilege
	}{
		{"star on star", `{"Effect":"Allow","Action":"*","Resource":"*"}`, PrivilegeAdmin},
		{"star-colon-star", `{"Effect":"Allow","Action":"*:*","Resource":"*"}`, PrivilegeAdmin},
		{"star without resource", `{"Effect":"Allow","Action":"*"}`, PrivilegeAdmin},
		{"star on one bucket", `{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::reports/*"}`, PrivilegeNone},
		{"deny star", `{"Effect":"Deny","Action":"*","Resource":"*"}`, PrivilegeNone},
		{"NotAction sparing escalation", `{"Effect":"Allow","NotAction":"ec2:*","Resource":"*"}`, PrivilegeAdmin},
		{"NotAction like PowerUserAccess", `{"Effect":"Allow","NotAction":["iam:*","organizations:*","account:*"],"Resource":"*"}`, PrivilegeEscalation},
		{"NotAction excluding every escalation", `{"Effect":"Allow","NotAction":["iam:*","sts:*","lambda:*","glue:*","ssm:*"],"Resource":"*"}`, PrivilegeBroadData},
		{"NotAction on one bucket", `{"Effect":"Allow","NotAction":"iam:*","Resource":"arn:aws:s3:::reports"}`, PrivilegeNone},
		{"iam:*", `{"Effect":"Allow","Action":"iam:*","Resource":"*"}`, PrivilegeEscalation},
		{"iam:Put*", `{"Effect":"Allow","Action":["iam:Put*"],"Resource":"*"}`, PrivilegeEscalation},
		{"iam:*Policy*", `{"Effect":"Allow","Action":"iam:*Policy*","Resource":"*"}`, PrivilegeEscalation},
		{"mixed case and ?", `{"Effect":"Allow","Action":"IAM:?ttachUserPolicy","Resource":"*"}`, PrivilegeEscalation},
		{"sts:AssumeRole", `{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}`, PrivilegeEscalation},
		{"lambda code", `{"Effect":"Allow","Action":"lambda:Update*","Resource":"*"}`, PrivilegeEscalation},
		{"PassRole every role", `{"Effect":"Allow","Action":"iam:PassRole","Resource":"arn:aws:iam::111122223333:role/*"}`, PrivilegeEscalation},
		{"PassRole one role", `{"Effect":"Allow","Action":"iam:PassRole","Resource":"arn:aws:iam::111122223333:role/app"}`, PrivilegeNone},
		{"iam:* NotResource one role", `{"Effect":"Allow","Action":"iam:*","NotResource":"arn:aws:iam::111122223333:role/break-glass"}`, PrivilegeEscalation},
		{"iam:* NotResource everything", `{"Effect":"Allow","Action":"iam:*","NotResource":"*"}`, PrivilegeNone},
		{"iam read-only", `{"Effect":"Allow","Action":["iam:Get*","iam:List*"],"Resource":"*"}`, PrivilegeNone},
		{"s3:* on star", `{"Effect":"Allow","Action":"s3:*","Resource":"*"}`, PrivilegeBroadData},
		{"s*:* on star", `{"Effect":"Allow","Action":"s*:*","Resource":"*"}`, PrivilegeEscalation}, // sts:*, ssm:*
		{"secretsmanager:* on star", `{"Effect":"Allow","Action":"secretsmanager:*","Resource":"*"}`, PrivilegeBroadData},
		{"s3:* on every bucket", `{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::*"}`, PrivilegeBroadData},
		{"s3:* on one bucket", `{"Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::reports","arn:aws:s3:::reports/*"]}`, PrivilegeNone},
		{"s3:Get* on star", `{"Effect":"Allow","Action":"s3:Get*","Resource":"*"}`, PrivilegeNone},
		{"logs:* on star", `{"Effect":"Allow","Action":"logs:*","Resource":"*"}`, PrivilegeNone},
		{"ses:SendEmail on star", `{"Effect":"Allow","Action":"ses:SendEmail","Resource":"*"}`, PrivilegeNone},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := mustStatement(t, tc.stmt)
			if got := st.Privilege(); got != tc.want {
				t.Errorf("%s: %v, want %v", tc.stmt, got, tc.want)
			}
		})
	}
	// A policy is as strong as its strongest statement.
	p, err := ParsePolicy(`{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"},{"Effect":"Allow","Action":"iam:Put*","Resource":"*"},{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	if lv, st := p.Privilege(); lv != PrivilegeEscalation || st.Action[0] != "iam:Put*" {
		t.Errorf("policy privilege %v from %v, want escalation from iam:Put*", lv, st)
	}
}

func TestResourceIsEverything(t *testing.T) {
	cases := map[string]bool{
		"*": true, "*:*": true, "arn:*": true, "arn:aws:s3:::*": true, "arn:aws:s3:::*/*": true,
		"arn:aws:iam::*:role/*": true, "arn:aws:iam::111122223333:role/*": true, "arn:aws:iam::111122223333:*": true,
		"arn:aws:lambda:us-east-1:111122223333:function:*": true,
		"arn:aws:s3:::reports/*":                           false, "arn:aws:s3:::reports": false,
		"arn:aws:iam::111122223333:role/app-*": false, "arn:aws:iam::111122223333:role/service-role/*": false,
		"arn:aws:dynamodb:us-east-1:111122223333:table/orders/index/*": false,
		"reports": false, "": false,
	}
	for r, want := range cases {
		if got := resourceIsEverything(r); got != want {
			t.Errorf("resourceIsEverything(%q) = %v, want %v", r, got, want)
		}
	}
}

func TestWorldOpen(t *testing.T) {
	cases := []struct {
		name  string
		cidrs []string
		want  bool
		which string
	}{
		{"IPv4 /0", []string{"0.0.0.0/0"}, true, "0.0.0.0/0"},
		{"IPv4 /0 written with another address", []string{"1.2.3.4/0"}, true, "1.2.3.4/0"},
		{"IPv6 /0", []string{"::/0"}, true, "::/0"},
		{"IPv6 /0 long form", []string{"0:0:0:0:0:0:0:0/0"}, true, "::/0"},
		{"IPv6 /0 written with another address", []string{"2001:db8::/0"}, true, "2001:db8::/0"},
		{"prefix length with leading zero", []string{"0.0.0.0/00"}, true, "0.0.0.0/0"},
		{"surrounding space", []string{" 0.0.0.0/0 "}, true, "0.0.0.0/0"},
		{"IPv4-mapped IPv6 covering IPv4", []string{"::ffff:0.0.0.0/96"}, true, "::ffff:0.0.0.0/96"},
		{"two halves", []string{"0.0.0.0/1", "128.0.0.0/1"}, true, "0.0.0.0/1 + 128.0.0.0/1"},
		{"quarters with a nested extra", []string{"0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/2", "10.0.0.0/8"}, true, "0.0.0.0/2 + 64.0.0.0/2 + 128.0.0.0/2 + 192.0.0.0/2"},
		{"IPv6 halves", []string{"::/1", "8000::/1"}, true, "::/1 + 8000::/1"},
		{"one half", []string{"0.0.0.0/1"}, false, ""},
		{"a half twice", []string{"0.0.0.0/1", "0.0.0.0/1", "10.0.0.0/8"}, false, ""},
		{"halves of different families", []string{"0.0.0.0/1", "8000::/1"}, false, ""},
		{"/16", []string{"172.31.0.0/16"}, false, ""},
		{"/8 and host", []string{"10.0.0.0/8", "203.0.113.7"}, false, ""},
		{"garbage skipped", []string{"pl-0123456789abcdef0", "sg-1", "", "0.0.0.0/33"}, false, ""},
		{"none", nil, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			which, got := WorldOpen(tc.cidrs)
			if got != tc.want || which != tc.which {
				t.Errorf("WorldOpen(%q) = %q, %v; want %q, %v", tc.cidrs, which, got, tc.which, tc.want)
			}
		})
	}
}

func TestACLPublicGrants(t *testing.T) {
	const owner = `{"Grantee":{"xsi:type":"CanonicalUser","ID":"d25639fbe9c19cd30a4c0f43fbf00e2d3f96400a9aa8dabfbbebe1906Example"},"Permission":"FULL_CONTROL"}`
	cases := []struct {
		name   string
		params string
		want   []string
	}{
		{"canned public-read as a list", `{"bucketName":"b","acl":"","x-amz-acl":["public-read"]}`, []string{"canned ACL public-read"}},
		{"canned public-read-write as a string", `{"bucketName":"b","x-amz-acl":"public-read-write"}`, []string{"canned ACL public-read-write"}},
		{"canned authenticated-read any case", `{"bucketName":"b","x-amz-acl":["Authenticated-Read"]}`, []string{"canned ACL authenticated-read"}},
		{"canned private", `{"bucketName":"public-read-b","x-amz-acl":["private"]}`, nil},
		{"canned bucket-owner-full-control", `{"bucketName":"b","x-amz-acl":["bucket-owner-full-control"]}`, nil},
		{"grant header AllUsers", `{"bucketName":"b","x-amz-grant-read":["uri=\"http://acs.amazonaws.com/groups/global/AllUsers\""]}`, []string{"READ to AllUsers"}},
		{"grant header list of grantees", `{"bucketName":"b","x-amz-grant-write-acp":"id=\"abc\", uri=http://acs.amazonaws.com/groups/global/AuthenticatedUsers"}`, []string{"WRITE_ACP to AuthenticatedUsers"}},
		{"grant header log delivery", `{"bucketName":"b","x-amz-grant-write":"uri=\"http://acs.amazonaws.com/groups/s3/LogDelivery\""}`, nil},
		{"body single grant to AllUsers", `{"bucketName":"b","AccessControlPolicy":{"AccessControlList":{"Grant":{"Grantee":{"xsi:type":"Group","URI":"http://acs.amazonaws.com/groups/global/AllUsers"},"Permission":"READ"}}}}`, []string{"READ to AllUsers"}},
		{"body grant list, https and trailing slash", `{"bucketName":"b","AccessControlPolicy":{"AccessControlList":{"Grant":[` + owner + `,{"Grantee":{"xsi:type":"Group","URI":"https://acs.amazonaws.com/groups/global/AuthenticatedUsers/"},"Permission":"WRITE"}]}}}`, []string{"WRITE to AuthenticatedUsers"}},
		{"body owner only, names mentioning AllUsers", `{"bucketName":"global-allusers","AccessControlPolicy":{"AccessControlList":{"Grant":` + owner + `},"Owner":{"DisplayName":"http://acs.amazonaws.com/groups/global/AllUsers"}}}`, nil},
		{"nothing", `{"bucketName":"b"}`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r aclRequest
			if err := json.Unmarshal([]byte(tc.params), &r); err != nil {
				t.Fatal(err)
			}
			if got := r.publicGrants(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("publicGrants = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSecurityGroupWorldRule(t *testing.T) {
	cases := []struct {
		name         string
		params       string
		cidrs, ports string
		open         bool
	}{
		{"ipPermissions IPv4", `{"groupId":"sg-1","ipPermissions":{"items":[{"ipProtocol":"tcp","fromPort":22,"toPort":22,"groups":{},"ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"}]},"ipv6Ranges":{},"prefixListIds":{}}]}}`, "0.0.0.0/0", "port 22", true},
		{"ipPermissions IPv6 port range", `{"groupId":"sg-1","ipPermissions":{"items":[{"ipProtocol":"tcp","fromPort":8000,"toPort":8080,"ipv6Ranges":{"items":[{"cidrIpv6":"::/0"}]}}]}}`, "::/0", "ports 8000-8080", true},
		{"items as one object", `{"groupId":"sg-1","ipPermissions":{"items":{"ipProtocol":"-1","ipRanges":{"items":{"cidrIp":"5.6.7.8/0"}}}}}`, "5.6.7.8/0", "all ports", true},
		{"ipPermissions as a list", `{"groupId":"sg-1","ipPermissions":[{"ipProtocol":"tcp","fromPort":443,"toPort":443,"ipRanges":[{"cidrIp":"0.0.0.0/0"}]}]}`, "0.0.0.0/0", "port 443", true},
		{"flat cidrIp", `{"groupId":"sg-1","ipProtocol":"tcp","fromPort":3389,"toPort":3389,"cidrIp":"0.0.0.0/0"}`, "0.0.0.0/0", "port 3389", true},
		{"flat cidrIpv6", `{"groupId":"sg-1","ipProtocol":"-1","cidrIpv6":"::/0"}`, "::/0", "all ports", true},
		{"rules adding up to the world", `{"groupId":"sg-1","ipPermissions":{"items":[{"ipProtocol":"tcp","fromPort":22,"toPort":22,"ipRanges":{"items":[{"cidrIp":"0.0.0.0/1"}]}},{"ipProtocol":"tcp","fromPort":22,"toPort":22,"ipRanges":{"items":[{"cidrIp":"128.0.0.0/1"}]}}]}}`, "0.0.0.0/1 + 128.0.0.0/1", "port 22", true},
		{"ModifySecurityGroupRules", `{"ModifySecurityGroupRulesRequest":{"GroupId":"sg-1","SecurityGroupRule":{"SecurityGroupRuleId":"sgr-1","SecurityGroupRule":{"IpProtocol":"tcp","FromPort":22,"ToPort":22,"CidrIpv4":"0.0.0.0/0"}}}}`, "0.0.0.0/0", "port 22", true},
		{"ModifySecurityGroupRules list", `{"ModifySecurityGroupRulesRequest":{"GroupId":"sg-1","SecurityGroupRule":[{"SecurityGroupRuleId":"sgr-1","SecurityGroupRule":{"IpProtocol":"tcp","FromPort":22,"ToPort":22,"CidrIpv4":"10.0.0.0/8"}},{"SecurityGroupRuleId":"sgr-2","SecurityGroupRule":{"IpProtocol":"-1","CidrIpv6":"::/0"}}]}}`, "::/0", "all ports", true},
		{"private /8", `{"groupId":"sg-1","ipPermissions":{"items":[{"ipProtocol":"tcp","fromPort":22,"toPort":22,"ipRanges":{"items":[{"cidrIp":"10.0.0.0/8"}]}}]}}`, "", "", false},
		{"prefix list and group", `{"groupId":"sg-1","ipPermissions":{"items":[{"ipProtocol":"tcp","fromPort":22,"toPort":22,"groups":{"items":[{"groupId":"sg-2"}]},"prefixListIds":{"items":[{"prefixListId":"pl-1"}]}}]}}`, "", "", false},
		{"ModifySecurityGroupRules to a prefix list", `{"ModifySecurityGroupRulesRequest":{"GroupId":"sg-1","SecurityGroupRule":{"SecurityGroupRuleId":"sgr-1","SecurityGroupRule":{"IpProtocol":"tcp","FromPort":22,"ToPort":22,"PrefixListId":"pl-1"}}}}`, "", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r sgRequest
			if err := json.Unmarshal([]byte(tc.params), &r); err != nil {
				t.Fatal(err)
			}
			cidrs, ports, open := r.worldRule()
			if open != tc.open || cidrs != tc.cidrs || ports != tc.ports {
				t.Errorf("worldRule = %q, %q, %v; want %q, %q, %v", cidrs, ports, open, tc.cidrs, tc.ports, tc.open)
			}
		})
	}
}

func TestSharingAdded(t *testing.T) {
	cases := []struct {
		name             string
		params           string
		groups, accounts []string
	}{
		{"snapshot group all", `{"snapshotId":"snap-1","createVolumePermission":{"add":{"items":[{"group":"all"}]}}}`, []string{"all"}, nil},
		{"image groups key", `{"imageId":"ami-1","launchPermission":{"add":{"items":[{"groups":"all"}]}}}`, []string{"all"}, nil},
		{"items as one object", `{"snapshotId":"snap-1","createVolumePermission":{"add":{"items":{"group":"ALL"}}}}`, []string{"ALL"}, nil},
		{"add as a list", `{"imageId":"ami-1","launchPermission":{"add":[{"userId":"999988887777"}]}}`, nil, []string{"999988887777"}},
		{"removal ignored", `{"imageId":"ami-1","launchPermission":{"remove":{"items":[{"group":"all"}]}}}`, nil, nil},
		{"RDS restore", `{"dBSnapshotIdentifier":"db-1","attributeName":"restore","valuesToAdd":["all","999988887777"]}`, []string{"all"}, []string{"999988887777"}},
		{"RDS other attribute", `{"dBSnapshotIdentifier":"db-1","attributeName":"other","valuesToAdd":["all"]}`, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r sharingRequest
			if err := json.Unmarshal([]byte(tc.params), &r); err != nil {
				t.Fatal(err)
			}
			g, a := r.added()
			if !reflect.DeepEqual(g, tc.groups) || !reflect.DeepEqual(a, tc.accounts) {
				t.Errorf("added = %q, %q; want %q, %q", g, a, tc.groups, tc.accounts)
			}
		})
	}
}

// fuzzChecks are the rule checks that read policies, ACLs, network rules
// and sharing changes from request parameters.
var fuzzChecks = []struct {
	api   string
	check predicate
}{
	{"s3:PutBucketPolicy", grantsEveryone},
	{"iam:PutUserPolicy", adminInlinePolicy},
	{"iam:UpdateAssumeRolePolicy", trustsOutsideAccount},
	{"s3:PutBucketAcl", publicACL},
	{"ec2:AuthorizeSecurityGroupIngress", openToWorld},
	{"ec2:ModifySnapshotAttribute", sharedOut},
}

// FuzzPolicy feeds arbitrary bytes to the policy parser and to every rule
// check that reads parameters, both as the whole requestParameters and as
// a policy carried in a string parameter: nothing panics, and the same
// input gets the same judgement twice.
func FuzzPolicy(f *testing.F) {
	f.Add([]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"StringLike":{"aws:UserAgent":"*"}}}]}`))
	f.Add([]byte(`{"Statement":{"Effect":"Allow","NotAction":"ec2:*","NotResource":"arn:aws:s3:::x"}}`))
	f.Add([]byte(`{"bucketName":"b","x-amz-acl":["public-read"]}`))
	f.Add([]byte(`{"groupId":"sg-1","ipPermissions":{"items":[{"ipRanges":{"items":[{"cidrIp":"1.2.3.4/0"}]}}]}}`))
	f.Add([]byte(`%7B%22Statement%22%3A%5B%5D%7D`))
	f.Fuzz(func(t *testing.T, data []byte) {
		judge := func() string {
			var out strings.Builder
			if p, err := ParsePolicy(data); err == nil {
				lv, _ := p.Privilege()
				st, public := p.PublicStatement()
				fmt.Fprintf(&out, "privilege=%v public=%v ", lv, public)
				if public {
					out.WriteString(publicPhrase(st))
				}
				for i := range p.Statement {
					clause, ok := p.Statement[i].Condition.Restriction()
					fmt.Fprintf(&out, " %q/%v/%s", clause, ok, p.Statement[i].describe())
				}
			} else {
				fmt.Fprintf(&out, "err=%v ", err)
			}
			asString, _ := json.Marshal(map[string]string{"bucketName": "b", "policyDocument": string(data), "bucketPolicy": string(data)})
			for _, c := range fuzzChecks {
				for _, raw := range [][]byte{data, asString} {
					ev := &events.Event{Account: "111122223333", API: c.api, Record: &events.Record{RequestParameters: raw}}
					_, ev.Record.EventName, _ = strings.Cut(c.api, ":")
					fmt.Fprintf(&out, " %s=%+v", c.api, c.check(ev, &params{raw: raw}, nil))
				}
			}
			return out.String()
		}
		if a, b := judge(), judge(); a != b {
			t.Fatalf("judgement is not deterministic:\n%s\n%s", a, b)
		}
	})
}

// TestWriteFuzzPolicySeeds regenerates testdata/fuzz/FuzzPolicy from the
// adversarial fixtures (each case's request parameters, and the policy it
// carries as a string) plus malformed inputs, when
// TRAILWATCH_WRITE_FUZZ_SEEDS is set.
func TestWriteFuzzPolicySeeds(t *testing.T) {
	if os.Getenv("TRAILWATCH_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set TRAILWATCH_WRITE_FUZZ_SEEDS to regenerate the fuzz corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzPolicy")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	seeds := map[string][]byte{
		"garbage":          []byte("{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[\"*\",{}]}"),
		"url-garbage":      []byte("%7B%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22%2A"),
		"deep-nesting":     []byte(strings.Repeat("[", 3000) + strings.Repeat("]", 3000)),
		"glob-worst-case":  []byte(`{"Statement":{"Effect":"Allow","Action":"` + strings.Repeat("*a", 300) + `b","Resource":"*"}}`),
		"cidr-many-halves": []byte(`{"groupId":"sg-1","ipPermissions":{"items":[{"ipRanges":{"items":[{"cidrIp":"0.0.0.0/2"},{"cidrIp":"64.0.0.0/2"},{"cidrIp":"128.0.0.0/2"},{"cidrIp":"192.0.0.0/3"},{"cidrIp":"224.0.0.0/3"}]}}]}}`),
	}
	files, err := filepath.Glob(filepath.Join("testdata", "adversarial", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var fx struct {
			Events []struct {
				Params json.RawMessage `json:"params"`
			} `json:"events"`
		}
		if err := json.Unmarshal(raw, &fx); err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		for _, e := range fx.Events {
			var buf bytes.Buffer
			if err := json.Compact(&buf, e.Params); err != nil {
				t.Fatal(err)
			}
			seeds[name] = buf.Bytes()
			var m map[string]any
			_ = json.Unmarshal(e.Params, &m)
			for _, k := range []string{"policyDocument", "resourcePolicy", "policy", "bucketPolicy"} {
				if s, ok := m[k].(string); ok && s != "" {
					seeds[name+"-policy"] = []byte(s)
				}
			}
		}
	}
	for name, b := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("wrote %d seeds to %s", len(seeds), dir)
}
