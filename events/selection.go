package events

import (
	"encoding/json"
	"sort"
	"strings"
)

// Selection is what an analyst adds to the production selection (Selected)
// in thresholds.yaml (`selection:`). The zero value is the production
// selection alone, which the EventBridge rule applies; the additions only
// matter where read-only calls reach Trailwatch: S3 ingest, which reads the
// trail's files, and replay of archived files.
type Selection struct {
	// CredentialAccessReads also selects the read-only calls that hand out
	// a credential or a secret (CredentialAccessRead).
	CredentialAccessReads bool
}

// Selects reports whether a record is scored: the production selection,
// plus the additions s turns on.
func (s Selection) Selects(r *Record) bool {
	if Selected(r) {
		return true
	}
	return s.CredentialAccessReads && CredentialAccessRead(r)
}

// credentialReads are the read-only calls that return a secret in their
// response. decrypted marks those that return it only when the caller
// asks for decryption (requestParameters.withDecryption true).
//
// kms:Decrypt is deliberately absent: most of its calls are made by AWS
// services on a principal's behalf (every SSE-KMS object read, every
// encrypted volume attach), so it would multiply the events scored, and
// the cost, without saying whether a person reached for a secret.
var credentialReads = map[string]bool{
	"secretsmanager.amazonaws.com/GetSecretValue":      false,
	"secretsmanager.amazonaws.com/BatchGetSecretValue": false,
	"ssm.amazonaws.com/GetParameter":                   true,
	"ssm.amazonaws.com/GetParameters":                  true,
	"ssm.amazonaws.com/GetParametersByPath":            true,
	"ssm.amazonaws.com/GetParameterHistory":            true,
	"ec2.amazonaws.com/GetPasswordData":                false,
}

// CredentialAccessReads lists the calls CredentialAccessRead recognises, as
// "service:EventName", sorted (for documentation and messages).
func CredentialAccessReads() []string {
	out := make([]string, 0, len(credentialReads))
	for k := range credentialReads {
		src, name, _ := strings.Cut(k, "/")
		out = append(out, strings.TrimSuffix(src, ".amazonaws.com")+":"+name)
	}
	sort.Strings(out)
	return out
}

// CredentialAccessRead reports whether a record is a read that hands out a
// credential or a secret: Secrets Manager's secret values, SSM parameters
// read with decryption (SecureString values in clear), and EC2's Windows
// administrator password. Service events are never one.
func CredentialAccessRead(r *Record) bool {
	if r.EventType == "AwsServiceEvent" {
		return false
	}
	decrypted, ok := credentialReads[r.EventSource+"/"+r.EventName]
	if !ok {
		return false
	}
	if !decrypted {
		return true
	}
	var p struct {
		WithDecryption *bool `json:"withDecryption"`
	}
	if len(r.RequestParameters) == 0 || json.Unmarshal(r.RequestParameters, &p) != nil {
		return false
	}
	return p.WithDecryption != nil && *p.WithDecryption
}
