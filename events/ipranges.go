package events

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sort"
	"strconv"
)

// AWSRange is one prefix of AWS's published address ranges.
type AWSRange struct {
	Prefix  netip.Prefix
	Region  string
	Service string
}

// IPRanges classifies addresses against AWS's published ranges
// (ip-ranges.json). The zero value and nil classify nothing as AWS-owned.
// It is read-only after loading and safe for concurrent use.
type IPRanges struct {
	// byLen maps a prefix length to the prefixes of that length, keyed by
	// the masked address. Lengths are tried longest first.
	byLen   map[int]map[netip.Addr]AWSRange
	lengths []int
	count   int
	// syncToken and createDate identify the publication.
	syncToken  int64
	createDate string
}

// SyncToken returns the file's syncToken, the Unix time AWS published it,
// which orders publications (0 when absent or not a number).
func (r *IPRanges) SyncToken() int64 {
	if r == nil {
		return 0
	}
	return r.syncToken
}

// CreateDate returns the file's createDate as published
// ("YYYY-MM-DD-hh-mm-ss", UTC), or "".
func (r *IPRanges) CreateDate() string {
	if r == nil {
		return ""
	}
	return r.createDate
}

// Len reports how many prefixes were loaded.
func (r *IPRanges) Len() int {
	if r == nil {
		return 0
	}
	return r.count
}

type ipRangesFile struct {
	SyncToken    string `json:"syncToken"`
	CreateDate   string `json:"createDate"`
	Prefixes     []ipRangesPrefix
	IPv6Prefixes []ipRangesPrefix `json:"ipv6_prefixes"`
}

type ipRangesPrefix struct {
	IPPrefix   string `json:"ip_prefix"`
	IPv6Prefix string `json:"ipv6_prefix"`
	Region     string `json:"region"`
	Service    string `json:"service"`
}

// LoadIPRangesFile reads ip-ranges.json, plain or gzip.
func LoadIPRangesFile(path string) (*IPRanges, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("aws ip ranges: %w", err)
	}
	defer f.Close()
	r, err := ReadIPRanges(f)
	if err != nil {
		return nil, fmt.Errorf("aws ip ranges %s: %w", path, err)
	}
	return r, nil
}

// MaxIPRangesBytes bounds the size of ip-ranges.json that ReadIPRanges
// reads (after decompression): AWS's file is a few MB, so anything past this
// bound is corrupt or hostile and fails to decode instead of exhausting
// memory.
const MaxIPRangesBytes = 64 << 20

// ReadIPRanges parses ip-ranges.json, plain or gzip, of at most
// MaxIPRangesBytes.
func ReadIPRanges(rd io.Reader) (*IPRanges, error) {
	br := bufio.NewReader(rd)
	var src io.Reader = br
	if magic, _ := br.Peek(2); bytes.Equal(magic, gzipMagic) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gunzip: %w", err)
		}
		defer zr.Close()
		src = zr
	}
	var doc ipRangesFile
	if err := json.NewDecoder(io.LimitReader(src, MaxIPRangesBytes)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	r := &IPRanges{byLen: map[int]map[netip.Addr]AWSRange{}, createDate: truncate(doc.CreateDate, 32)}
	if n, err := strconv.ParseInt(doc.SyncToken, 10, 64); err == nil && n > 0 {
		r.syncToken = n
	}
	add := func(s string, p ipRangesPrefix) {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return
		}
		pfx = pfx.Masked()
		bits := pfx.Bits()
		if pfx.Addr().Is6() {
			bits += 1000 // keep IPv6 lengths apart from IPv4 ones
		}
		m := r.byLen[bits]
		if m == nil {
			m = map[netip.Addr]AWSRange{}
			r.byLen[bits] = m
		}
		prev, ok := m[pfx.Addr()]
		// The same prefix is listed once per service: "AMAZON" is the
		// umbrella, keep the specific service.
		if ok && prev.Service != "AMAZON" {
			return
		}
		if !ok {
			r.count++
		}
		m[pfx.Addr()] = AWSRange{Prefix: pfx, Region: p.Region, Service: p.Service}
	}
	for _, p := range doc.Prefixes {
		add(p.IPPrefix, p)
	}
	for _, p := range doc.IPv6Prefixes {
		add(p.IPv6Prefix, p)
	}
	for l := range r.byLen {
		r.lengths = append(r.lengths, l)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(r.lengths)))
	if r.count == 0 {
		return nil, fmt.Errorf("no prefixes")
	}
	return r, nil
}

// Lookup returns the most specific AWS range holding addr. A more specific
// prefix with the umbrella service AMAZON yields to a less specific one with
// a named service only when both are listed; otherwise longest match wins.
func (r *IPRanges) Lookup(addr netip.Addr) (AWSRange, bool) {
	if r == nil || len(r.lengths) == 0 {
		return AWSRange{}, false
	}
	addr = addr.Unmap()
	v6 := addr.Is6()
	var best AWSRange
	found := false
	for _, l := range r.lengths {
		bits := l
		if v6 {
			if l < 1000 {
				continue
			}
			bits = l - 1000
		} else if l >= 1000 {
			continue
		}
		p, err := addr.Prefix(bits)
		if err != nil {
			continue
		}
		if e, ok := r.byLen[l][p.Addr()]; ok {
			if !found {
				best, found = e, true
				if e.Service != "AMAZON" {
					return best, true
				}
				continue
			}
			if e.Service != "AMAZON" {
				// A named service at a shorter length refines the
				// umbrella match's service; keep the longer region.
				best.Service = e.Service
				return best, true
			}
		}
	}
	return best, found
}

var gzipMagic = []byte{0x1f, 0x8b}
