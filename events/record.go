package events

import (
	"encoding/json"
	"time"
)

// Record is one CloudTrail record. Stable fields are typed; request and
// response payloads stay raw because their shape depends on the API.
type Record struct {
	EventVersion                 string          `json:"eventVersion"`
	UserIdentity                 UserIdentity    `json:"userIdentity"`
	EventTime                    string          `json:"eventTime"`
	EventSource                  string          `json:"eventSource"`
	EventName                    string          `json:"eventName"`
	AWSRegion                    string          `json:"awsRegion"`
	SourceIPAddress              string          `json:"sourceIPAddress"`
	UserAgent                    string          `json:"userAgent"`
	ErrorCode                    string          `json:"errorCode,omitempty"`
	ErrorMessage                 string          `json:"errorMessage,omitempty"`
	RequestParameters            json.RawMessage `json:"requestParameters,omitempty"`
	ResponseElements             json.RawMessage `json:"responseElements,omitempty"`
	AdditionalEventData          json.RawMessage `json:"additionalEventData,omitempty"`
	RequestID                    string          `json:"requestID,omitempty"`
	EventID                      string          `json:"eventID"`
	ReadOnly                     *bool           `json:"readOnly,omitempty"`
	EventType                    string          `json:"eventType"`
	ManagementEvent              *bool           `json:"managementEvent,omitempty"`
	RecipientAccountID           string          `json:"recipientAccountId"`
	SharedEventID                string          `json:"sharedEventID,omitempty"`
	VPCEndpointID                string          `json:"vpcEndpointId,omitempty"`
	EventCategory                string          `json:"eventCategory,omitempty"`
	TLSDetails                   *TLSDetails     `json:"tlsDetails,omitempty"`
	SessionCredentialFromConsole string          `json:"sessionCredentialFromConsole,omitempty"`

	// Envelope is what the EventBridge envelope around the record said; it
	// is not part of the CloudTrail record and never encoded with it.
	Envelope Envelope `json:"-"`
}

// Envelope holds the EventBridge envelope fields of a record that arrived
// in one (the production path, JSON Lines of envelopes). It is zero for a
// record read bare (a CloudTrail S3 log file, JSON Lines of records).
type Envelope struct {
	// Source is the envelope's source: aws.<service> for events CloudTrail
	// delivered (PutEvents refuses that prefix to everyone else), or what
	// a PutEvents caller chose, such as TestSource.
	Source string
	// Account is the account the event was put in or forwarded from.
	Account string
}

// IsTest reports whether the record is a synthetic test event: its
// envelope's source is TestSource. Such records are keyed in their own
// namespace (TestPrincipalPrefix), never on a real principal's baseline.
func (r *Record) IsTest() bool { return r.Envelope.Source == TestSource }

// UserIdentity describes who made the call. Which fields are set depends on
// Type: IAMUser, AssumedRole, Root, FederatedUser, AWSService, AWSAccount,
// IdentityCenterUser, WebIdentityUser, SAMLUser, Unknown.
type UserIdentity struct {
	Type             string          `json:"type"`
	PrincipalID      string          `json:"principalId,omitempty"`
	ARN              string          `json:"arn,omitempty"`
	AccountID        string          `json:"accountId,omitempty"`
	AccessKeyID      string          `json:"accessKeyId,omitempty"`
	UserName         string          `json:"userName,omitempty"`
	InvokedBy        string          `json:"invokedBy,omitempty"`
	IdentityProvider string          `json:"identityProvider,omitempty"`
	CredentialID     string          `json:"credentialId,omitempty"`
	SessionContext   *SessionContext `json:"sessionContext,omitempty"`
	OnBehalfOf       *OnBehalfOf     `json:"onBehalfOf,omitempty"`
}

// SessionContext holds the issuer and attributes of temporary credentials.
type SessionContext struct {
	SessionIssuer       SessionIssuer        `json:"sessionIssuer"`
	WebIDFederationData *WebIDFederationData `json:"webIdFederationData,omitempty"`
	Attributes          SessionAttributes    `json:"attributes"`
	SourceIdentity      string               `json:"sourceIdentity,omitempty"`
	EC2RoleDelivery     string               `json:"ec2RoleDelivery,omitempty"`
}

// SessionIssuer is the entity (usually a role) that issued the session.
type SessionIssuer struct {
	Type        string `json:"type,omitempty"`
	PrincipalID string `json:"principalId,omitempty"`
	ARN         string `json:"arn,omitempty"`
	AccountID   string `json:"accountId,omitempty"`
	UserName    string `json:"userName,omitempty"`
}

// WebIDFederationData names the identity provider of a web-identity session.
type WebIDFederationData struct {
	FederatedProvider string          `json:"federatedProvider,omitempty"`
	Attributes        json.RawMessage `json:"attributes,omitempty"`
}

// SessionAttributes says when the session was created and whether MFA was
// used. CloudTrail writes mfaAuthenticated as the string "true" or "false".
type SessionAttributes struct {
	CreationDate     string `json:"creationDate,omitempty"`
	MFAAuthenticated string `json:"mfaAuthenticated,omitempty"`
}

// OnBehalfOf identifies the IAM Identity Center user behind a call.
type OnBehalfOf struct {
	UserID           string `json:"userId,omitempty"`
	IdentityStoreARN string `json:"identityStoreArn,omitempty"`
}

// TLSDetails describes the TLS connection of the call.
type TLSDetails struct {
	TLSVersion               string `json:"tlsVersion,omitempty"`
	CipherSuite              string `json:"cipherSuite,omitempty"`
	ClientProvidedHostHeader string `json:"clientProvidedHostHeader,omitempty"`
}

// ParseTime parses a CloudTrail timestamp: RFC 3339 with or without
// fractional seconds.
func ParseTime(s string) (time.Time, error) {
	return time.Parse(time.RFC3339Nano, s)
}
