package events

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"sort"
)

// NamedNetwork is an address pool known by name, such as a CI provider's
// published runner ranges (thresholds.yaml networks).
type NamedNetwork struct {
	// Name is the network's name ([a-z0-9-]+); its calls get the network
	// key "net/<Name>".
	Name string
	// Prefixes are the pool's address prefixes, IPv4 and IPv6.
	Prefixes []netip.Prefix
}

// NetworkKeyPrefix starts the network key of a named network.
const NetworkKeyPrefix = "net/"

// NamedNetworks classifies addresses against named networks: the network
// holding the longest prefix that contains an address names it. It is
// immutable once built and safe for concurrent use; nil classifies
// nothing.
//
// Lookups use the IPRanges technique, one hash lookup per distinct prefix
// length, longest first, with IPv4 keys packed into integers and a bitmap
// of the IPv4 /16s that any prefix touches, so an address far from every
// network (most public addresses) costs one bit test.
type NamedNetworks struct {
	names []string
	nets  []NamedNetwork
	count int

	v4     map[uint64]uint32 // bits<<32 | masked address -> index in names
	v4Lens []uint8           // longest first
	v4Any  [1 << 16 / 64]uint64
	v6     map[v6Key]uint32
	v6Lens []uint8
}

type v6Key struct {
	hi, lo uint64
	bits   uint8
}

// NewNamedNetworks compiles nets. Prefixes are masked; a prefix listed
// under two names belongs to the first (thresholds.yaml refuses that). It
// returns nil, and no error, when nets hold no prefix.
func NewNamedNetworks(nets []NamedNetwork) (*NamedNetworks, error) {
	n := &NamedNetworks{v4: map[uint64]uint32{}, v6: map[v6Key]uint32{}}
	seen4, seen6 := map[uint8]bool{}, map[uint8]bool{}
	for _, nw := range nets {
		if nw.Name == "" {
			return nil, fmt.Errorf("named network without a name")
		}
		if slices.Contains(n.names, nw.Name) {
			return nil, fmt.Errorf("named network %q listed twice", nw.Name)
		}
		idx := uint32(len(n.names))
		n.names = append(n.names, nw.Name)
		cp := NamedNetwork{Name: nw.Name, Prefixes: make([]netip.Prefix, 0, len(nw.Prefixes))}
		for _, p := range nw.Prefixes {
			if !p.IsValid() {
				return nil, fmt.Errorf("named network %q: invalid prefix %v", nw.Name, p)
			}
			p = canonicalPrefix(p)
			cp.Prefixes = append(cp.Prefixes, p)
			bits := uint8(p.Bits())
			if p.Addr().Is4() {
				a := binary.BigEndian.Uint32(p.Addr().AsSlice())
				k := uint64(bits)<<32 | uint64(a)
				if _, dup := n.v4[k]; dup {
					continue
				}
				n.v4[k] = idx
				seen4[bits] = true
				n.mark16(a, bits)
			} else {
				b := p.Addr().As16()
				k := v6Key{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:]), bits}
				if _, dup := n.v6[k]; dup {
					continue
				}
				n.v6[k] = idx
				seen6[bits] = true
			}
			n.count++
		}
		n.nets = append(n.nets, cp)
	}
	if n.count == 0 {
		return nil, nil
	}
	for l := range seen4 {
		n.v4Lens = append(n.v4Lens, l)
	}
	for l := range seen6 {
		n.v6Lens = append(n.v6Lens, l)
	}
	sort.Slice(n.v4Lens, func(i, j int) bool { return n.v4Lens[i] > n.v4Lens[j] })
	sort.Slice(n.v6Lens, func(i, j int) bool { return n.v6Lens[i] > n.v6Lens[j] })
	return n, nil
}

// mark16 sets the bits of the /16s the IPv4 prefix a/bits touches.
func (n *NamedNetworks) mark16(a uint32, bits uint8) {
	first := a >> 16
	count := uint32(1)
	if bits < 16 {
		count = 1 << (16 - bits)
	}
	for i := first; i < first+count; i++ {
		n.v4Any[i/64] |= 1 << (i % 64)
	}
}

// canonicalPrefix masks p and unmaps an IPv4-mapped IPv6 prefix of at
// least /96 to IPv4.
func canonicalPrefix(p netip.Prefix) netip.Prefix {
	p = p.Masked()
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p
}

// Lookup returns the name of the network holding the longest prefix that
// contains addr.
func (n *NamedNetworks) Lookup(addr netip.Addr) (string, bool) {
	if n == nil {
		return "", false
	}
	addr = addr.Unmap()
	if addr.Is4() {
		b := addr.As4()
		a := binary.BigEndian.Uint32(b[:])
		if i := a >> 16; n.v4Any[i/64]&(1<<(i%64)) == 0 {
			return "", false
		}
		for _, l := range n.v4Lens {
			var mask uint32
			if l > 0 {
				mask = ^uint32(0) << (32 - l)
			}
			if idx, ok := n.v4[uint64(l)<<32|uint64(a&mask)]; ok {
				return n.names[idx], true
			}
		}
		return "", false
	}
	if !addr.Is6() || len(n.v6Lens) == 0 {
		return "", false
	}
	b := addr.As16()
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	for _, l := range n.v6Lens {
		k := v6Key{bits: l}
		switch {
		case l == 0:
		case l <= 64:
			k.hi = hi & (^uint64(0) << (64 - l))
		default:
			k.hi, k.lo = hi, lo&(^uint64(0)<<(128-l))
		}
		if idx, ok := n.v6[k]; ok {
			return n.names[idx], true
		}
	}
	return "", false
}

// Len reports how many distinct prefixes the networks hold.
func (n *NamedNetworks) Len() int {
	if n == nil {
		return 0
	}
	return n.count
}

// Networks returns the networks as compiled (masked prefixes), in the
// order given. The caller must not modify them.
func (n *NamedNetworks) Networks() []NamedNetwork {
	if n == nil {
		return nil
	}
	return n.nets
}

// CompactNetworks returns nets with each network's prefixes sorted, without
// duplicates, without prefixes another of the same network contains, and
// with adjacent prefixes merged, but only where that leaves every
// address's classification unchanged: a prefix is dropped or merged into a
// wider one of its own network only when no other network lists a prefix
// between the two (which would then win the addresses it gave back).
// Invalid prefixes are dropped.
func CompactNetworks(nets []NamedNetwork) []NamedNetwork {
	owners := map[netip.Prefix][]int{}
	var lens4, lens6 []int // the prefix lengths listed, longest first
	for i, nw := range nets {
		for _, p := range nw.Prefixes {
			if !p.IsValid() {
				continue
			}
			p = canonicalPrefix(p)
			o := owners[p]
			if len(o) == 0 {
				if p.Addr().Is4() {
					lens4 = append(lens4, p.Bits())
				} else {
					lens6 = append(lens6, p.Bits())
				}
			}
			if len(o) == 0 || o[len(o)-1] != i {
				owners[p] = append(o, i)
			}
		}
	}
	for _, l := range []*[]int{&lens4, &lens6} {
		slices.Sort(*l)
		*l = slices.Compact(*l)
		slices.Reverse(*l)
	}
	other := func(p netip.Prefix, self int) bool {
		for _, o := range owners[p] {
			if o != self {
				return true
			}
		}
		return false
	}
	out := make([]NamedNetwork, len(nets))
	for i, nw := range nets {
		own := map[netip.Prefix]bool{}
		for _, p := range nw.Prefixes {
			if p.IsValid() {
				own[canonicalPrefix(p)] = true
			}
		}
		// Drop prefixes inside a wider one of this network, unless another
		// network's prefix lies between them (only listed lengths can).
		for p := range own {
			lens := lens4
			if p.Addr().Is6() {
				lens = lens6
			}
			for _, b := range lens {
				if b >= p.Bits() {
					continue
				}
				anc, _ := p.Addr().Prefix(b)
				if other(anc, i) {
					break
				}
				if own[anc] {
					delete(own, p)
					break
				}
			}
		}
		// Merge sibling pairs into their parent, longest first, unless
		// another network lists one of the three.
		byBits := map[int][]netip.Prefix{}
		for p := range own {
			byBits[p.Bits()] = append(byBits[p.Bits()], p)
		}
		for b := 128; b > 0; b-- {
			for _, p := range byBits[b] {
				if !own[p] {
					continue
				}
				sib := sibling(p)
				parent, _ := p.Addr().Prefix(b - 1)
				if !own[sib] || other(parent, i) || other(p, i) || other(sib, i) {
					continue
				}
				delete(own, p)
				delete(own, sib)
				own[parent] = true
				byBits[b-1] = append(byBits[b-1], parent)
			}
		}
		ps := make([]netip.Prefix, 0, len(own))
		for p := range own {
			ps = append(ps, p)
		}
		SortPrefixes(ps)
		out[i] = NamedNetwork{Name: nw.Name, Prefixes: ps}
	}
	return out
}

// sibling returns the other half of p's parent.
func sibling(p netip.Prefix) netip.Prefix {
	b := p.Addr().AsSlice()
	bit := p.Bits() - 1
	b[bit/8] ^= 0x80 >> (bit % 8)
	a, _ := netip.AddrFromSlice(b)
	return netip.PrefixFrom(a, p.Bits())
}

// SortPrefixes sorts prefixes IPv4 first, by address, then shorter first.
func SortPrefixes(ps []netip.Prefix) {
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
}
