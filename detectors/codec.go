package detectors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/trailwatch/trailwatch/events"
)

// ErrModelVersion is returned when decoding a baseline of an older model
// version; the caller resets (or migrates) it.
var ErrModelVersion = errors.New("baseline of an older model version")

// ErrNewerModel is returned when decoding a baseline written by a newer
// model version than this binary's (an old replay pointed at the production
// table, a rollback). The caller must neither use nor overwrite it: the
// newer code that wrote it still owns it.
var ErrNewerModel = errors.New("baseline of a newer model version")

// ModelVersionError reports a stored baseline of another model version. It
// matches ErrModelVersion when the stored version is older than
// ModelVersion and ErrNewerModel when it is newer, never both.
type ModelVersionError struct {
	Stored, Current int
}

func (e *ModelVersionError) Error() string {
	if e.Stored > e.Current {
		return fmt.Sprintf("baseline of model version %d, newer than this binary's %d", e.Stored, e.Current)
	}
	return fmt.Sprintf("baseline of model version %d, older than this binary's %d", e.Stored, e.Current)
}

// Is matches ErrNewerModel or ErrModelVersion by the direction of the
// mismatch.
func (e *ModelVersionError) Is(target error) bool {
	if e.Stored > e.Current {
		return target == ErrNewerModel
	}
	return target == ErrModelVersion
}

// StoredModel returns the model version a hot part (as EncodeHot wrote it)
// was encoded with, reading nothing else, so that a store can tell a newer
// writer's item before it looks at any other part.
func StoredModel(hot []byte) (int, bool) {
	r := reader{buf: hot}
	if r.byte() != hotTag {
		return 0, false
	}
	v := r.uvarint()
	if r.err != nil {
		return 0, false
	}
	return int(min(v, math.MaxInt32)), true
}

// checkModel returns a *ModelVersionError unless stored is ModelVersion.
func checkModel(stored uint64) error {
	if stored == ModelVersion {
		return nil
	}
	s := int(min(stored, math.MaxInt32))
	return &ModelVersionError{Stored: s, Current: ModelVersion}
}

// UnusableStates is returned by Store.Load, beside the states of the other
// keys, when some principals' stored state must be neither used nor
// overwritten (ErrNewerModel). It maps each such key to its reason. Their
// events must fail (come back, or end in the dead-letter queue) while the
// other principals' are processed.
type UnusableStates map[string]error

func (u UnusableStates) Error() string {
	keys := make([]string, 0, len(u))
	for k := range u {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		return "no unusable principal states"
	}
	msg := fmt.Sprintf("stored state of %s unusable: %v", keys[0], u[keys[0]])
	if len(keys) > 1 {
		msg += fmt.Sprintf(" (and %d more principals)", len(keys)-1)
	}
	return msg
}

// Unwrap returns the reasons, so errors.Is(err, ErrNewerModel) holds.
func (u UnusableStates) Unwrap() []error {
	errs := make([]error, 0, len(u))
	for _, err := range u {
		errs = append(errs, err)
	}
	return errs
}

const (
	hotTag  = 'H'
	coldTag = 'C'
)

// EncodeHot encodes the frequently written part of the baseline: a few
// hundred bytes, so that a write usually costs one DynamoDB write unit.
func (b *Baseline) EncodeHot() []byte {
	var w writer
	w.byte(hotTag)
	w.uvarint(uint64(b.Model))
	w.str(b.Key)
	w.uvarint(b.Events)
	w.uvarint(b.Mutating)
	w.uvarint(b.Denied)
	w.varint(b.FirstSeen)
	w.varint(b.LastSeen)
	w.uvarint(uint64(b.ActiveDays))
	w.varint(int64(b.LastDay))
	w.uvarint(b.DayBits)
	// Hour histogram, run-length encoded over zeros.
	for i := 0; i < len(b.Hours); {
		if b.Hours[i] == 0 {
			j := i
			for j < len(b.Hours) && b.Hours[j] == 0 {
				j++
			}
			w.uvarint(0)
			w.uvarint(uint64(j - i))
			i = j
			continue
		}
		w.uvarint(uint64(b.Hours[i]))
		i++
	}
	for _, h := range b.RecentHours {
		w.varint(h)
	}
	for _, r := range []*WindowRate{&b.MutRate, &b.DenyRate} {
		w.varint(r.Window)
		w.uvarint(uint64(r.Count))
		w.f32(r.Mean)
		w.f32(r.Var)
		w.uvarint(uint64(r.Windows))
		w.bool(r.Flagged)
	}
	w.uvarint(uint64(len(b.RecentIDs)))
	for _, h := range b.RecentIDs {
		w.buf = binary.LittleEndian.AppendUint32(w.buf, h)
	}
	w.uvarint(uint64(len(b.Sessions)))
	for _, s := range b.Sessions {
		w.buf = binary.LittleEndian.AppendUint64(w.buf, s.KeyHash)
		w.str(string(s.NetClass))
		w.str(s.NetKey)
		w.varint(s.First)
		w.varint(s.Last)
		w.bool(s.Flagged)
	}
	for _, n := range b.DimEvents {
		w.uvarint(uint64(n))
	}
	w.varint(int64(b.RiskSince))
	return w.buf
}

// EncodeCold encodes the value sets, in sorted order so that equal
// baselines encode to equal bytes.
func (b *Baseline) EncodeCold() []byte {
	var w writer
	w.byte(coldTag)
	w.uvarint(uint64(b.Model))
	for d := range b.Dims {
		s := &b.Dims[d]
		w.uvarint(uint64(s.Sightings))
		keys := make([]string, 0, len(s.Values))
		for k := range s.Values {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		w.uvarint(uint64(len(keys)))
		var prevFirst int32
		for _, k := range keys {
			v := s.Values[k]
			if a, ok := packedSlash24(k); ok {
				// An IPv4 /24 (most network values) in 4 bytes, not 16: an
				// empty key cannot be a value, so length 0 marks it.
				w.uvarint(0)
				w.buf = append(w.buf, a[:]...)
			} else {
				w.str(k)
			}
			// Days are stored as deltas to keep them to a byte or two.
			w.varint(int64(v.First - prevFirst))
			w.varint(int64(v.Last - v.First))
			w.uvarint(uint64(v.Days))
			w.uvarint(uint64(v.Bits))
			prevFirst = v.First
		}
	}
	return w.buf
}

// EncodedSize is the size of both parts.
func (b *Baseline) EncodedSize() int { return len(b.EncodeHot()) + len(b.EncodeCold()) }

// DecodeBaseline rebuilds a baseline from its two parts. A nil cold part
// gives empty value sets. For another model version it returns a
// *ModelVersionError (ErrModelVersion if older, ErrNewerModel if newer), and
// an error for corrupt input; it never panics.
func DecodeBaseline(hot, cold []byte) (b *Baseline, err error) {
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("decode baseline: %v", r)
		}
	}()
	b = NewBaseline("")
	r := reader{buf: hot}
	if r.byte() != hotTag {
		return nil, errors.New("decode baseline: not a hot part")
	}
	model := r.uvarint()
	if model != modelV1 && model != modelV2 {
		if err := checkModel(model); err != nil {
			return nil, err
		}
	}
	b.Key = r.str()
	b.Events = r.uvarint()
	b.Mutating = r.uvarint()
	b.Denied = r.uvarint()
	b.FirstSeen = r.varint()
	b.LastSeen = r.varint()
	b.ActiveDays = uint32(r.uvarint())
	b.LastDay = int32(r.varint())
	b.DayBits = r.uvarint()
	for i := 0; i < len(b.Hours); {
		v := r.uvarint()
		if v == 0 {
			n := int(r.uvarint())
			if n <= 0 || i+n > len(b.Hours) {
				return nil, errors.New("decode baseline: bad hour run")
			}
			i += n
			continue
		}
		b.Hours[i] = uint16(min(v, math.MaxUint16))
		i++
	}
	for i := range b.RecentHours {
		b.RecentHours[i] = r.varint()
	}
	for _, rt := range []*WindowRate{&b.MutRate, &b.DenyRate} {
		rt.Window = r.varint()
		rt.Count = uint32(r.uvarint())
		rt.Mean = r.f32()
		rt.Var = r.f32()
		rt.Windows = uint32(r.uvarint())
		rt.Flagged = r.bool()
	}
	if model == modelV1 {
		b.RecentIDs = decodeV1RecentIDs(&r)
	} else {
		n := int(r.uvarint())
		if n > RecentEventIDs {
			return nil, fmt.Errorf("decode baseline: %d recent event IDs", n)
		}
		b.RecentIDs = make([]uint32, n, min(n+8, RecentEventIDs))
		for i := range b.RecentIDs {
			b.RecentIDs[i] = r.u32()
		}
	}
	n := int(r.uvarint())
	if n > maxSessions {
		return nil, errors.New("decode baseline: too many sessions")
	}
	for i := 0; i < n; i++ {
		b.Sessions = append(b.Sessions, Session{
			KeyHash: r.u64(), NetClass: events.NetClass(r.str()), NetKey: r.str(),
			First: r.varint(), Last: r.varint(), Flagged: r.bool(),
		})
	}
	if model >= 3 {
		for d := range b.DimEvents {
			b.DimEvents[d] = uint32(min(r.uvarint(), math.MaxUint32))
		}
		b.RiskSince = int32(r.varint())
	} else if b.LastDay > 0 {
		b.RiskSince = b.LastDay + 1
	}
	if r.err != nil {
		return nil, fmt.Errorf("decode baseline hot part: %w", r.err)
	}
	if len(cold) == 0 {
		return b, nil
	}
	r = reader{buf: cold}
	if r.byte() != coldTag {
		return nil, errors.New("decode baseline: not a cold part")
	}
	coldModel := r.uvarint()
	if coldModel != modelV1 && coldModel != modelV2 {
		if err := checkModel(coldModel); err != nil {
			return nil, err
		}
	}
	dims := int(NumDims)
	if coldModel < 3 {
		dims = dimsV2
	}
	for d := range dims {
		s := &b.Dims[d]
		s.Sightings = uint32(r.uvarint())
		n := int(r.uvarint())
		if n > dimCaps[d] {
			return nil, fmt.Errorf("decode baseline: %d values in %s", n, Dim(d))
		}
		var prevFirst int32
		for i := 0; i < n; i++ {
			k := r.str()
			if k == "" {
				a, b, c := r.byte(), r.byte(), r.byte()
				k = fmt.Sprintf("%d.%d.%d.0/24", a, b, c)
			}
			first := prevFirst + int32(r.varint())
			last := first + int32(r.varint())
			days := uint16(min(r.uvarint(), math.MaxUint16))
			bits := uint32(r.uvarint())
			s.Values[k] = &Value{First: first, Last: last, Days: days, Bits: bits}
			prevFirst = first
		}
	}
	if r.err != nil {
		return nil, fmt.Errorf("decode baseline cold part: %w", r.err)
	}
	if model < 3 {
		migrateDimEvents(b)
	}
	return b, nil
}

// packedSlash24 returns the first three octets of a network key that is an
// IPv4 /24 written canonically ("203.0.113.0/24").
func packedSlash24(k string) (a [3]byte, ok bool) {
	rest, found := strings.CutSuffix(k, ".0/24")
	if !found {
		return a, false
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 3 {
		return a, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 255 || strconv.Itoa(n) != p {
			return a, false
		}
		a[i] = byte(n)
	}
	return a, true
}

// modelV2 stored five dimensions and no per-dimension event counts.
const modelV2 = 2

// migrateDimEvents gives a baseline of model 1 or 2 the event counts its
// novelty estimate needs: each dimension's (value, day) sightings, a lower
// bound on its events, so the first estimate after an upgrade is the one
// the older model made ((N1+1)/(sightings+2)) and never more confident.
func migrateDimEvents(b *Baseline) {
	for d := range b.Dims {
		b.DimEvents[d] = b.Dims[d].Sightings
	}
}

type writer struct{ buf []byte }

func (w *writer) byte(b byte)      { w.buf = append(w.buf, b) }
func (w *writer) uvarint(v uint64) { w.buf = binary.AppendUvarint(w.buf, v) }
func (w *writer) varint(v int64)   { w.buf = binary.AppendVarint(w.buf, v) }
func (w *writer) str(s string)     { w.uvarint(uint64(len(s))); w.buf = append(w.buf, s...) }
func (w *writer) f32(f float64) {
	w.buf = binary.LittleEndian.AppendUint32(w.buf, math.Float32bits(float32(f)))
}
func (w *writer) bool(b bool) {
	if b {
		w.byte(1)
	} else {
		w.byte(0)
	}
}

type reader struct {
	buf []byte
	err error
}

var errShort = errors.New("truncated")

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.buf = nil
}

func (r *reader) byte() byte {
	if len(r.buf) < 1 {
		r.fail(errShort)
		return 0
	}
	b := r.buf[0]
	r.buf = r.buf[1:]
	return b
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.buf)
	if n <= 0 {
		r.fail(errShort)
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.buf)
	if n <= 0 {
		r.fail(errShort)
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

func (r *reader) str() string {
	n := r.uvarint()
	if n > uint64(len(r.buf)) {
		r.fail(errShort)
		return ""
	}
	s := string(r.buf[:n])
	r.buf = r.buf[n:]
	return s
}

func (r *reader) f32() float64 {
	if len(r.buf) < 4 {
		r.fail(errShort)
		return 0
	}
	v := math.Float32frombits(binary.LittleEndian.Uint32(r.buf))
	r.buf = r.buf[4:]
	if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
		return 0
	}
	return float64(v)
}

func (r *reader) bool() bool { return r.byte() == 1 }

func (r *reader) u64() uint64 {
	if len(r.buf) < 8 {
		r.fail(errShort)
		return 0
	}
	v := binary.LittleEndian.Uint64(r.buf)
	r.buf = r.buf[8:]
	return v
}

func (r *reader) u32() uint32 {
	if len(r.buf) < 4 {
		r.fail(errShort)
		return 0
	}
	v := binary.LittleEndian.Uint32(r.buf)
	r.buf = r.buf[4:]
	return v
}

// modelV1 is the first model version, migrated on load: it differs from
// version 2 only in how the hot part holds the recent event IDs (a fixed
// ring of 32 behind its position byte).
const modelV1 = 1

// decodeV1RecentIDs reads version 1's ring, oldest first.
func decodeV1RecentIDs(r *reader) []uint32 {
	const v1Ring = 32
	pos := int(r.byte()) % v1Ring
	var ring [v1Ring]uint32
	for i := range ring {
		ring[i] = r.u32()
	}
	ids := make([]uint32, 0, v1Ring)
	for i := range v1Ring {
		if h := ring[(pos+i)%v1Ring]; h != 0 {
			ids = append(ids, h)
		}
	}
	return ids
}
