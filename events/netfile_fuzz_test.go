package events

import "testing"

// FuzzParseNetworkFile feeds arbitrary bytes to the network file parsers,
// detected and forced to each format: a file is the provider's (or an
// attacker's, if it is fetched over a compromised path), so nothing may
// panic, every prefix returned is valid and masked, and each malformed
// entry is counted.
func FuzzParseNetworkFile(f *testing.F) {
	for _, name := range []string{"github-meta.json", "aws-ip-ranges.json", "runners.txt"} {
		f.Add(mustRead(f, "testdata/networks/"+name), uint8(0))
	}
	f.Add([]byte(`{"actions":["1.2.3.4/33",null,{"a":1},"::/0"]}`), uint8(1))
	f.Add([]byte(`{"prefixes":[{"ip_prefix":"10.0.0.0/8","service":"X"}],"ipv6_prefixes":null}`), uint8(2))
	f.Add([]byte("::ffff:1.2.3.4/120\n# c\n1.2.3.4\n"), uint8(3))
	formats := append([]NetworkFormat{""}, NetworkFormats()...)
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		opt := NetworkFileOptions{Format: formats[int(which)%len(formats)]}
		nf, err := ParseNetworkFile(data, opt)
		if err != nil {
			return
		}
		if len(nf.Prefixes) > MaxNetworkPrefixes {
			t.Fatalf("%d prefixes", len(nf.Prefixes))
		}
		for i, p := range nf.Prefixes {
			if !p.IsValid() || p != p.Masked() {
				t.Fatalf("prefix %v is not valid and masked", p)
			}
			if i > 0 && nf.Prefixes[i-1] == p {
				t.Fatalf("prefix %v listed twice", p)
			}
		}
		if nf.Skipped < len(nf.SkippedDetails) || len(nf.SkippedDetails) > maxSkippedDetails {
			t.Fatalf("skipped %d with %d details", nf.Skipped, len(nf.SkippedDetails))
		}
		nets, err := NewNamedNetworks([]NamedNetwork{{Name: "x", Prefixes: nf.Prefixes}})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range nf.Prefixes {
			if name, ok := nets.Lookup(p.Addr()); !ok || name != "x" {
				t.Fatalf("%v not found in its own network", p)
			}
		}
	})
}
