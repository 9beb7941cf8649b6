package sample

import (
	"bytes"
	"encoding/json"
)

// Record is one CloudTrail record. Its fields are declared in the order
// CloudTrail writes them, so encoding/json output is stable and looks like
// the records AWS delivers.
type Record struct {
	EventVersion                 string       `json:"eventVersion"`
	UserIdentity                 UserIdentity `json:"userIdentity"`
	EventTime                    string       `json:"eventTime"`
	EventSource                  string       `json:"eventSource"`
	EventName                    string       `json:"eventName"`
	AWSRegion                    string       `json:"awsRegion"`
	SourceIPAddress              string       `json:"sourceIPAddress"`
	UserAgent                    string       `json:"userAgent"`
	ErrorCode                    string       `json:"errorCode,omitempty"`
	ErrorMessage                 string       `json:"errorMessage,omitempty"`
	RequestParameters            Object       `json:"requestParameters"`
	ResponseElements             Object       `json:"responseElements"`
	AdditionalEventData          Object       `json:"additionalEventData,omitempty"`
	RequestID                    string       `json:"requestID,omitempty"`
	EventID                      string       `json:"eventID"`
	ReadOnly                     bool         `json:"readOnly"`
	Resources                    []Resource   `json:"resources,omitempty"`
	EventType                    string       `json:"eventType"`
	ManagementEvent              bool         `json:"managementEvent"`
	RecipientAccountID           string       `json:"recipientAccountId"`
	SharedEventID                string       `json:"sharedEventID,omitempty"`
	ServiceEventDetails          Object       `json:"serviceEventDetails,omitempty"`
	EventCategory                string       `json:"eventCategory"`
	TLSDetails                   *TLSDetails  `json:"tlsDetails,omitempty"`
	SessionCredentialFromConsole string       `json:"sessionCredentialFromConsole,omitempty"`
}

// UserIdentity is the CloudTrail userIdentity element.
type UserIdentity struct {
	Type           string          `json:"type,omitempty"`
	PrincipalID    string          `json:"principalId,omitempty"`
	ARN            string          `json:"arn,omitempty"`
	AccountID      string          `json:"accountId,omitempty"`
	AccessKeyID    string          `json:"accessKeyId,omitempty"`
	UserName       string          `json:"userName,omitempty"`
	SessionContext *SessionContext `json:"sessionContext,omitempty"`
	InvokedBy      string          `json:"invokedBy,omitempty"`
	// IdentityProvider is set for WebIdentityUser callers.
	IdentityProvider string `json:"identityProvider,omitempty"`
}

// SessionContext describes the temporary credentials behind a call.
type SessionContext struct {
	SessionIssuer       *SessionIssuer `json:"sessionIssuer,omitempty"`
	WebIDFederationData *struct{}      `json:"webIdFederationData,omitempty"`
	Attributes          Attributes     `json:"attributes"`
}

// SessionIssuer is the role (or user) that issued a session.
type SessionIssuer struct {
	Type        string `json:"type"`
	PrincipalID string `json:"principalId"`
	ARN         string `json:"arn"`
	AccountID   string `json:"accountId"`
	UserName    string `json:"userName"`
}

// Attributes are the session attributes.
type Attributes struct {
	CreationDate     string `json:"creationDate"`
	MFAAuthenticated string `json:"mfaAuthenticated"`
}

// Resource is an entry of the resources array.
type Resource struct {
	AccountID string `json:"accountId,omitempty"`
	Type      string `json:"type"`
	ARN       string `json:"ARN"`
}

// TLSDetails is the tlsDetails element.
type TLSDetails struct {
	TLSVersion               string `json:"tlsVersion"`
	CipherSuite              string `json:"cipherSuite"`
	ClientProvidedHostHeader string `json:"clientProvidedHostHeader"`
}

// Object is an ordered JSON object. A nil Object marshals as null. It keeps
// request parameters and response elements free of map iteration order.
type Object []Field

// Field is one member of an Object.
type Field struct {
	Key   string
	Value any
}

// obj builds an Object from alternating keys and values.
func obj(kv ...any) Object {
	o := make(Object, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		o = append(o, Field{Key: kv[i].(string), Value: kv[i+1]})
	}
	return o
}

// MarshalJSON writes the fields in order.
func (o Object) MarshalJSON() ([]byte, error) {
	if o == nil {
		return []byte("null"), nil
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(f.Key)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(f.Value)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// Label marks the events of one injected scenario.
type Label struct {
	Name         string   `json:"name"`
	Kind         string   `json:"kind"`
	Description  string   `json:"description"`
	PrincipalARN string   `json:"principal_arn"`
	AccountID    string   `json:"account_id"`
	EventIDs     []string `json:"event_ids"`
	Expect       string   `json:"expect"`
	// Needs names the configuration the expectation holds under, beyond
	// the defaults: "networks" means the sample's named provider
	// networks (testdata/sample/thresholds.yaml, SampleNetworks).
	Needs []string `json:"needs,omitempty"`
}

// Label kinds and expectations.
const (
	KindAttack   = "attack"
	KindBenign   = "benign"
	ExpectHigh   = "HIGH+"
	ExpectLowest = "LOW-"
)
