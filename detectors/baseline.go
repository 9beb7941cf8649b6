package detectors

import (
	"math"
	"sort"
	"time"

	"github.com/trailwatch/trailwatch/events"
)

// ModelVersion is the version of the baseline model and its scoring. A
// stored baseline of an older version is migrated (version 1: see
// decodeV1RecentIDs; version 2: see migrateDimEvents) or reset on load;
// one of a newer version is refused (ErrNewerModel).
const ModelVersion = 3

// Dim is one remembered dimension of a principal's behaviour.
type Dim int

// The dimensions a baseline remembers.
const (
	DimAPI Dim = iota
	DimNetwork
	DimUserAgent
	DimRegion
	DimAccessKey
	// DimResource is the resources the principal changes ("lambda
	// function prod-orders-api"), for the types where a new target
	// matters (ResourceOf).
	DimResource
	// DimRisk is the risks the principal has taken, each as the subject
	// a high-risk rule keeps its history under ("security group opened
	// to the IPv6 internet", "snapshot shared with account X").
	DimRisk
	NumDims
)

// dimsV2 is how many dimensions model versions 1 and 2 stored.
const dimsV2 = 5

var dimNames = [NumDims]string{"api", "network", "user_agent", "region", "access_key", "resource", "risk"}

// String returns the dimension's name as used in evidence and subjects.
func (d Dim) String() string { return dimNames[d] }

// dimCaps bound each dimension. When a dimension is full, the value unseen
// the longest (then the one seen on the fewest days) is evicted. Caps keep
// an encoded baseline bounded whatever the principal does (tens of KB at
// worst, with names at their length limits; the DynamoDB store compacts a
// part that would not fit an item).
var dimCaps = [NumDims]int{DimAPI: 400, DimNetwork: 160, DimUserAgent: 48, DimRegion: 32, DimAccessKey: 24, DimResource: 256, DimRisk: 128}

// Value is one remembered value of a dimension, at day grain: it changes
// at most once per day, which keeps stored baselines cheap to write.
type Value struct {
	// First and Last are days since the Unix epoch (UTC).
	First, Last int32
	// Days counts the distinct days the value was seen (saturating).
	Days uint16
	// Bits marks the days seen among the 32 ending at Last (bit 0 is
	// Last), so late events are counted once.
	Bits uint32
}

// ValueSet is the remembered values of one dimension.
type ValueSet struct {
	Values map[string]*Value
	// Sightings is the sum of Days over values ever added (saturating):
	// the number of (value, day) observations, Good-Turing's N.
	Sightings uint32
}

// WindowRate is a principal's smoothed activity per window: an exponentially
// weighted mean and variance of log(1+count) over its active windows,
// plus the count of the current window.
type WindowRate struct {
	Window  int64 // index of the current window (unix seconds / window length)
	Count   uint32
	Mean    float64
	Var     float64
	Windows uint32 // active windows folded into Mean and Var
	Flagged bool   // a burst was already signalled in this window
}

// Session is a recently used temporary credential and where it was first
// used from.
type Session struct {
	KeyHash  uint64 // of the access key ID, to keep the hot part small
	NetClass events.NetClass
	NetKey   string
	First    int64 // unix seconds
	Last     int64
	Flagged  bool
}

// Baseline is what Trailwatch remembers about one principal. The hot part
// (counters, rates, hour histogram, sessions) changes with every event; the
// value sets change at most once per value per day. Stores may write the
// two parts separately: ColdDirty says whether the value sets changed since
// the baseline was loaded.
type Baseline struct {
	Key   string
	Model int

	// Hot part.
	Events      uint64
	Mutating    uint64
	Denied      uint64
	FirstSeen   int64 // unix seconds of the earliest event
	LastSeen    int64 // unix seconds of the latest event
	ActiveDays  uint32
	LastDay     int32
	DayBits     uint64      // active days among the 64 ending at LastDay (bit 0)
	Hours       [168]uint16 // active hours per hour of week (UTC, Monday 00h first)
	RecentHours [4]int64    // last counted unix hours, so an hour counts once
	MutRate     WindowRate
	DenyRate    WindowRate
	Sessions    []Session
	// RecentIDs holds hashes of the latest event IDs applied, oldest
	// first, at most RecentEventIDs, so a redelivered event is recognised
	// and not counted twice.
	RecentIDs []uint32
	// DimEvents counts, per dimension, the events that had a value in it
	// (saturating): the evidence NewValueProbability weighs. It is halved
	// whenever the day crosses a noveltyEpoch boundary, so it tracks the
	// same horizon as the remembered values, not the principal's lifetime.
	DimEvents [NumDims]uint32
	// RiskSince is the first day whose risks DimRisk holds: 0 for a
	// baseline that kept them from its start, the day after its last for
	// one migrated from a model that kept only APIs (a high-risk API it
	// used before that day is judged by the API's history).
	RiskSince int32

	// Cold part.
	Dims [NumDims]ValueSet

	// ColdDirty is set when the cold part changed since load.
	ColdDirty bool
}

// NewBaseline returns an empty baseline for a principal key.
func NewBaseline(key string) *Baseline {
	b := &Baseline{Key: key, Model: ModelVersion}
	for i := range b.Dims {
		b.Dims[i].Values = map[string]*Value{}
	}
	return b
}

// RecentEventIDs is how many event IDs a baseline remembers for
// redelivery. It exceeds the largest SQS batch the detect function is
// configured to receive (100, asserted against the deployed settings), so a
// whole batch redelivered any number of times, even one made of a single
// principal's events, changes nothing. A redelivery is recognised as long
// as fewer than RecentEventIDs newer events of the principal were applied
// since: SQS redelivers within the visibility timeout times the receive
// count (30 minutes as deployed). A quiet principal stores only the IDs it
// has.
const RecentEventIDs = 128

func idHash(id string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return h | 1 // zero marks an empty slot
}

// SeenEvent reports whether the event ID is among the latest ones observed.
func (b *Baseline) SeenEvent(id string) bool {
	if id == "" {
		return false
	}
	h := idHash(id)
	for _, r := range b.RecentIDs {
		if r == h {
			return true
		}
	}
	return false
}

func (b *Baseline) rememberEvent(id string) {
	if id == "" {
		return
	}
	if len(b.RecentIDs) >= RecentEventIDs {
		n := copy(b.RecentIDs, b.RecentIDs[len(b.RecentIDs)-RecentEventIDs+1:])
		b.RecentIDs = b.RecentIDs[:n]
	}
	b.RecentIDs = append(b.RecentIDs, idHash(id))
}

// RateWindow is the length of a rate window.
const RateWindow = 10 * time.Minute

// maxSessions bounds remembered session credentials.
const maxSessions = 12

// sessionTTL is how long a session credential is remembered: the longest
// STS session lasts 36 hours.
const sessionTTL = 36 * 3600

// Learning decides when a principal's novelty is scored.
type Learning struct {
	MinEvents int `yaml:"min_events" json:"min_events"`
	MinDays   int `yaml:"min_days" json:"min_days"`
}

// Mature reports whether the baseline has learned enough, before seeing an
// event at t.
func (b *Baseline) Mature(l Learning, t time.Time) bool {
	if b.Events < uint64(l.MinEvents) || b.FirstSeen == 0 {
		return false
	}
	return t.Unix()-b.FirstSeen >= int64(l.MinDays)*86400
}

// HistoryDays is the span of the baseline in days.
func (b *Baseline) HistoryDays() int {
	if b.FirstSeen == 0 {
		return 0
	}
	return int((b.LastSeen-b.FirstSeen)/86400) + 1
}

func dayOf(t time.Time) int32 { return int32(t.Unix() / 86400) }

// Has reports whether a value is remembered in a dimension.
func (b *Baseline) Has(d Dim, v string) (*Value, bool) {
	val, ok := b.Dims[d].Values[v]
	return val, ok
}

// NewValueProbability estimates the chance that the principal's next event
// brings a value never seen before in a dimension, from the evidence the
// principal really has: its events as well as its days.
//
// The estimator is Good-Turing's for the next draw, P(new) = N1/E, with
// add-one smoothing: (N1 + 1) / (E + 2). E is the events that had a value in
// the dimension (DimEvents, over about the forgetting horizon) and N1 the
// remembered values seen on exactly one day, CloudTrail's closest stand-in
// for "seen once" at the grain a baseline keeps. A principal that meets new
// values every day has a high N1 and is not surprised by one more; one that
// made thousands of calls with a handful of values has N1 near zero and E in
// the thousands, and is told so (about 1/E), where an estimate over (value,
// day) sightings would have said about 1/(days × values). The add-one term
// keeps a small sample honest: after 30 events with two one-day values the
// chance is 3/32, not 2/30, and never zero. Calibration (predicted against
// observed over benign traffic, bucket by bucket) is measured by
// Calibration and reported by make bench.
//
// n1 and n are N1 and E, for evidence.
func (b *Baseline) NewValueProbability(d Dim) (p float64, n1, n int) {
	s := &b.Dims[d]
	for _, v := range s.Values {
		if v.Days == 1 {
			n1++
		}
	}
	// Every remembered value took an event; after DimEvents was halved
	// the values may outnumber it.
	n = max(int(b.DimEvents[d]), len(s.Values))
	a := noveltyPrior[d]
	return (float64(n1) + a) / (float64(n) + 1), n1, n
}

// noveltyPrior is each dimension's prior: a Beta(a, 1-a) over the chance
// of a new value, the Krichevsky–Trofimov (Jeffreys) a = 1/2 for the
// dimensions whose values change in ordinary work (APIs, networks,
// resources, keys), a tenth for those that almost never change for a
// mature principal (its regions, its tools' families), as measured on
// benign traffic (TestCalibrationOnSample).
var noveltyPrior = [NumDims]float64{DimAPI: 0.5, DimNetwork: 0.5, DimUserAgent: 0.1, DimRegion: 0.1, DimAccessKey: 0.5, DimResource: 0.5, DimRisk: 0.5}

// noveltyEpoch is the period, in days, after which DimEvents is halved.
const noveltyEpoch = 45

// ageDimEvents halves the per-dimension event counts once per noveltyEpoch
// boundary crossed between two days.
func (b *Baseline) ageDimEvents(from, to int32) {
	crossed := to/noveltyEpoch - from/noveltyEpoch
	if from == 0 || crossed <= 0 {
		return
	}
	for d := range b.DimEvents {
		if crossed >= 32 {
			b.DimEvents[d] = 0
		} else {
			b.DimEvents[d] >>= uint(crossed)
		}
	}
}

// Observe folds an event into the baseline. Calls made by an AWS service on
// the principal's behalf do not teach the principal's network or user agent.
func (b *Baseline) Observe(ev *events.Event, forget time.Duration) {
	res := ""
	if ev.ErrClass != events.ErrDenied {
		res = ResourceOf(ev)
	}
	b.observe(ev, forget, res)
}

// observe is Observe with the event's resource already read (ResourceOf;
// ignored for a denied call).
func (b *Baseline) observe(ev *events.Event, forget time.Duration, resource string) {
	t := ev.Time
	sec := t.Unix()
	day := dayOf(t)
	b.rememberEvent(ev.ID)
	firstBefore := b.FirstSeen
	if firstBefore == 0 {
		firstBefore = math.MaxInt64
	}
	// A day before the earliest one known is new.
	firstBefore = firstBefore - firstBefore%86400
	b.Events++
	if ev.Mutating {
		b.Mutating++
	}
	if ev.ErrClass == events.ErrDenied {
		b.Denied++
	}
	if b.FirstSeen == 0 || sec < b.FirstSeen {
		b.FirstSeen = sec
	}
	if sec > b.LastSeen {
		b.LastSeen = sec
	}
	switch {
	case day > b.LastDay:
		shift := day - b.LastDay
		if shift >= 64 || b.LastDay == 0 {
			b.DayBits = 0
		} else {
			b.DayBits <<= uint(shift)
		}
		b.DayBits |= 1
		b.ActiveDays++
		b.ageDimEvents(b.LastDay, day)
		b.LastDay = day
		b.forget(day, forget)
	case b.LastDay-day < 64:
		if bit := uint64(1) << uint(b.LastDay-day); b.DayBits&bit == 0 {
			b.DayBits |= bit
			b.ActiveDays++
		}
	case sec < firstBefore:
		b.ActiveDays++
	}
	b.countHour(sec)

	for d, v := range eventValues(ev, resource) {
		b.see(Dim(d), v, day)
	}
	if ev.Mutating {
		b.MutRate.observe(sec)
	}
	if ev.ErrClass == events.ErrDenied {
		b.DenyRate.observe(sec)
	}
	if isSessionKey(ev.AccessKeyID) && ev.InvokedBy == "" {
		b.observeSession(ev)
	}
}

// APIValue is how a call is remembered in the API dimension: a call
// refused for authorization is remembered apart ("iam:CreateUser
// (denied)"), so that an attempt does not count as having done it.
func APIValue(ev *events.Event) string {
	if ev.ErrClass == events.ErrDenied {
		return ev.API + " (denied)"
	}
	return ev.API
}

func isLongTermKey(k string) bool { return len(k) > 4 && k[:4] == "AKIA" }
func isSessionKey(k string) bool  { return len(k) > 4 && k[:4] == "ASIA" }

func (b *Baseline) see(d Dim, v string, day int32) {
	if v == "" {
		return
	}
	b.DimEvents[d] = satAdd32(b.DimEvents[d])
	s := &b.Dims[d]
	if s.Values == nil {
		s.Values = map[string]*Value{}
	}
	val, ok := s.Values[v]
	if !ok {
		if len(s.Values) >= dimCaps[d] {
			s.evict()
		}
		s.Values[v] = &Value{First: day, Last: day, Days: 1, Bits: 1}
		s.Sightings = satAdd32(s.Sightings)
		b.ColdDirty = true
		return
	}
	if !val.markDay(day) {
		return
	}
	if val.Days < math.MaxUint16 {
		val.Days++
	}
	s.Sightings = satAdd32(s.Sightings)
	b.ColdDirty = true
}

// markDay records that the value was seen on day and reports whether the
// day is new for it. Days within 32 of the last are exact whatever the
// arrival order; an older late day counts only if it is a new first day.
func (v *Value) markDay(day int32) bool {
	switch {
	case day > v.Last:
		shift := day - v.Last
		if shift >= 32 {
			v.Bits = 0
		} else {
			v.Bits <<= uint(shift)
		}
		v.Bits |= 1
		v.Last = day
		return true
	case v.Last-day < 32:
		bit := uint32(1) << uint(v.Last-day)
		if v.Bits&bit != 0 {
			return false
		}
		v.Bits |= bit
		if day < v.First {
			v.First = day
		}
		return true
	case day < v.First:
		v.First = day
		return true
	}
	return false
}

func satAdd32(x uint32) uint32 {
	if x == math.MaxUint32 {
		return x
	}
	return x + 1
}

// evict drops the value unseen the longest, then the one seen on the
// fewest days, then the smallest, so eviction is deterministic.
func (s *ValueSet) evict() {
	var victim string
	var vv *Value
	for k, v := range s.Values {
		if vv == nil || v.Last < vv.Last || (v.Last == vv.Last && (v.Days < vv.Days || (v.Days == vv.Days && k < victim))) {
			victim, vv = k, v
		}
	}
	if vv != nil {
		delete(s.Values, victim)
	}
}

// forget drops values unseen for longer than the forgetting period.
func (b *Baseline) forget(today int32, forget time.Duration) {
	if forget <= 0 {
		return
	}
	cutoff := today - int32(forget/(24*time.Hour))
	for d := range b.Dims {
		for k, v := range b.Dims[d].Values {
			if v.Last < cutoff {
				delete(b.Dims[d].Values, k)
				b.ColdDirty = true
			}
		}
	}
}

// hourOfWeek returns 0..167 with Monday 00:00 UTC as 0.
func hourOfWeek(t time.Time) int {
	t = t.UTC()
	wd := (int(t.Weekday()) + 6) % 7
	return wd*24 + t.Hour()
}

func (b *Baseline) countHour(sec int64) {
	h := sec / 3600
	for _, r := range b.RecentHours {
		if r == h {
			return
		}
	}
	// Replace the oldest remembered hour.
	oldest := 0
	for i := range b.RecentHours {
		if b.RecentHours[i] < b.RecentHours[oldest] {
			oldest = i
		}
	}
	b.RecentHours[oldest] = h
	how := hourOfWeek(time.Unix(sec, 0))
	if b.Hours[how] == math.MaxUint16 {
		// Halve the histogram to keep its shape within range.
		for i := range b.Hours {
			b.Hours[i] /= 2
		}
	}
	b.Hours[how]++
}

// ActiveHours is the total mass of the hour-of-week histogram.
func (b *Baseline) ActiveHours() int {
	n := 0
	for _, c := range b.Hours {
		n += int(c)
	}
	return n
}

// rateAlpha is the smoothing of window statistics (about 20 windows).
const rateAlpha = 0.05

func (r *WindowRate) observe(sec int64) {
	w := sec / int64(RateWindow/time.Second)
	switch {
	case w == r.Window:
		if r.Count < math.MaxUint32 {
			r.Count++
		}
	case w > r.Window:
		r.close()
		r.Window = w
		r.Count = 1
		r.Flagged = false
	default:
		// An event for a window already closed: too late to count.
	}
}

// close folds the finished window into the smoothed statistics.
func (r *WindowRate) close() {
	if r.Count == 0 {
		return
	}
	x := math.Log1p(float64(r.Count))
	if r.Windows == 0 {
		r.Mean, r.Var = x, 0.25
	} else {
		d := x - r.Mean
		// Conversions round each product, so no architecture fuses a
		// multiply-add here: replay (amd64) and the Lambda (arm64) must
		// compute the same baseline.
		r.Mean += float64(rateAlpha * d)
		r.Var = (1 - rateAlpha) * (r.Var + float64(rateAlpha*d*d))
	}
	// Keep float32 precision, as stored, so a baseline behaves the same
	// whether it stayed in memory or went through a store.
	r.Mean, r.Var = float64(float32(r.Mean)), float64(float32(r.Var))
	r.Windows++
}

// Expected is the rate a window may reach without surprise: the smoothed
// log-mean raised by two of the principal's own standard deviations, so a
// bursty principal (a CI role) tolerates more than a steady one.
func (r *WindowRate) Expected() float64 {
	sd := math.Sqrt(math.Max(r.Var, 0.04))
	return math.Max(1, math.Expm1(r.Mean+2*sd))
}

// CurrentCount returns the count of the window holding sec, including the
// event at sec (which the caller has not observed yet).
func (r *WindowRate) CurrentCount(sec int64) uint32 {
	w := sec / int64(RateWindow/time.Second)
	if w == r.Window {
		return r.Count + 1
	}
	if w > r.Window {
		return 1
	}
	return 0
}

func (b *Baseline) observeSession(ev *events.Event) {
	sec := ev.Time.Unix()
	// Drop expired sessions.
	kept := b.Sessions[:0]
	for _, s := range b.Sessions {
		if sec-s.Last <= sessionTTL {
			kept = append(kept, s)
		}
	}
	b.Sessions = kept
	kh := keyHash(ev.AccessKeyID)
	for i := range b.Sessions {
		s := &b.Sessions[i]
		if s.KeyHash == kh {
			if sec > s.Last {
				s.Last = sec
			}
			return
		}
	}
	if len(b.Sessions) >= maxSessions {
		sort.Slice(b.Sessions, func(i, j int) bool { return b.Sessions[i].Last > b.Sessions[j].Last })
		b.Sessions = b.Sessions[:maxSessions-1]
	}
	b.Sessions = append(b.Sessions, Session{
		KeyHash: kh, NetClass: ev.Network.Class, NetKey: ev.Network.Key,
		First: sec, Last: sec,
	})
}

// Session returns the remembered session for a credential.
func (b *Baseline) Session(keyID string) *Session {
	kh := keyHash(keyID)
	for i := range b.Sessions {
		if b.Sessions[i].KeyHash == kh {
			return &b.Sessions[i]
		}
	}
	return nil
}

// keyHash is FNV-1a (64-bit) of an access key ID.
func keyHash(id string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return h
}
