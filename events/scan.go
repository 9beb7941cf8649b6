package events

import (
	"bytes"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// A hand-written scanner for the objects replay reads. It decodes the
// fields Trailwatch uses straight from the bytes, keeps request and
// response payloads as raw JSON, and skips everything else without
// allocating. It validates everything encoding/json validates, in the
// values it skips too (string escapes, numbers, literals, nesting depth),
// so it accepts exactly the inputs encoding/json accepts and then yields
// what encoding/json would (FuzzScanRecord and FuzzDecodeEnvelope check
// this); on invalid input it returns an error and never panics.

var errSyntax = errors.New("invalid JSON")

type scanner struct {
	b []byte
	i int
	// depth is the number of objects and arrays open at the cursor.
	depth int
	// intern holds repeated short strings (event names, sources, regions,
	// types) so that each record does not allocate them again.
	intern map[string]string
}

const maxIntern = 8192

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	s.ws()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

func (s *scanner) expect(c byte) error {
	if s.peek() != c {
		return errSyntax
	}
	s.i++
	return nil
}

// rawString returns the bytes between the quotes of the string at the
// cursor, and whether it holds escapes.
func (s *scanner) rawString() ([]byte, bool, error) {
	if s.peek() != '"' {
		return nil, false, errSyntax
	}
	s.i++
	start := s.i
	esc := false
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			raw := s.b[start:s.i]
			s.i++
			return raw, esc, nil
		case c == '\\':
			// Validate the escape as encoding/json does, also in
			// strings that are only skipped.
			esc = true
			if s.i+1 >= len(s.b) {
				return nil, false, errSyntax
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if _, ok := hex4(s.b[s.i+2:]); !ok {
					return nil, false, errSyntax
				}
				s.i += 6
			default:
				return nil, false, errSyntax
			}
		case c < 0x20:
			return nil, false, errSyntax
		default:
			s.i++
		}
	}
	return nil, false, errSyntax
}

// setStr decodes a string value into *dst; null leaves *dst unchanged,
// as encoding/json does.
func (s *scanner) setStr(dst *string, intern bool) error {
	if s.peek() == 'n' {
		return s.literal("null")
	}
	v, err := s.str(intern)
	if err == nil {
		*dst = v
	}
	return err
}

// str decodes a string value.
func (s *scanner) str(intern bool) (string, error) {
	raw, esc, err := s.rawString()
	if err != nil {
		return "", err
	}
	if esc || !utf8.Valid(raw) {
		// unescape also replaces each invalid byte with U+FFFD, as
		// encoding/json does.
		return unescape(raw)
	}
	if intern && len(raw) <= 64 {
		if v, ok := s.intern[string(raw)]; ok {
			return v, nil
		}
		v := string(raw)
		if s.intern == nil {
			s.intern = map[string]string{}
		}
		if len(s.intern) < maxIntern {
			s.intern[v] = v
		}
		return v, nil
	}
	return string(raw), nil
}

func unescape(raw []byte) (string, error) {
	var sb strings.Builder
	sb.Grow(len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			if c < utf8.RuneSelf {
				sb.WriteByte(c)
				i++
				continue
			}
			r, size := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && size == 1 {
				sb.WriteRune(utf8.RuneError)
			} else {
				sb.Write(raw[i : i+size])
			}
			i += size
			continue
		}
		if i+1 >= len(raw) {
			return "", errSyntax
		}
		switch c := raw[i+1]; c {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			sb.WriteByte(simpleEscapes[c])
			i += 2
		case 'u':
			r, ok := hex4(raw[i+2:])
			if !ok {
				return "", errSyntax
			}
			i += 6
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if i+1 < len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					if v, ok := hex4(raw[i+2:]); ok {
						r2 = v
					}
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					i += 6
					r = dec
				} else {
					r = utf8.RuneError
				}
			}
			sb.WriteRune(r)
		default:
			return "", errSyntax
		}
	}
	return sb.String(), nil
}

// simpleEscapes maps the letter after a backslash to the byte it stands for.
var simpleEscapes = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		r <<= 4
		switch {
		case '0' <= c && c <= '9':
			r |= rune(c - '0')
		case 'a' <= c && c <= 'f':
			r |= rune(c - 'a' + 10)
		case 'A' <= c && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}

func (s *scanner) literal(lit string) error {
	s.ws()
	if !bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
		return errSyntax
	}
	s.i += len(lit)
	return nil
}

// boolPtr decodes true, false or null.
func (s *scanner) boolPtr() (*bool, error) {
	switch s.peek() {
	case 't':
		v := true
		return &v, s.literal("true")
	case 'f':
		v := false
		return &v, s.literal("false")
	case 'n':
		return nil, s.literal("null")
	}
	return nil, errSyntax
}

// raw returns the value at the cursor as raw JSON (a copy), or nil for
// null, as json.RawMessage would hold it.
func (s *scanner) raw() ([]byte, error) {
	s.ws()
	start := s.i
	if err := s.skip(); err != nil {
		return nil, err
	}
	v := s.b[start:s.i]
	return append([]byte(nil), v...), nil
}

// maxDepth is encoding/json's limit on nested objects and arrays.
const maxDepth = 10000

// open enters an object or array whose opening byte is at the cursor.
func (s *scanner) open() error {
	s.i++
	s.depth++
	if s.depth > maxDepth {
		return errSyntax
	}
	return nil
}

// skip passes over one value, checking its syntax.
func (s *scanner) skip() error {
	switch s.peek() {
	case '"':
		_, _, err := s.rawString()
		return err
	case '{':
		if err := s.open(); err != nil {
			return err
		}
		if s.peek() == '}' {
			s.i++
			s.depth--
			return nil
		}
		for {
			if _, _, err := s.rawString(); err != nil {
				return err
			}
			if err := s.expect(':'); err != nil {
				return err
			}
			if err := s.skip(); err != nil {
				return err
			}
			switch s.peek() {
			case ',':
				s.i++
			case '}':
				s.i++
				s.depth--
				return nil
			default:
				return errSyntax
			}
		}
	case '[':
		if err := s.open(); err != nil {
			return err
		}
		if s.peek() == ']' {
			s.i++
			s.depth--
			return nil
		}
		for {
			if err := s.skip(); err != nil {
				return err
			}
			switch s.peek() {
			case ',':
				s.i++
			case ']':
				s.i++
				s.depth--
				return nil
			default:
				return errSyntax
			}
		}
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	default:
		return s.number()
	}
}

func (s *scanner) number() error {
	s.ws()
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	digits := func() int {
		n := 0
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	intStart := s.i
	if digits() == 0 {
		return errSyntax
	}
	if s.b[intStart] == '0' && s.i-intStart > 1 {
		return errSyntax
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if digits() == 0 {
			return errSyntax
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return errSyntax
		}
	}
	if s.i == start {
		return errSyntax
	}
	return nil
}

// object calls field for each key of the object at the cursor; field must
// consume the value. null is an empty object.
func (s *scanner) object(field func(key []byte) error) error {
	switch s.peek() {
	case 'n':
		return s.literal("null")
	case '{':
		if err := s.open(); err != nil {
			return err
		}
	default:
		return errSyntax
	}
	if s.peek() == '}' {
		s.i++
		s.depth--
		return nil
	}
	for {
		key, esc, err := s.rawString()
		if err != nil {
			return err
		}
		if esc {
			k, err := unescape(key)
			if err != nil {
				return err
			}
			key = []byte(k)
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		if err := field(key); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			s.depth--
			return nil
		default:
			return errSyntax
		}
	}
}

// end checks that only white space follows the value.
func (s *scanner) end() error {
	s.ws()
	if s.i != len(s.b) {
		return errSyntax
	}
	return nil
}

// keySet is the keys of one JSON object type. canon maps a key as it is
// spelled in the input to the known key encoding/json would fill: exactly,
// else case-insensitively (as encoding/json matches), else "".
type keySet struct {
	exact map[string]string
	list  []string
}

func newKeySet(keys ...string) keySet {
	ks := keySet{exact: make(map[string]string, len(keys)), list: keys}
	for _, k := range keys {
		ks.exact[k] = k
	}
	return ks
}

func (ks keySet) canon(key []byte) string {
	if k, ok := ks.exact[string(key)]; ok {
		return k
	}
	spelled := string(key)
	for _, k := range ks.list {
		if strings.EqualFold(k, spelled) {
			return k
		}
	}
	return ""
}

var (
	recordKeys = newKeySet("eventVersion", "userIdentity", "eventTime", "eventSource", "eventName", "awsRegion",
		"sourceIPAddress", "userAgent", "errorCode", "errorMessage", "requestParameters", "responseElements",
		"additionalEventData", "requestID", "eventID", "readOnly", "eventType", "managementEvent",
		"recipientAccountId", "sharedEventID", "vpcEndpointId", "eventCategory", "tlsDetails", "sessionCredentialFromConsole")
	identityKeys = newKeySet("type", "principalId", "arn", "accountId", "accessKeyId", "userName", "invokedBy",
		"identityProvider", "credentialId", "sessionContext", "onBehalfOf")
	envelopeKeys       = newKeySet("detail-type", "detail", "source", "account", "body", "Message")
	tlsKeys            = newKeySet("tlsVersion", "cipherSuite", "clientProvidedHostHeader")
	onBehalfOfKeys     = newKeySet("userId", "identityStoreArn")
	sessionContextKeys = newKeySet("sessionIssuer", "webIdFederationData", "attributes", "sourceIdentity", "ec2RoleDelivery")
	sessionIssuerKeys  = newKeySet("type", "principalId", "arn", "accountId", "userName")
	webIDKeys          = newKeySet("federatedProvider", "attributes")
	attributesKeys     = newKeySet("creationDate", "mfaAuthenticated")
)

// recordField decodes the value of one record key (canonical, see
// keySet). It reports false for keys that are not record fields, leaving
// the value unread.
func (s *scanner) recordField(r *Record, key string) (bool, error) {
	var err error
	switch key {
	case "eventVersion":
		err = s.setStr(&r.EventVersion, true)
	case "userIdentity":
		err = s.userIdentity(&r.UserIdentity)
	case "eventTime":
		err = s.setStr(&r.EventTime, false)
	case "eventSource":
		err = s.setStr(&r.EventSource, true)
	case "eventName":
		err = s.setStr(&r.EventName, true)
	case "awsRegion":
		err = s.setStr(&r.AWSRegion, true)
	case "sourceIPAddress":
		err = s.setStr(&r.SourceIPAddress, false)
	case "userAgent":
		err = s.setStr(&r.UserAgent, true)
	case "errorCode":
		err = s.setStr(&r.ErrorCode, true)
	case "errorMessage":
		err = s.setStr(&r.ErrorMessage, false)
	case "requestParameters":
		r.RequestParameters, err = s.rawOrNil()
	case "responseElements":
		r.ResponseElements, err = s.rawOrNil()
	case "additionalEventData":
		r.AdditionalEventData, err = s.rawOrNil()
	case "requestID":
		err = s.setStr(&r.RequestID, false)
	case "eventID":
		err = s.setStr(&r.EventID, false)
	case "readOnly":
		r.ReadOnly, err = s.boolPtr()
	case "eventType":
		err = s.setStr(&r.EventType, true)
	case "managementEvent":
		r.ManagementEvent, err = s.boolPtr()
	case "recipientAccountId":
		err = s.setStr(&r.RecipientAccountID, true)
	case "sharedEventID":
		err = s.setStr(&r.SharedEventID, false)
	case "vpcEndpointId":
		err = s.setStr(&r.VPCEndpointID, true)
	case "eventCategory":
		err = s.setStr(&r.EventCategory, true)
	case "tlsDetails":
		if s.peek() == 'n' {
			r.TLSDetails = nil
			err = s.literal("null")
			break
		}
		if r.TLSDetails == nil {
			r.TLSDetails = &TLSDetails{}
		}
		t := r.TLSDetails
		err = s.object(func(k []byte) error {
			var err error
			switch tlsKeys.canon(k) {
			case "tlsVersion":
				err = s.setStr(&t.TLSVersion, true)
			case "cipherSuite":
				err = s.setStr(&t.CipherSuite, true)
			case "clientProvidedHostHeader":
				err = s.setStr(&t.ClientProvidedHostHeader, true)
			default:
				err = s.skip()
			}
			return err
		})
	case "sessionCredentialFromConsole":
		err = s.setStr(&r.SessionCredentialFromConsole, true)
	default:
		return false, nil
	}
	return true, err
}

// rawOrNil is json.RawMessage semantics: null is kept as the bytes "null".
func (s *scanner) rawOrNil() ([]byte, error) { return s.raw() }

func (s *scanner) userIdentity(u *UserIdentity) error {
	return s.object(func(k []byte) error {
		if ok, err := s.identityField(u, identityKeys.canon(k)); ok || err != nil {
			return err
		}
		return s.skip()
	})
}

func (s *scanner) identityField(u *UserIdentity, key string) (bool, error) {
	var err error
	switch key {
	case "type":
		err = s.setStr(&u.Type, true)
	case "principalId":
		err = s.setStr(&u.PrincipalID, false)
	case "arn":
		err = s.setStr(&u.ARN, false)
	case "accountId":
		err = s.setStr(&u.AccountID, true)
	case "accessKeyId":
		err = s.setStr(&u.AccessKeyID, false)
	case "userName":
		err = s.setStr(&u.UserName, false)
	case "invokedBy":
		err = s.setStr(&u.InvokedBy, true)
	case "identityProvider":
		err = s.setStr(&u.IdentityProvider, true)
	case "credentialId":
		err = s.setStr(&u.CredentialID, false)
	case "sessionContext":
		if s.peek() == 'n' {
			u.SessionContext = nil
			return true, s.literal("null")
		}
		if u.SessionContext == nil {
			u.SessionContext = &SessionContext{}
		}
		err = s.sessionContext(u.SessionContext)
	case "onBehalfOf":
		if s.peek() == 'n' {
			u.OnBehalfOf = nil
			return true, s.literal("null")
		}
		if u.OnBehalfOf == nil {
			u.OnBehalfOf = &OnBehalfOf{}
		}
		o := u.OnBehalfOf
		err = s.object(func(k []byte) error {
			switch onBehalfOfKeys.canon(k) {
			case "userId":
				return s.setStr(&o.UserID, false)
			case "identityStoreArn":
				return s.setStr(&o.IdentityStoreARN, true)
			}
			return s.skip()
		})
	default:
		return false, nil
	}
	return true, err
}

func (s *scanner) sessionContext(c *SessionContext) error {
	return s.object(func(k []byte) error {
		var err error
		switch sessionContextKeys.canon(k) {
		case "sessionIssuer":
			si := &c.SessionIssuer
			err = s.object(func(k []byte) error {
				var err error
				switch sessionIssuerKeys.canon(k) {
				case "type":
					err = s.setStr(&si.Type, true)
				case "principalId":
					err = s.setStr(&si.PrincipalID, false)
				case "arn":
					err = s.setStr(&si.ARN, false)
				case "accountId":
					err = s.setStr(&si.AccountID, true)
				case "userName":
					err = s.setStr(&si.UserName, true)
				default:
					err = s.skip()
				}
				return err
			})
		case "webIdFederationData":
			if s.peek() == 'n' {
				c.WebIDFederationData = nil
				return s.literal("null")
			}
			if c.WebIDFederationData == nil {
				c.WebIDFederationData = &WebIDFederationData{}
			}
			w := c.WebIDFederationData
			err = s.object(func(k []byte) error {
				var err error
				switch webIDKeys.canon(k) {
				case "federatedProvider":
					err = s.setStr(&w.FederatedProvider, true)
				case "attributes":
					w.Attributes, err = s.raw()
				default:
					err = s.skip()
				}
				return err
			})
		case "attributes":
			a := &c.Attributes
			err = s.object(func(k []byte) error {
				var err error
				switch attributesKeys.canon(k) {
				case "creationDate":
					err = s.setStr(&a.CreationDate, false)
				case "mfaAuthenticated":
					err = s.setStr(&a.MFAAuthenticated, true)
				default:
					err = s.skip()
				}
				return err
			})
		case "sourceIdentity":
			err = s.setStr(&c.SourceIdentity, false)
		case "ec2RoleDelivery":
			err = s.setStr(&c.EC2RoleDelivery, true)
		default:
			err = s.skip()
		}
		return err
	})
}

// scanItem decodes one object that may be a record or an envelope. It
// fills it like json.Unmarshal into item would.
func (s *scanner) scanItem(it *item) error {
	err := s.object(func(k []byte) error {
		switch string(k) {
		case "detail-type":
			return s.setStr(&it.DetailType, true)
		case "source":
			return s.setStr(&it.Source, true)
		case "account":
			return s.setStr(&it.Account, true)
		case "detail":
			v, err := s.raw()
			it.Detail = v
			return err
		case "body", "Body", "Message":
			if s.peek() == 'n' {
				return s.literal("null")
			}
			v, err := s.str(false)
			switch string(k) {
			case "body":
				it.Body = &v
			case "Body":
				it.BodyAPI = &v
			default:
				it.Message = &v
			}
			return err
		}
		if ok, err := s.recordField(&it.Record, recordKeys.canon(k)); ok || err != nil {
			return err
		}
		if envelopeKeys.canon(k) != "" {
			// encoding/json would fold these keys too; rare enough to
			// leave to it.
			return errFallback
		}
		return s.skip()
	})
	if err != nil {
		return err
	}
	return s.end()
}

var errFallback = errors.New("fall back to encoding/json")

// scanRecord decodes a bare record.
func scanRecord(b []byte, r *Record, intern map[string]string) error {
	s := scanner{b: b, intern: intern}
	err := s.object(func(k []byte) error {
		if ok, err := s.recordField(r, recordKeys.canon(k)); ok || err != nil {
			return err
		}
		return s.skip()
	})
	if err != nil {
		return err
	}
	return s.end()
}
