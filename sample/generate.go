package sample

import (
	"cmp"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Config controls Generate.
type Config struct {
	// Seed makes the output a pure function of the configuration.
	Seed uint64
	// Start and End bound the simulated history (End exclusive). Attacks
	// and benign surprises are placed relative to the default dates and are
	// left out when they fall outside [Start, End).
	Start, End time.Time
	// NoScenarios leaves out the labelled attacks and surprises.
	NoScenarios bool
}

// DefaultConfig is the configuration of the bundled sample: seed 1, from
// 2026-10-05T00:00Z to 2026-11-05T00:00Z.
func DefaultConfig() Config {
	return Config{
		Seed:  1,
		Start: time.Date(2026, 10, 5, 0, 0, 0, 0, time.UTC),
		End:   time.Date(2026, 11, 5, 0, 0, 0, 0, time.UTC),
	}
}

// Dataset is a generated history: records sorted by eventTime then eventID,
// and the labels of the injected scenarios.
type Dataset struct {
	Seed    uint64
	Records []Record
	Labels  []Label
}

// Generate simulates the organization described in the package
// documentation and returns its CloudTrail records.
func Generate(cfg Config) (*Dataset, error) {
	if cfg.Start.IsZero() || cfg.End.IsZero() {
		return nil, errors.New("sample: Start and End are required")
	}
	if !cfg.End.After(cfg.Start) {
		return nil, fmt.Errorf("sample: End %s is not after Start %s", cfg.End.Format(time.RFC3339), cfg.Start.Format(time.RFC3339))
	}
	g := newGen(cfg.Seed, cfg.Start.UTC(), cfg.End.UTC())
	g.buildOrg()
	g.simulate()
	if !cfg.NoScenarios {
		g.scenarios()
	}
	g.quiet(!cfg.NoScenarios)
	// Drop anything outside the window (sessions may straddle its edges).
	kept := g.recs[:0]
	for _, r := range g.recs {
		if r.EventTime >= g.startS && r.EventTime < g.endS {
			kept = append(kept, r)
		}
	}
	g.recs = kept
	slices.SortFunc(g.recs, func(a, b Record) int {
		return cmp.Or(cmp.Compare(a.EventTime, b.EventTime), cmp.Compare(a.EventID, b.EventID))
	})
	keptIDs := make(map[string]bool, len(g.recs))
	for _, r := range g.recs {
		keptIDs[r.EventID] = true
	}
	var labels []Label
	for _, l := range g.labels {
		ids := l.EventIDs[:0]
		for _, id := range l.EventIDs {
			if keptIDs[id] {
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			continue
		}
		l.EventIDs = ids
		labels = append(labels, l)
	}
	return &Dataset{Seed: cfg.Seed, Records: g.recs, Labels: labels}, nil
}

// gen holds the state of one simulation.
type gen struct {
	r          *rand.Rand
	seed       uint64
	start, end time.Time
	startS     string
	endS       string
	recs       []Record
	labels     []Label
	ny         *time.Location

	accounts []*account
	humans   []*human
	roleIDs  map[string]string
	byID     map[string]int

	backupKey    string
	backupCaller *caller
}

func newGen(seed uint64, start, end time.Time) *gen {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		// time/tzdata is embedded, so this cannot happen.
		panic(err)
	}
	return &gen{
		r:      rand.New(rand.NewPCG(seed, seed)),
		seed:   seed,
		start:  start,
		end:    end,
		startS: start.Format(timeLayout),
		endS:   end.Format(timeLayout),
		ny:     ny,
	}
}

const timeLayout = "2006-01-02T15:04:05Z"

// iamDate is how IAM and STS print dates inside response elements.
const iamDate = "Jan 2, 2006, 3:04:05 PM"

func ts(t time.Time) string { return t.UTC().Format(timeLayout) }

// ---- random identifiers ----

const (
	hexDigits   = "0123456789abcdef"
	upperAlnum  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	keyAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	mixedAlnum  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

func randString(r *rand.Rand, alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

func (g *gen) hex(n int) string { return randString(g.r, hexDigits, n) }

// uuid4 returns a random version 4 UUID.
func uuid4(r *rand.Rand) string {
	var b [16]byte
	a, c := r.Uint64(), r.Uint64()
	for i := 0; i < 8; i++ {
		b[i] = byte(a >> (8 * i))
		b[8+i] = byte(c >> (8 * i))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const h = hexDigits
	out := make([]byte, 0, 36)
	for i, x := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, h[x>>4], h[x&0x0f])
	}
	return string(out)
}

func (g *gen) uuid() string { return uuid4(g.r) }

// accessKey returns an access key ID with the given prefix (AKIA or ASIA).
func (g *gen) accessKey(prefix string) string { return prefix + randString(g.r, keyAlphabet, 16) }

// uniqueID returns an IAM unique ID (AIDA…, AROA…).
func (g *gen) uniqueID(prefix string) string { return prefix + randString(g.r, keyAlphabet, 17) }

func (g *gen) sessionToken() string {
	return "IQoJb3JpZ2luX2VjE" + randString(g.r, mixedAlnum, 96)
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// poisson draws a Poisson variate with mean m.
func poisson(r *rand.Rand, m float64) int {
	if m <= 0 {
		return 0
	}
	if m > 30 {
		v := int(math.Round(m + math.Sqrt(m)*r.NormFloat64()))
		return max(v, 0)
	}
	l, k, p := math.Exp(-m), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// randIP returns a random host address inside prefix.
func randIP(r *rand.Rand, prefix string) string {
	p := netip.MustParsePrefix(prefix)
	a := p.Addr().As4()
	base := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	size := uint32(1) << (32 - p.Bits())
	off := uint32(1)
	if size > 2 {
		off = 1 + r.Uint32N(size-2)
	}
	v := base + off
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String()
}

func stableHash(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

// sdkVersion gives a stable, plausible SDK client version per service.
func sdkVersion(svc string) string {
	known := map[string]string{
		"dynamodb": "1.36.2", "s3": "1.66.0", "sqs": "1.36.2", "kms": "1.37.2", "sts": "1.32.2",
		"iam": "1.37.2", "ec2": "1.187.0", "lambda": "1.64.0", "ssm": "1.55.2", "secretsmanager": "1.34.2",
	}
	if v, ok := known[svc]; ok {
		return v
	}
	h := stableHash(svc)
	return fmt.Sprintf("1.%d.%d", 20+h%30, h/30%9)
}

// ---- callers ----

// caller is who makes a call and how: identity, network, tool.
type caller struct {
	id      UserIdentity
	acct    *account
	region  string
	ip      string
	ipPool  []string // when set, each call picks one of these
	ua      string   // may hold {cmd} (aws-cli command) or {api} (SDK api/ token)
	console bool
	version string
}

func (c *caller) arn() string { return c.id.ARN }

// callOpts override parts of a generated record.
type callOpts struct {
	deny       bool
	req, resp  Object
	setReq     bool
	setResp    bool
	extra      Object
	resources  []Resource
	region     string
	sharedID   string
	recipient  string
	eventType  string
	serviceEvt Object
}

// emit appends one record and returns its eventID.
func (g *gen) emit(c *caller, t time.Time, key string, o callOpts) string {
	a := mustAPI(key)
	c.acct.now = t
	region := cmp.Or(o.region, c.region, "us-east-1")
	if globalService(a.svc) {
		region = "us-east-1"
	}
	ip := c.ip
	if len(c.ipPool) > 0 {
		ip = pick(g.r, c.ipPool)
	}
	ua := c.ua
	if strings.Contains(ua, "{cmd}") {
		ua = strings.Replace(ua, "{cmd}", cliCommand(a), 1)
	}
	if strings.Contains(ua, "{api}") {
		s := sdkService(a.svc)
		ua = strings.Replace(ua, "{api}", "api/"+s+"#"+sdkVersion(s), 1)
	}
	rec := Record{
		EventVersion:       cmp.Or(c.version, "1.09"),
		UserIdentity:       c.id,
		EventTime:          ts(t),
		EventSource:        a.source(),
		EventName:          a.name,
		AWSRegion:          region,
		SourceIPAddress:    ip,
		UserAgent:          ua,
		ReadOnly:           a.readOnly,
		EventType:          cmp.Or(o.eventType, "AwsApiCall"),
		ManagementEvent:    !a.data,
		RecipientAccountID: cmp.Or(o.recipient, c.acct.id),
		SharedEventID:      o.sharedID,
		EventCategory:      "Management",
	}
	if a.data {
		rec.EventCategory = "Data"
		rec.EventVersion = "1.08"
	}
	req, resp, res, extra := g.params(c, a, region)
	if o.setReq {
		req = o.req
	}
	if o.setResp {
		resp = o.resp
	}
	if o.resources != nil {
		res = o.resources
	}
	if o.extra != nil {
		extra = o.extra
	}
	rec.RequestParameters, rec.ResponseElements, rec.Resources, rec.AdditionalEventData = req, resp, res, extra
	rec.ServiceEventDetails = o.serviceEvt
	if o.deny {
		rec.ResponseElements = nil
		rec.ErrorCode, rec.ErrorMessage = denial(c, a, region, req)
	}
	rec.RequestID = g.requestID(a)
	rec.EventID = g.uuid()
	if c.id.InvokedBy == "" && ip != "AWS Internal" && !strings.HasSuffix(ip, ".amazonaws.com") {
		rec.TLSDetails = &TLSDetails{
			TLSVersion:               "TLSv1.3",
			CipherSuite:              "TLS_AES_128_GCM_SHA256",
			ClientProvidedHostHeader: hostHeader(a, region),
		}
		if strings.HasPrefix(ua, "aws-cli/1.") || strings.HasPrefix(ua, "aws-sdk-java") {
			rec.TLSDetails.TLSVersion = "TLSv1.2"
			rec.TLSDetails.CipherSuite = "ECDHE-RSA-AES128-GCM-SHA256"
		}
	}
	if c.console {
		rec.SessionCredentialFromConsole = "true"
	}
	g.recs = append(g.recs, rec)
	return rec.EventID
}

func (g *gen) requestID(a api) string {
	switch a.svc {
	case "s3":
		return randString(g.r, upperAlnum, 16)
	case "dynamodb":
		return randString(g.r, upperAlnum, 52)
	case "signin":
		return ""
	}
	return g.uuid()
}

// denial is the errorCode and errorMessage AWS records for a call the
// caller is not allowed to make.
func denial(c *caller, a api, region string, req Object) (string, string) {
	action := a.svc + ":" + strings.TrimSuffix(strings.TrimSuffix(a.name, "20150331v2"), "20150331")
	if a.svc == "monitoring" {
		action = "cloudwatch:" + a.name
	}
	if a.svc == "elasticloadbalancing" {
		action = "elasticloadbalancing:" + a.name
	}
	msg := fmt.Sprintf("User: %s is not authorized to perform: %s because no identity-based policy allows the %s action", c.arn(), action, action)
	switch {
	case a.svc == "ec2":
		return "Client.UnauthorizedOperation", "You are not authorized to perform this operation. " + msg
	case a.svc == "s3":
		return "AccessDenied", "Access Denied"
	case xmlProtocol(a.svc):
		return "AccessDenied", msg
	}
	return "AccessDeniedException", msg
}
