// Package detectorstest builds events and trained baselines for detector
// tests: terse event constructors with options, and named behaviour
// profiles (a person's working hours, a CI role's deploy bursts, a Lambda
// function's round-the-clock calls from AWS addresses) that generate a
// realistic history for a principal.
package detectorstest

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/events"
)

// Account is the account test principals live in.
const Account = "111122223333"

// OutsideAccount is an account that is not ours.
const OutsideAccount = "999988887777"

// Common user agents.
const (
	UACLI222    = "aws-cli/2.22.0 md/awscrt#0.22.0 ua/2.0 os/macos#23.4.0 md/arch#arm64 lang/python#3.12.6 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/prompt#off md/command#iam.list-users"
	UACLI227    = "aws-cli/2.27.3 md/awscrt#0.23.8 ua/2.0 os/macos#24.1.0 md/arch#arm64 lang/python#3.13.2 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/prompt#off md/command#iam.list-users"
	UAConsole   = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	UATerraform = "APN/1.0 HashiCorp/1.0 Terraform/1.9.8 (+https://www.terraform.io) terraform-provider-aws/5.80.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.32.6 ua/2.1 os/linux lang/go#1.23.3 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.195.0"
	UAGoSDK     = "aws-sdk-go-v2/1.32.6 ua/2.1 os/linux lang/go#1.23.3 md/GOOS#linux md/GOARCH#amd64 exec-env/AWS_Lambda_provided.al2023 api/dynamodb#1.38.0"
	UABoto3     = "Boto3/1.35.76 md/Botocore#1.35.76 ua/2.0 os/linux#6.1.0 md/arch#x86_64 lang/python#3.12.7 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.35.76"
	UACurl      = "python-requests/2.32.3"
)

// Common source addresses.
const (
	IPOffice  = "198.51.100.23"  // the office NAT
	IPOffice2 = "198.51.100.87"  // another address of the office /24
	IPHome    = "203.0.113.40"   // a person's home
	IPCI      = "192.0.2.17"     // the CI runners' egress
	IPForeign = "185.220.101.34" // an anonymizing exit abroad
	IPAWS     = "3.80.12.34"     // an EC2 address in us-east-1
	IPAWS2    = "44.192.7.9"     // another EC2 address in us-east-1
)

var norm = &events.Normalizer{}

// Opt changes an event under construction.
type Opt func(*events.Event)

// Event builds an event for principal (a baseline key such as
// "111122223333:user/alice") calling api ("service:EventName") at t. By
// default the call comes from the office with aws-cli 2.22, succeeds, and
// mutates unless its name reads (Describe*, Get*, List*...). The principal
// type follows the key: user/ is IAMUser, role/ AssumedRole, root Root.
func Event(principal, api string, t time.Time, opts ...Opt) events.Event {
	svc, name, _ := strings.Cut(api, ":")
	acct, rest, _ := strings.Cut(principal, ":")
	rec := &events.Record{
		EventVersion:       "1.11",
		EventTime:          t.UTC().Format(time.RFC3339),
		EventSource:        svc + ".amazonaws.com",
		EventName:          name,
		AWSRegion:          "us-east-1",
		EventType:          "AwsApiCall",
		RecipientAccountID: acct,
	}
	ev := events.Event{
		Record:    rec,
		Time:      t.UTC(),
		ID:        fmt.Sprintf("%s|%s|%d", principal, api, t.UnixNano()),
		Account:   acct,
		Region:    "us-east-1",
		Service:   svc,
		API:       api,
		Principal: principal,
	}
	u := &rec.UserIdentity
	u.AccountID = acct
	switch {
	case strings.HasPrefix(rest, "user/"):
		ev.PrincipalType = "IAMUser"
		u.UserName = strings.TrimPrefix(rest, "user/")
		ev.PrincipalARN = "arn:aws:iam::" + acct + ":" + rest
		ev.AccessKeyID = "AKIA" + keySuffix(principal)
	case rest == "root":
		ev.PrincipalType = "Root"
		ev.PrincipalARN = "arn:aws:iam::" + acct + ":root"
	case strings.HasPrefix(rest, "role/"):
		ev.PrincipalType = "AssumedRole"
		parts := strings.Split(rest, "/")
		ev.PrincipalARN = "arn:aws:iam::" + acct + ":role/" + parts[1]
		ev.Human = len(parts) > 2
		ev.AccessKeyID = "ASIA" + keySuffix(principal+t.Format("2006010215"))
	default:
		ev.PrincipalType = "Unknown"
	}
	u.Type = ev.PrincipalType
	u.ARN = ev.PrincipalARN
	ev.Mutating = events.IsMutating(rec)
	From(IPOffice)(&ev)
	UA(UACLI222)(&ev)
	for _, o := range opts {
		o(&ev)
	}
	u.AccessKeyID = ev.AccessKeyID
	return ev
}

func keySuffix(s string) string {
	var h uint64 = 14695981039346656037
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return strings.ToUpper(fmt.Sprintf("%016X", h))
}

// From sets the source address and classifies it as the normalizer does
// (without AWS's ranges loaded: use FromAWS for AWS-owned addresses).
func From(ip string) Opt {
	return func(ev *events.Event) {
		ev.Record.SourceIPAddress = ip
		ev.Network = norm.ClassifySource(ip)
	}
}

// FromProvider sets a source address inside the named network name (a CI
// provider's, as thresholds.yaml networks: names it).
func FromProvider(name, ip string) Opt {
	return func(ev *events.Event) {
		ev.Record.SourceIPAddress = ip
		ev.Network = events.Network{Class: events.NetProvider, Key: events.NetworkKeyPrefix + name, Provider: name}
	}
}

// FromAWS sets a source address owned by AWS (EC2) in region.
func FromAWS(region, ip string) Opt {
	return func(ev *events.Event) {
		ev.Record.SourceIPAddress = ip
		ev.Network = events.Network{Class: events.NetAWS, Key: "aws/" + region, Region: region, Service: "EC2"}
	}
}

// UA sets the user agent and its family.
func UA(ua string) Opt {
	return func(ev *events.Event) {
		ev.Record.UserAgent = ua
		ev.UAFamily = events.UserAgentFamily(ua)
	}
}

// Key sets the access key ID.
func Key(id string) Opt { return func(ev *events.Event) { ev.AccessKeyID = id } }

// Region sets the region of the call.
func Region(r string) Opt {
	return func(ev *events.Event) { ev.Region = r; ev.Record.AWSRegion = r }
}

// Mutating overrides whether the call mutates.
func Mutating(m bool) Opt {
	return func(ev *events.Event) {
		ev.Mutating = m
		ro := !m
		ev.Record.ReadOnly = &ro
	}
}

// Err makes the call fail with an error code.
func Err(code string) Opt {
	return func(ev *events.Event) {
		ev.ErrorCode = code
		ev.ErrClass = events.ClassifyError(code)
		ev.Record.ErrorCode = code
	}
}

// InvokedBy marks the call as made by an AWS service on the principal's
// behalf: CloudTrail then records the service as source and user agent.
func InvokedBy(svc string) Opt {
	return func(ev *events.Event) {
		ev.InvokedBy = svc
		ev.Record.UserIdentity.InvokedBy = svc
		From(svc)(ev)
		UA(svc)(ev)
	}
}

// Params sets requestParameters (JSON).
func Params(js string) Opt {
	return func(ev *events.Event) { ev.Record.RequestParameters = json.RawMessage(js) }
}

// ID sets the event ID.
func ID(id string) Opt {
	return func(ev *events.Event) { ev.ID = id; ev.Record.EventID = id }
}

// Type overrides the principal type.
func Type(t string) Opt {
	return func(ev *events.Event) { ev.PrincipalType = t; ev.Record.UserIdentity.Type = t }
}

// ConsoleLogin makes the event a console sign-in (signin:ConsoleLogin),
// with or without MFA.
func ConsoleLogin(mfa bool) Opt {
	return func(ev *events.Event) {
		ev.Service, ev.API = "signin", "signin:ConsoleLogin"
		ev.Record.EventSource, ev.Record.EventName = "signin.amazonaws.com", "ConsoleLogin"
		ev.Record.EventType = "AwsConsoleSignIn"
		ev.ConsoleSignIn = true
		ev.Mutating = false
		ev.MFA = mfa
		used := "No"
		if mfa {
			used = "Yes"
		}
		ev.Record.AdditionalEventData = json.RawMessage(`{"MFAUsed":"` + used + `","MobileVersion":"No"}`)
		ev.Record.ResponseElements = json.RawMessage(`{"ConsoleLogin":"Success"}`)
		UA(UAConsole)(ev)
	}
}
