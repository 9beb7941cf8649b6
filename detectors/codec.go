package detectors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/trailwatch/trailwatch/events"
)

// ErrModelVersion is returned when decoding a baseline of another model
// version; the caller resets (or migrates) it.
var ErrModelVersion = errors.New("baseline model version mismatch")

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
	w.byte(b.RecentPos)
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
			w.str(k)
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
// gives empty value sets. It returns ErrModelVersion for another model
// version, and an error for corrupt input; it never panics.
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
	if m := int(r.uvarint()); m != ModelVersion {
		return nil, fmt.Errorf("%w: stored %d, want %d", ErrModelVersion, m, ModelVersion)
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
	b.RecentPos = r.byte() % recentIDs
	for i := range b.RecentIDs {
		b.RecentIDs[i] = r.u32()
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
	if m := int(r.uvarint()); m != ModelVersion {
		return nil, fmt.Errorf("%w: stored %d, want %d", ErrModelVersion, m, ModelVersion)
	}
	for d := range b.Dims {
		s := &b.Dims[d]
		s.Sightings = uint32(r.uvarint())
		n := int(r.uvarint())
		if n > dimCaps[d] {
			return nil, fmt.Errorf("decode baseline: %d values in %s", n, Dim(d))
		}
		var prevFirst int32
		for i := 0; i < n; i++ {
			k := r.str()
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
	return b, nil
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
