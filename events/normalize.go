package events

import (
	"fmt"
	"net/netip"
	"path"
	"strings"
	"time"
)

// NetClass is the kind of place a call came from.
type NetClass string

// Network classes.
const (
	NetPublic      NetClass = "public"       // an address outside AWS's ranges
	NetProvider    NetClass = "provider"     // inside a named network (Normalizer.Networks), such as a CI provider's
	NetPrivate     NetClass = "private"      // RFC 1918, ULA, loopback, link-local, not through a VPC endpoint
	NetAWS         NetClass = "aws"          // inside AWS: its published ranges, or through a VPC endpoint
	NetAWSInternal NetClass = "aws-internal" // "AWS Internal"
	NetService     NetClass = "service"      // a service DNS name, e.g. lambda.amazonaws.com
	NetUnknown     NetClass = "unknown"      // empty or unparseable
)

// Network is a source network at the grain detectors judge it.
type Network struct {
	Class NetClass
	// Key identifies the network in a baseline: "net/<name>" for an
	// address in a named network, an IPv4 /24 or IPv6 /48 for public and
	// private addresses, "aws/<region>" for AWS-owned addresses and calls
	// through a VPC endpoint, the DNS name for services.
	Key string
	// Provider is the named network's name (class NetProvider).
	Provider string
	// Service and Region are set for AWS-owned addresses; Region also for
	// calls through a VPC endpoint.
	Service string
	Region  string
	// VPCEndpoint is the VPC endpoint the call went through, if any.
	VPCEndpoint string
}

// ErrorClass groups error codes.
type ErrorClass string

// Error classes.
const (
	ErrNone      ErrorClass = ""
	ErrDenied    ErrorClass = "denied"
	ErrThrottled ErrorClass = "throttled"
	ErrNotFound  ErrorClass = "not-found"
	ErrOther     ErrorClass = "other"
)

// Event is a normalized CloudTrail record: what detectors need, plus the
// record itself for detectors that inspect request parameters.
type Event struct {
	Record *Record
	Time   time.Time
	ID     string
	// Account is the account the call was made in.
	Account string
	Region  string
	// Service is the event source without ".amazonaws.com"; API is
	// "service:EventName".
	Service string
	API     string
	// Principal is the baseline key; PrincipalARN the caller's ARN.
	Principal     string
	PrincipalARN  string
	PrincipalType string
	// Human is true for principals keyed per session (federated people).
	Human bool
	// SessionName is the name the caller gave its temporary credentials:
	// the role session name, or the name passed to GetFederationToken. It
	// is evidence, not identity: only roles keyed per session (Human) have
	// it in their key, since a caller can choose any name.
	SessionName string
	// Test marks a synthetic test event (envelope source TestSource); its
	// Principal is in the test namespace (TestPrincipalPrefix).
	Test        bool
	AccessKeyID string
	// InvokedBy is set when an AWS service made the call on the
	// principal's behalf; such calls say nothing about the principal's
	// own network or user agent.
	InvokedBy string
	Mutating  bool
	Selected  bool
	Network   Network
	UAFamily  string
	ErrorCode string
	ErrClass  ErrorClass
	// MFA is true when the session or sign-in used MFA.
	MFA bool
	// ConsoleSignIn marks AwsConsoleSignIn events; SignInFailed those
	// that failed.
	ConsoleSignIn bool
	SignInFailed  bool
}

// KeyingRules say which roles are human-federated and so keyed per session
// name. Patterns are path.Match globs over the role name.
type KeyingRules struct {
	PerSessionRoles []string
}

// DefaultKeyingRules keys IAM Identity Center roles per session.
func DefaultKeyingRules() KeyingRules {
	return KeyingRules{PerSessionRoles: []string{"AWSReservedSSO_*"}}
}

// Normalizer turns records into events. It is safe for concurrent use.
type Normalizer struct {
	Ranges *IPRanges
	Keying KeyingRules
	// Selection adds to the production selection what the config's
	// `selection:` turns on (NormalizeSelected, Event.Selected).
	Selection Selection
	// Networks are the named networks (thresholds.yaml networks), checked
	// before AWS's ranges: a provider running inside AWS is known by its
	// name. Nil names none.
	Networks *NamedNetworks
}

// SkipReason says why a record was not used.
type SkipReason string

// Skip reasons, counted in replay summaries and metrics.
const (
	SkipMalformed    SkipReason = "malformed_json"
	SkipTooLarge     SkipReason = "record_too_large"
	SkipNoTime       SkipReason = "missing_event_time"
	SkipBadTime      SkipReason = "bad_event_time"
	SkipNoName       SkipReason = "missing_event_name"
	SkipNoPrincipal  SkipReason = "missing_principal"
	SkipNotRecord    SkipReason = "not_a_cloudtrail_record"
	SkipUnreadable   SkipReason = "unreadable_input"
	SkipCorruptGzip  SkipReason = "corrupt_gzip"
	SkipBinary       SkipReason = "not_json"
	SkipNotSelected  SkipReason = "not_selected"
	SkipDetailType   SkipReason = "unsupported_detail_type"
	SkipLate         SkipReason = "late_out_of_order"
	SkipDuplicateEvt SkipReason = "duplicate_event"
	// SkipFuture: the event is dated further ahead of the clock than
	// detectors.Engine.MaxSkew; the engine skips it before it touches a
	// baseline.
	SkipFuture SkipReason = "future_event_time"
)

// SkipError is returned by Normalize for records that cannot be used.
type SkipError struct {
	Reason SkipReason
	Detail string
}

func (e *SkipError) Error() string {
	if e.Detail == "" {
		return string(e.Reason)
	}
	return string(e.Reason) + ": " + e.Detail
}

// Normalize derives the event from a record, or returns a *SkipError.
func (n *Normalizer) Normalize(r *Record) (Event, error) {
	if r.EventTime == "" {
		return Event{}, &SkipError{Reason: SkipNoTime}
	}
	t, err := ParseTime(r.EventTime)
	if err != nil {
		return Event{}, &SkipError{Reason: SkipBadTime, Detail: truncate(r.EventTime, 40)}
	}
	if r.EventName == "" || r.EventSource == "" {
		return Event{}, &SkipError{Reason: SkipNoName}
	}
	ev := Event{
		Record:    r,
		Time:      t.UTC(),
		ID:        r.EventID,
		Region:    r.AWSRegion,
		Service:   strings.TrimSuffix(r.EventSource, ".amazonaws.com"),
		InvokedBy: r.UserIdentity.InvokedBy,
		ErrorCode: r.ErrorCode,
		ErrClass:  ClassifyError(r.ErrorCode),
	}
	ev.API = ev.Service + ":" + r.EventName
	ev.Account = r.RecipientAccountID
	if ev.Account == "" {
		ev.Account = r.UserIdentity.AccountID
	}
	p, err := n.principal(r, ev.Account)
	if err != nil {
		return Event{}, err
	}
	ev.Principal, ev.PrincipalARN, ev.Human = p.key, p.arn, p.human
	ev.SessionName, ev.Test = p.session, p.test
	ev.PrincipalType = r.UserIdentity.Type
	ev.AccessKeyID = r.UserIdentity.AccessKeyID
	if ev.ID == "" {
		// Without an ID dedupe cannot recognize a redelivery; derive a
		// stable one from what identifies the call.
		ev.ID = fmt.Sprintf("derived-%s-%s-%s", r.EventTime, ev.API, ev.Principal)
	}
	ev.ConsoleSignIn = r.EventType == "AwsConsoleSignIn"
	ev.SignInFailed = ev.ConsoleSignIn && (r.ErrorMessage != "" || strings.Contains(string(r.ResponseElements), "Failure"))
	if ev.SignInFailed && ev.ErrClass == ErrNone {
		// A refused sign-in is an authentication failure: it counts
		// toward error bursts (password spraying) like a denied call.
		ev.ErrClass = ErrDenied
	}
	ev.Mutating = IsMutating(r)
	ev.Network = n.ClassifyNetwork(r)
	ev.UAFamily = UserAgentFamily(r.UserAgent)
	ev.MFA = mfaUsed(r)
	ev.Selected = n.Selection.Selects(r)
	return ev, nil
}

// NormalizeSelected normalizes a record the production rule (plus the
// additions of n.Selection) selects, and
// returns a *SkipError with SkipNotSelected for one it does not, without
// the work of normalizing it (most of CloudTrail is reads).
func (n *Normalizer) NormalizeSelected(r *Record) (Event, error) {
	if !n.Selection.Selects(r) && r.EventTime != "" && r.EventName != "" && r.EventSource != "" {
		return Event{}, &SkipError{Reason: SkipNotSelected}
	}
	ev, err := n.Normalize(r)
	if err == nil && !ev.Selected {
		return Event{}, &SkipError{Reason: SkipNotSelected}
	}
	return ev, err
}

// deniedCodes are the authorization failures that the EventBridge rule
// selects even on read-only calls. Keep this list equal to the one in the
// CDK app's ingestion rule (infra).
var deniedCodes = []string{
	"AccessDenied",
	"AccessDeniedException",
	"UnauthorizedOperation",
	"Client.UnauthorizedOperation",
	"UnauthorizedAccess",
	"AuthorizationError",
	"AuthorizationErrorException",
	"NotAuthorized",
	"Forbidden",
	"InvalidClientTokenId",
}

// DeniedErrorCodes returns the authorization error codes the production
// rule selects.
func DeniedErrorCodes() []string { return append([]string(nil), deniedCodes...) }

// Selected applies the production EventBridge rule exactly: API calls
// whose readOnly is false, console sign-ins, and any call denied for
// authorization. Service events are not selected. A record without readOnly
// (old archives) is not selected unless denied, as EventBridge, which only
// matches fields that are present, would not.
func Selected(r *Record) bool {
	if r.EventType == "AwsServiceEvent" {
		return false
	}
	if r.EventType == "AwsConsoleSignIn" {
		return true
	}
	if r.ReadOnly != nil && !*r.ReadOnly {
		return true
	}
	for _, c := range deniedCodes {
		if r.ErrorCode == c {
			return true
		}
	}
	return false
}

// readPrefixes mark read-only calls by name when readOnly is absent.
var readPrefixes = []string{
	"Describe", "Get", "List", "Head", "Lookup", "Search", "Scan", "Query",
	"BatchGet", "Select", "Check", "Validate", "Estimate", "Preview",
	"Simulate", "Verify", "Decrypt", "View", "Filter", "Discover", "Export",
}

// IsMutating reports whether the call changes state: readOnly false, or,
// when readOnly is absent, a name that is not a read.
func IsMutating(r *Record) bool {
	if r.ReadOnly != nil {
		return !*r.ReadOnly
	}
	if r.EventType == "AwsConsoleSignIn" {
		return false
	}
	for _, p := range readPrefixes {
		if strings.HasPrefix(r.EventName, p) {
			return false
		}
	}
	return true
}

// ClassifyError groups an error code into a class.
func ClassifyError(code string) ErrorClass {
	if code == "" {
		return ErrNone
	}
	c := strings.ToLower(code)
	switch {
	case strings.Contains(c, "accessdenied"), strings.Contains(c, "unauthorized"),
		strings.Contains(c, "forbidden"), strings.Contains(c, "notauthorized"),
		strings.Contains(c, "authorizationerror"), c == "invalidclienttokenid",
		strings.Contains(c, "authfailure"):
		return ErrDenied
	case strings.Contains(c, "throttl"), strings.Contains(c, "limitexceeded"),
		strings.Contains(c, "toomanyrequests"), strings.Contains(c, "slowdown"):
		return ErrThrottled
	case strings.Contains(c, "notfound"), strings.HasPrefix(c, "nosuch"):
		return ErrNotFound
	}
	return ErrOther
}

// ClassifySource classifies a sourceIPAddress value.
func (n *Normalizer) ClassifySource(src string) Network {
	src = strings.TrimSpace(src)
	switch {
	case src == "":
		return Network{Class: NetUnknown, Key: "unknown"}
	case strings.EqualFold(src, "AWS Internal"):
		return Network{Class: NetAWSInternal, Key: "aws-internal"}
	case strings.HasSuffix(src, ".amazonaws.com"):
		return Network{Class: NetService, Key: src}
	}
	addr, err := netip.ParseAddr(src)
	if err != nil {
		return Network{Class: NetUnknown, Key: "other:" + truncate(src, 64)}
	}
	addr = addr.Unmap()
	if name, ok := n.Networks.Lookup(addr); ok {
		return Network{Class: NetProvider, Key: NetworkKeyPrefix + name, Provider: name}
	}
	if rng, ok := n.Ranges.Lookup(addr); ok {
		return Network{Class: NetAWS, Key: "aws/" + rng.Region, Service: rng.Service, Region: rng.Region}
	}
	bits := 24
	if addr.Is6() {
		bits = 48
	}
	pfx, err := addr.Prefix(bits)
	if err != nil {
		return Network{Class: NetUnknown, Key: "other:" + truncate(src, 64)}
	}
	class := NetPublic
	if addr.IsPrivate() || addr.IsLoopback() || addr.IsLinkLocalUnicast() {
		class = NetPrivate
	}
	return Network{Class: class, Key: pfx.String()}
}

// ClassifyNetwork classifies where a call came from. A call through a VPC
// endpoint (vpcEndpointId, which CloudTrail sets and the caller cannot) was
// made from inside the account's VPC, so from inside AWS: it is AWS's network
// in the call's region, as an AWS-owned address there would be, whatever
// its source address (private, or a publicly routable range used inside the
// VPC). AWS-owned addresses, named networks (the user's own word for where
// the call came from, such as self-hosted runners' subnets), service and
// "AWS Internal" sources keep their classification.
func (n *Normalizer) ClassifyNetwork(r *Record) Network {
	nw := n.ClassifySource(r.SourceIPAddress)
	vpce := strings.TrimSpace(r.VPCEndpointID)
	if vpce == "" {
		return nw
	}
	switch nw.Class {
	case NetAWS, NetProvider, NetService, NetAWSInternal:
		nw.VPCEndpoint = truncate(vpce, 64)
		return nw
	}
	region := r.AWSRegion
	if region == "" {
		region = "unknown"
	}
	return Network{Class: NetAWS, Key: "aws/" + truncate(region, 32), Region: truncate(region, 32), VPCEndpoint: truncate(vpce, 64)}
}

// TestSource is the EventBridge source of synthetic test events (see the
// CDK app's enableTestEvents; infra/internal/ingest.TestSource, kept equal
// by TestTestSourceMatchesInfra).
const TestSource = "trailwatch.test"

// TestPrincipalPrefix starts the baseline key of every test event's
// principal, so that test events never train, wipe or alert on a real
// principal's baseline. A real key starts with an account ID (or is empty
// before its first colon); a record from outside the test namespace whose
// key would start with this prefix is skipped.
const TestPrincipalPrefix = "test:"

type principal struct {
	key, arn string
	human    bool
	// session is the caller-chosen session or federation name.
	session string
	test    bool
}

// PrincipalKey returns the baseline key of the record's caller, the ARN
// shown to people, and whether the principal is a person keyed per session.
func (n *Normalizer) PrincipalKey(r *Record) (key, arn string, human bool, err error) {
	acct := r.RecipientAccountID
	if acct == "" {
		acct = r.UserIdentity.AccountID
	}
	p, err := n.principal(r, acct)
	return p.key, p.arn, p.human, err
}

// principal keys the caller, in the test namespace for test events.
func (n *Normalizer) principal(r *Record, acct string) (principal, error) {
	p, err := n.caller(r, acct)
	if err != nil {
		return principal{}, err
	}
	if r.IsTest() {
		p.key, p.test = TestPrincipalPrefix+p.key, true
		return p, nil
	}
	if strings.HasPrefix(p.key, TestPrincipalPrefix) {
		// Only a forged account ID ("test") gets here.
		return principal{}, &SkipError{Reason: SkipNoPrincipal, Detail: "key in the reserved test namespace"}
	}
	return p, nil
}

// caller keys the record's caller, by userIdentity.type.
func (n *Normalizer) caller(r *Record, acct string) (principal, error) {
	u := &r.UserIdentity
	if u.AccountID != "" {
		acct = u.AccountID
	}
	noPrincipal := &SkipError{Reason: SkipNoPrincipal, Detail: "userIdentity type " + truncate(u.Type, 32)}
	switch u.Type {
	case "IAMUser":
		name := u.UserName
		if name == "" {
			name = lastSegment(u.ARN)
		}
		if name == "" {
			return principal{}, noPrincipal
		}
		return principal{key: acct + ":user/" + name, arn: u.ARN}, nil
	case "Root":
		return principal{key: acct + ":root", arn: u.ARN}, nil
	case "AssumedRole":
		role := ""
		roleAcct := acct
		issuerARN := ""
		if sc := u.SessionContext; sc != nil {
			role = sc.SessionIssuer.UserName
			issuerARN = sc.SessionIssuer.ARN
			if sc.SessionIssuer.AccountID != "" {
				roleAcct = sc.SessionIssuer.AccountID
			}
		}
		// arn:aws:sts::123:assumed-role/RoleName/SessionName
		session := ""
		if rest, ok := strings.CutPrefix(resourcePart(u.ARN), "assumed-role/"); ok {
			parts := strings.SplitN(rest, "/", 2)
			if role == "" {
				role = parts[0]
			}
			if len(parts) == 2 {
				session = parts[1]
			}
		}
		if role == "" {
			return principal{}, noPrincipal
		}
		arn := issuerARN
		if arn == "" {
			arn = u.ARN
		}
		if session != "" && n.perSession(role) {
			return principal{key: roleAcct + ":role/" + role + "/" + session, arn: u.ARN, human: true, session: session}, nil
		}
		return principal{key: roleAcct + ":role/" + role, arn: arn, session: session}, nil
	case "FederatedUser":
		p, ok := federatedUser(u, acct)
		if !ok {
			return principal{}, noPrincipal
		}
		return p, nil
	case "AWSService":
		svc := u.InvokedBy
		if svc == "" {
			svc = r.SourceIPAddress
		}
		if svc == "" {
			return principal{}, noPrincipal
		}
		return principal{key: r.RecipientAccountID + ":service/" + svc, arn: svc}, nil
	case "AWSAccount":
		other := u.AccountID
		if other == "" {
			other = u.PrincipalID
		}
		if other == "" {
			return principal{}, noPrincipal
		}
		return principal{key: r.RecipientAccountID + ":account/" + other, arn: "arn:aws:iam::" + other + ":root"}, nil
	case "IdentityCenterUser":
		name := u.UserName
		if name == "" && u.OnBehalfOf != nil {
			name = u.OnBehalfOf.UserID
		}
		if name == "" {
			name = u.PrincipalID
		}
		if name == "" {
			return principal{}, noPrincipal
		}
		return principal{key: r.RecipientAccountID + ":identitycenter/" + name, arn: u.ARN, human: true}, nil
	case "WebIdentityUser", "SAMLUser":
		name := u.UserName
		if name == "" {
			name = u.PrincipalID
		}
		if name == "" {
			return principal{}, noPrincipal
		}
		kind := "web-identity/"
		if u.Type == "SAMLUser" {
			kind = "saml/"
		}
		return principal{key: r.RecipientAccountID + ":" + kind + name, human: true}, nil
	default:
		id := u.ARN
		if id == "" {
			id = u.PrincipalID
		}
		if id == "" {
			return principal{}, noPrincipal
		}
		return principal{key: acct + ":unknown/" + truncate(id, 128), arn: u.ARN}, nil
	}
}

// federatedUser keys a GetFederationToken session by the identity that
// federated it. The name in its ARN (federated-user/NAME, principalId
// "ACCOUNT:NAME" or "AIDA…:NAME") is the Name parameter the caller chose:
// keyed by it, each new name would be an untrained baseline where novelty
// is silent. CloudTrail names the federating identity in
// sessionContext.sessionIssuer: an IAMUser (its userName, arn and AIDA…
// principalId) or, rarely, Root. The session is keyed as that user (or
// root), so it is judged against the user's own history; the chosen name
// stays as the session name and in the ARN shown with findings. Without an
// issuer (not seen in CloudTrail) all of an account's federated sessions
// share the key ACCOUNT:federated-user; without anything naming a session
// it reports false.
func federatedUser(u *UserIdentity, acct string) (principal, bool) {
	p := principal{arn: u.ARN}
	if rest, ok := strings.CutPrefix(resourcePart(u.ARN), "federated-user/"); ok {
		p.session = rest
	} else if _, name, ok := strings.Cut(u.PrincipalID, ":"); ok {
		p.session = name
	}
	if sc := u.SessionContext; sc != nil {
		is := &sc.SessionIssuer
		issuerAcct := acct
		if is.AccountID != "" {
			issuerAcct = is.AccountID
		}
		switch is.Type {
		case "IAMUser":
			name := is.UserName
			if name == "" {
				name = lastSegment(is.ARN)
			}
			if name != "" {
				p.key = issuerAcct + ":user/" + name
				return p, true
			}
		case "Root":
			p.key = issuerAcct + ":root"
			return p, true
		}
	}
	if u.ARN == "" && u.PrincipalID == "" {
		return principal{}, false
	}
	p.key = acct + ":federated-user"
	return p, true
}

func (n *Normalizer) perSession(role string) bool {
	for _, pat := range n.Keying.PerSessionRoles {
		if ok, _ := path.Match(pat, role); ok {
			return true
		}
	}
	return false
}

func mfaUsed(r *Record) bool {
	if sc := r.UserIdentity.SessionContext; sc != nil && sc.Attributes.MFAAuthenticated == "true" {
		return true
	}
	if r.EventType == "AwsConsoleSignIn" && len(r.AdditionalEventData) > 0 {
		return strings.Contains(string(r.AdditionalEventData), `"MFAUsed":"Yes"`) ||
			strings.Contains(string(r.AdditionalEventData), `"MFAUsed": "Yes"`)
	}
	return false
}

// resourcePart returns what follows the fifth colon of an ARN.
func resourcePart(arn string) string {
	for i := 0; i < 5; i++ {
		j := strings.IndexByte(arn, ':')
		if j < 0 {
			return ""
		}
		arn = arn[j+1:]
	}
	return arn
}

func lastSegment(arn string) string {
	res := resourcePart(arn)
	if i := strings.LastIndexByte(res, '/'); i >= 0 {
		return res[i+1:]
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
