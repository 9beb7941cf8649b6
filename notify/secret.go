package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

const redacted = "[redacted]"

// Secret holds a credential (a signing secret, an API token, a routing
// key). Every way of printing it — String, GoString, LogValue, JSON and text
// marshalling — shows "[redacted]"; only Reveal returns the value.
type Secret struct {
	value string
}

// NewSecret wraps a credential.
func NewSecret(v string) Secret { return Secret{value: v} }

// Reveal returns the credential itself. Call it only where the value is
// used (signing, an Authorization header), never for logging.
func (s Secret) Reveal() string { return s.value }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.value == "" }

// String implements fmt.Stringer without revealing the value.
func (Secret) String() string { return redacted }

// GoString implements fmt.GoStringer (the %#v verb) without revealing the value.
func (Secret) GoString() string { return redacted }

// LogValue implements slog.LogValuer without revealing the value.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText implements encoding.TextMarshaler (and so JSON) without
// revealing the value.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// SecretsManagerAPI is the one Secrets Manager method SecretSource calls.
type SecretsManagerAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// SecretProvider returns the current raw secret string (plain text or the
// JSON document of a format, see ParseCredentials).
type SecretProvider interface {
	Secret(ctx context.Context) (Secret, error)
}

// StaticSecret is a SecretProvider with a fixed value, for tests and local
// runs.
type StaticSecret Secret

// Secret implements SecretProvider.
func (s StaticSecret) Secret(context.Context) (Secret, error) { return Secret(s), nil }

// DefaultSecretTTL is how long SecretSource keeps a fetched secret.
const DefaultSecretTTL = 5 * time.Minute

// SecretSource fetches a secret from Secrets Manager and caches it for TTL.
// It is safe for concurrent use: one fetch at a time, later callers share
// its result.
type SecretSource struct {
	Client   SecretsManagerAPI
	SecretID string        // ARN or name
	TTL      time.Duration // zero means DefaultSecretTTL

	now func() time.Time

	mu      sync.Mutex
	value   Secret
	fetched time.Time
}

var _ SecretProvider = (*SecretSource)(nil)

// NewSecretSource returns a SecretSource with the default TTL.
func NewSecretSource(client SecretsManagerAPI, secretID string) *SecretSource {
	return &SecretSource{Client: client, SecretID: secretID}
}

// Secret returns the cached secret, fetching it when the cache is empty or
// older than the TTL.
func (s *SecretSource) Secret(ctx context.Context) (Secret, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	ttl := s.TTL
	if ttl <= 0 {
		ttl = DefaultSecretTTL
	}
	if !s.value.IsZero() && now.Sub(s.fetched) < ttl {
		return s.value, nil
	}
	if s.Client == nil || s.SecretID == "" {
		return Secret{}, errors.New("secret source: no client or secret ID configured")
	}
	out, err := s.Client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &s.SecretID})
	if err != nil {
		return Secret{}, fmt.Errorf("get secret %s: %w", s.SecretID, err)
	}
	var v string
	switch {
	case out.SecretString != nil:
		v = *out.SecretString
	case len(out.SecretBinary) > 0:
		v = string(out.SecretBinary)
	}
	if strings.TrimSpace(v) == "" {
		return Secret{}, fmt.Errorf("get secret %s: empty secret value", s.SecretID)
	}
	s.value = NewSecret(v)
	s.fetched = now
	return s.value, nil
}

// Invalidate drops the cached value, so the next call fetches again (for
// example after the receiver rejected the credentials, which may have been
// rotated).
func (s *SecretSource) Invalidate() {
	s.mu.Lock()
	s.value = Secret{}
	s.fetched = time.Time{}
	s.mu.Unlock()
}

// LogValue implements slog.LogValuer: the secret ID, never the value.
func (s *SecretSource) LogValue() slog.Value {
	return slog.GroupValue(slog.String("secret_id", s.SecretID), slog.Duration("ttl", s.TTL))
}

// String describes the source without its cached value.
func (s *SecretSource) String() string {
	return fmt.Sprintf("SecretSource{SecretID: %q, TTL: %s, value: %s}", s.SecretID, s.TTL, redacted)
}

// GoString is String, so that %#v does not print the cached value.
func (s *SecretSource) GoString() string { return s.String() }

func (s *SecretSource) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

// Credentials are the parsed parts of a webhook secret.
type Credentials struct {
	SigningSecret Secret // generic
	// SecondarySigningSecret is set during a rotation of the generic
	// signing secret: requests then carry a second signature made with it.
	SecondarySigningSecret Secret
	Email                  string // jira
	APIToken               Secret // jira
	RoutingKey             Secret // pagerduty
}

// ParseCredentials decodes the secret document of a format:
//
//	generic:   the plain secret string, or {"signing_secret": "..."}, or
//	           during a rotation {"signing_secret": "...", "secondary_signing_secret": "..."}
//	jira:      {"email": "...", "api_token": "..."}
//	pagerduty: {"routing_key": "..."}
//
// Errors never contain the secret.
func ParseCredentials(format Format, raw Secret) (Credentials, error) {
	v := strings.TrimSpace(raw.Reveal())
	var doc struct {
		SigningSecret          string `json:"signing_secret"`
		SecondarySigningSecret string `json:"secondary_signing_secret"`
		Email                  string `json:"email"`
		APIToken               string `json:"api_token"`
		RoutingKey             string `json:"routing_key"`
	}
	isJSON := strings.HasPrefix(v, "{")
	if isJSON {
		if err := json.Unmarshal([]byte(v), &doc); err != nil {
			// Do not wrap: a syntax error could quote part of the secret.
			return Credentials{}, fmt.Errorf("%s secret: not a valid JSON document", format)
		}
	}
	switch format {
	case FormatGeneric, FormatOCSF:
		if !isJSON {
			return Credentials{SigningSecret: NewSecret(v)}, nil
		}
		if doc.SigningSecret == "" {
			return Credentials{}, fmt.Errorf(`%s secret: missing "signing_secret"`, format)
		}
		return Credentials{SigningSecret: NewSecret(doc.SigningSecret), SecondarySigningSecret: NewSecret(doc.SecondarySigningSecret)}, nil
	case FormatJira:
		if doc.Email == "" || doc.APIToken == "" {
			return Credentials{}, errors.New(`jira secret: want JSON {"email": ..., "api_token": ...}`)
		}
		return Credentials{Email: doc.Email, APIToken: NewSecret(doc.APIToken)}, nil
	case FormatPagerDuty:
		if doc.RoutingKey == "" {
			return Credentials{}, errors.New(`pagerduty secret: want JSON {"routing_key": ...}`)
		}
		return Credentials{RoutingKey: NewSecret(doc.RoutingKey)}, nil
	}
	return Credentials{}, fmt.Errorf("unknown webhook format %q", format)
}
