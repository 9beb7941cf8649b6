package events

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// githubSized returns named networks the size of GitHub's meta "actions"
// list (about 5,000 prefixes, mostly Azure IPv4 /16 to /28 with some IPv6
// /44 to /64), generated deterministically, and probe addresses: inside
// them, in their /16s but outside, and elsewhere.
func githubSized(tb testing.TB) (*NamedNetworks, map[string][]netip.Addr) {
	tb.Helper()
	rng := rand.New(rand.NewPCG(11, 12))
	var v4, v6 []netip.Prefix
	for len(v4) < 4200 {
		a := netip.AddrFrom4([4]byte{[]byte{4, 13, 20, 40, 51, 52, 104, 172}[rng.IntN(8)], byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))})
		p, _ := a.Prefix(16 + rng.IntN(13))
		v4 = append(v4, p)
	}
	for len(v6) < 800 {
		var b [16]byte
		b[0], b[1], b[2], b[3] = 0x26, 0x03, 0x10, byte(rng.IntN(256))
		b[4], b[5] = byte(rng.IntN(256)), byte(rng.IntN(256))
		p, _ := netip.AddrFrom16(b).Prefix(44 + rng.IntN(21))
		v6 = append(v6, p)
	}
	nets, err := NewNamedNetworks([]NamedNetwork{
		{Name: "github-actions", Prefixes: append(v4, v6...)},
		{Name: "runners", Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	probes := map[string][]netip.Addr{}
	for i := 0; i < 1024; i++ {
		p := v4[rng.IntN(len(v4))]
		probes["hit"] = append(probes["hit"], p.Addr().Next())
		a := netip.AddrFrom4([4]byte{p.Addr().As4()[0], p.Addr().As4()[1], byte(rng.IntN(256)), byte(rng.IntN(256))})
		if _, ok := nets.Lookup(a); !ok {
			probes["miss-same-16"] = append(probes["miss-same-16"], a)
		}
		probes["miss-elsewhere"] = append(probes["miss-elsewhere"], netip.AddrFrom4([4]byte{203, 0, byte(rng.IntN(256)), byte(rng.IntN(256))}))
		probes["ipv6-hit"] = append(probes["ipv6-hit"], v6[rng.IntN(len(v6))].Addr().Next())
	}
	return nets, probes
}

// BenchmarkNamedNetworksLookup is one lookup among GitHub-sized networks.
func BenchmarkNamedNetworksLookup(b *testing.B) {
	nets, probes := githubSized(b)
	for _, kind := range []string{"hit", "miss-same-16", "miss-elsewhere", "ipv6-hit"} {
		addrs := probes[kind]
		b.Run(kind, func(b *testing.B) {
			b.ReportAllocs()
			found := 0
			for i := 0; i < b.N; i++ {
				if _, ok := nets.Lookup(addrs[i%len(addrs)]); ok {
					found++
				}
			}
			if kind == "hit" || kind == "ipv6-hit" {
				if found != b.N {
					b.Fatalf("%d of %d found", found, b.N)
				}
			} else if found != 0 {
				b.Fatalf("%d misses found", found)
			}
		})
	}
}

// BenchmarkDecodeNormalizeNetworks is BenchmarkDecodeNormalize with
// GitHub-sized named networks: compare their events/s.
func BenchmarkDecodeNormalizeNetworks(b *testing.B) {
	recs, _, n := benchInputs(b)
	nets, _ := githubSized(b)
	norm := &Normalizer{Keying: DefaultKeyingRules(), Networks: nets}
	d := Decoder{Record: func(r *Record) { _, _ = norm.NormalizeSelected(r) }}
	b.SetBytes(int64(len(recs)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := d.Decode(bytes.NewReader(recs)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkClassifyNetworks classifies every sample record's network,
// with and without GitHub-sized named networks.
func BenchmarkClassifyNetworks(b *testing.B) {
	recs, _, _ := benchInputs(b)
	var srcs []string
	d := Decoder{Record: func(r *Record) { srcs = append(srcs, r.SourceIPAddress) }}
	if err := d.Decode(bytes.NewReader(recs)); err != nil {
		b.Fatal(err)
	}
	nets, _ := githubSized(b)
	for _, c := range []struct {
		name string
		norm *Normalizer
	}{{"without", &Normalizer{}}, {"github-sized", &Normalizer{Networks: nets}}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				_ = c.norm.ClassifySource(srcs[i%len(srcs)])
			}
		})
	}
}
