package events

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
)

// parseFixture reads a file under testdata/networks.
func parseFixture(t testing.TB, name string, opt NetworkFileOptions) (NetworkFile, error) {
	t.Helper()
	data, err := os.ReadFile("testdata/networks/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return ParseNetworkFile(data, opt)
}

func prefixStrings(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, " ")
}

func TestParseNetworkFile(t *testing.T) {
	gz := func(name string) []byte {
		data, err := os.ReadFile("testdata/networks/" + name)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(data)
		zw.Close()
		return b.Bytes()
	}
	tests := []struct {
		name    string
		file    string
		data    []byte // instead of file
		opt     NetworkFileOptions
		format  NetworkFormat
		want    string
		skipped int
		wantErr string
	}{
		{name: "github meta, default key actions", file: "github-meta.json",
			format: FormatGitHubMeta, skipped: 2,
			want: "3.85.0.0/16 4.148.0.0/16 4.149.0.0/18 4.149.64.0/19 20.1.128.0/17 20.20.140.0/24 2603:1030:a0b::/48"},
		{name: "github meta, selected keys", file: "github-meta.json", opt: NetworkFileOptions{Keys: []string{"hooks", "web"}},
			format: FormatGitHubMeta, want: "140.82.112.0/20 185.199.108.0/22 192.30.252.0/22 2a0a:a440::/29"},
		{name: "github meta, gzip", data: gz("github-meta.json"), format: FormatGitHubMeta, skipped: 2,
			want: "3.85.0.0/16 4.148.0.0/16 4.149.0.0/18 4.149.64.0/19 20.1.128.0/17 20.20.140.0/24 2603:1030:a0b::/48"},
		{name: "github meta, missing key", file: "github-meta.json", opt: NetworkFileOptions{Keys: []string{"copilot"}},
			wantErr: `no key "copilot" (lists: actions, actions_macos, api, hooks, ssh_keys, web)`},
		{name: "github meta, key not a list", file: "github-meta.json", opt: NetworkFileOptions{Keys: []string{"domains"}},
			wantErr: `key "domains" is not a list of CIDRs`},
		{name: "aws ranges, one service", file: "aws-ip-ranges.json", opt: NetworkFileOptions{Services: []string{"codebuild"}},
			format: FormatAWSIPRanges, skipped: 1,
			want: "34.228.4.208/28 34.250.63.248/29 52.43.76.88/29 2600:1f14:fff:f800::/53"},
		{name: "aws ranges, service and region", file: "aws-ip-ranges.json", opt: NetworkFileOptions{Services: []string{"CODEBUILD"}, Regions: []string{"us-west-2"}},
			format: FormatAWSIPRanges, want: "52.43.76.88/29 2600:1f14:fff:f800::/53"},
		{name: "aws ranges, everything", file: "aws-ip-ranges.json", format: FormatAWSIPRanges, skipped: 1,
			want: "3.80.0.0/12 34.228.4.208/28 34.250.63.248/29 52.43.76.88/29 54.228.0.0/16 2600:1f14:fff:f800::/53 2600:1f18::/33"},
		{name: "aws ranges given as github meta", file: "aws-ip-ranges.json", opt: NetworkFileOptions{Format: FormatGitHubMeta},
			wantErr: `no key "actions"`},
		{name: "cidr list", file: "runners.txt", format: FormatCIDRList, skipped: 2,
			want: "198.51.100.0/26 198.51.100.64/26 203.0.113.9/32 2001:db8:77::/48"},
		{name: "cidr list, unmasked entries masked", data: []byte("10.1.2.3/8\n10.0.0.0/8\n"), format: FormatCIDRList, want: "10.0.0.0/8"},
		{name: "not json", data: []byte("{not json"), wantErr: "github-meta: want a JSON object"},
		{name: "unknown format", data: []byte("1.2.3.0/24"), opt: NetworkFileOptions{Format: "csv"}, wantErr: `unknown format "csv"`},
		{name: "too many prefixes", data: manyCIDRs(MaxNetworkPrefixes + 1), wantErr: "more than 100000 prefixes"},
		{name: "empty file", data: nil, format: FormatCIDRList, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f NetworkFile
			var err error
			if tt.file != "" {
				f, err = parseFixture(t, tt.file, tt.opt)
			} else {
				f, err = ParseNetworkFile(tt.data, tt.opt)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.Format != tt.format {
				t.Errorf("format %s, want %s", f.Format, tt.format)
			}
			if got := prefixStrings(f.Prefixes); got != tt.want {
				t.Errorf("prefixes\n got %s\nwant %s", got, tt.want)
			}
			if f.Skipped != tt.skipped || len(f.SkippedDetails) != tt.skipped {
				t.Errorf("skipped %d %q, want %d", f.Skipped, f.SkippedDetails, tt.skipped)
			}
		})
	}
}

// TestParseNetworkFileSkipDetails: each malformed entry is named where it
// is, so that validate can point at it.
func TestParseNetworkFileSkipDetails(t *testing.T) {
	for file, want := range map[string][]string{
		"github-meta.json":   {`actions[5] "not-a-cidr": not a CIDR`, `actions[6]: not a string`},
		"aws-ip-ranges.json": {`prefixes[5] "300.1.2.0/24": not a CIDR`},
		"runners.txt":        {`line 6 "10.20.30.0/33": not a CIDR`, `line 8 "not an address": not a CIDR`},
	} {
		f, err := parseFixture(t, file, NetworkFileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(f.SkippedDetails, want) {
			t.Errorf("%s: skipped %q, want %q", file, f.SkippedDetails, want)
		}
	}
}

func manyCIDRs(n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "%d.%d.%d.0/24\n", 10+i>>16, i>>8&255, i&255)
	}
	return b.Bytes()
}

// testNetworks are the networks of the classification tests: GitHub's
// Actions ranges (one prefix, 3.85.0.0/16, inside AWS's EC2 range
// 3.80.0.0/12), self-hosted runners, and a wider corporate range holding
// the runners' IPv4 pools.
func testNetworks(t testing.TB) []NamedNetwork {
	t.Helper()
	gh, err := parseFixture(t, "github-meta.json", NetworkFileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	runners, err := parseFixture(t, "runners.txt", NetworkFileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return []NamedNetwork{
		{Name: "github-actions", Prefixes: gh.Prefixes},
		{Name: "runners", Prefixes: runners.Prefixes},
		{Name: "corp", Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("2001:db8::/32")}},
	}
}

func TestClassifySourceNamedNetworks(t *testing.T) {
	ranges, err := LoadIPRangesFile("testdata/ip-ranges-small.json")
	if err != nil {
		t.Fatal(err)
	}
	nets, err := NewNamedNetworks(testNetworks(t))
	if err != nil {
		t.Fatal(err)
	}
	n := &Normalizer{Ranges: ranges, Networks: nets}
	tests := []struct {
		name, src string
		class     NetClass
		key       string
		provider  string
	}{
		{"inside a named network", "4.148.1.2", NetProvider, "net/github-actions", "github-actions"},
		{"inside a shorter prefix of it", "4.149.70.1", NetProvider, "net/github-actions", "github-actions"},
		{"first address of a prefix", "20.1.128.0", NetProvider, "net/github-actions", "github-actions"},
		{"last address of a prefix", "20.1.255.255", NetProvider, "net/github-actions", "github-actions"},
		{"just outside: public /24", "4.149.128.1", NetPublic, "4.149.128.0/24", ""},
		{"just before a prefix", "20.1.127.255", NetPublic, "20.1.127.0/24", ""},
		{"named network inside AWS: the name wins", "3.85.12.7", NetProvider, "net/github-actions", "github-actions"},
		{"AWS outside the named part", "3.86.0.1", NetAWS, "aws/us-east-1", ""},
		{"longest prefix among names: runners in corp", "198.51.100.10", NetProvider, "net/runners", "runners"},
		{"the rest of corp", "198.51.100.200", NetProvider, "net/corp", "corp"},
		{"a single address", "203.0.113.9", NetProvider, "net/runners", "runners"},
		{"its neighbour", "203.0.113.10", NetPublic, "203.0.113.0/24", ""},
		{"IPv6 inside", "2603:1030:a0b:1::5", NetProvider, "net/github-actions", "github-actions"},
		{"IPv6 outside", "2603:1030:a0c::1", NetPublic, "2603:1030:a0c::/48", ""},
		{"IPv6 longest prefix", "2001:db8:77:1::1", NetProvider, "net/runners", "runners"},
		{"IPv6 wider name", "2001:db8:1::1", NetProvider, "net/corp", "corp"},
		{"IPv4-mapped IPv6", "::ffff:4.148.1.2", NetProvider, "net/github-actions", "github-actions"},
		{"private", "10.1.2.3", NetPrivate, "10.1.2.0/24", ""},
		{"AWS Internal", "AWS Internal", NetAWSInternal, "aws-internal", ""},
		{"service", "lambda.amazonaws.com", NetService, "lambda.amazonaws.com", ""},
	}
	for _, tt := range tests {
		got := n.ClassifySource(tt.src)
		if got.Class != tt.class || got.Key != tt.key || got.Provider != tt.provider {
			t.Errorf("%s: ClassifySource(%q) = %+v, want class %s key %s provider %q", tt.name, tt.src, got, tt.class, tt.key, tt.provider)
		}
	}
	// Without named networks, today's classification exactly.
	plain := &Normalizer{Ranges: ranges}
	for src, want := range map[string]string{"3.85.12.7": "aws/us-east-1", "4.148.1.2": "4.148.1.0/24", "198.51.100.10": "198.51.100.0/24"} {
		if got := plain.ClassifySource(src); got.Key != want || got.Provider != "" {
			t.Errorf("without networks: %s -> %+v, want %s", src, got, want)
		}
	}
	// Through a VPC endpoint a named network keeps its name.
	r := &Record{SourceIPAddress: "198.51.100.10", VPCEndpointID: "vpce-0abc", AWSRegion: "eu-west-1"}
	if got := n.ClassifyNetwork(r); got.Class != NetProvider || got.Key != "net/runners" || got.VPCEndpoint != "vpce-0abc" {
		t.Errorf("through a VPC endpoint: %+v", got)
	}
}

func TestNewNamedNetworks(t *testing.T) {
	p := netip.MustParsePrefix
	tests := []struct {
		name    string
		nets    []NamedNetwork
		wantErr string
		wantNil bool
		wantLen int
	}{
		{name: "none", wantNil: true},
		{name: "names without prefixes", nets: []NamedNetwork{{Name: "a"}}, wantNil: true},
		{name: "no name", nets: []NamedNetwork{{Prefixes: []netip.Prefix{p("10.0.0.0/8")}}}, wantErr: "without a name"},
		{name: "name twice", nets: []NamedNetwork{{Name: "a"}, {Name: "a"}}, wantErr: `"a" listed twice`},
		{name: "invalid prefix", nets: []NamedNetwork{{Name: "a", Prefixes: []netip.Prefix{{}}}}, wantErr: "invalid prefix"},
		{name: "duplicates counted once, unmasked masked", wantLen: 2, nets: []NamedNetwork{
			{Name: "a", Prefixes: []netip.Prefix{p("10.0.0.0/8"), p("10.1.0.0/8"), p("::/0")}},
			{Name: "b", Prefixes: []netip.Prefix{p("10.0.0.0/8")}},
		}},
	}
	for _, tt := range tests {
		got, err := NewNamedNetworks(tt.nets)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: err %v, want %q", tt.name, err, tt.wantErr)
			}
		case err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.wantNil != (got == nil):
			t.Errorf("%s: got %v", tt.name, got)
		case got.Len() != tt.wantLen:
			t.Errorf("%s: Len %d, want %d", tt.name, got.Len(), tt.wantLen)
		}
	}
	// The first listed name owns a prefix listed twice; /0 holds all.
	nn, _ := NewNamedNetworks(tests[len(tests)-1].nets)
	if name, _ := nn.Lookup(netip.MustParseAddr("10.9.9.9")); name != "a" {
		t.Errorf("shared prefix went to %q", name)
	}
	if name, _ := nn.Lookup(netip.MustParseAddr("2001:db8::1")); name != "a" {
		t.Errorf("::/0 did not hold an IPv6 address: %q", name)
	}
	if _, ok := nn.Lookup(netip.MustParseAddr("11.0.0.1")); ok {
		t.Error("an address outside every prefix was classified")
	}
	var none *NamedNetworks
	if _, ok := none.Lookup(netip.MustParseAddr("10.0.0.1")); ok || none.Len() != 0 || none.Networks() != nil {
		t.Error("nil networks classify something")
	}
}

func TestCompactNetworks(t *testing.T) {
	p := netip.MustParsePrefix
	tests := []struct {
		name string
		in   []NamedNetwork
		want map[string]string
	}{
		{"siblings merge, repeatedly", []NamedNetwork{{Name: "a", Prefixes: []netip.Prefix{p("10.0.0.0/25"), p("10.0.0.128/25"), p("10.0.1.0/24"), p("10.0.2.0/24")}}},
			map[string]string{"a": "10.0.0.0/23 10.0.2.0/24"}},
		{"contained dropped, duplicates too", []NamedNetwork{{Name: "a", Prefixes: []netip.Prefix{p("10.1.2.0/24"), p("10.0.0.0/8"), p("10.0.0.0/8"), p("2001:db8:1::/48"), p("2001:db8::/32")}}},
			map[string]string{"a": "10.0.0.0/8 2001:db8::/32"}},
		{"no merge into a parent another name lists", []NamedNetwork{
			{Name: "a", Prefixes: []netip.Prefix{p("10.0.0.0/25"), p("10.0.0.128/25")}},
			{Name: "b", Prefixes: []netip.Prefix{p("10.0.0.0/24")}}},
			map[string]string{"a": "10.0.0.0/25 10.0.0.128/25", "b": "10.0.0.0/24"}},
		{"no drop past another name's prefix", []NamedNetwork{
			{Name: "a", Prefixes: []netip.Prefix{p("10.0.0.0/8"), p("10.1.2.0/24")}},
			{Name: "b", Prefixes: []netip.Prefix{p("10.1.0.0/16")}}},
			map[string]string{"a": "10.0.0.0/8 10.1.2.0/24", "b": "10.1.0.0/16"}},
		{"drop when the other name is wider than both", []NamedNetwork{
			{Name: "a", Prefixes: []netip.Prefix{p("10.0.0.0/16"), p("10.0.2.0/24")}},
			{Name: "b", Prefixes: []netip.Prefix{p("10.0.0.0/8")}}},
			map[string]string{"a": "10.0.0.0/16", "b": "10.0.0.0/8"}},
	}
	for _, tt := range tests {
		got := CompactNetworks(tt.in)
		for _, nw := range got {
			if s := prefixStrings(nw.Prefixes); s != tt.want[nw.Name] {
				t.Errorf("%s: %s = %s, want %s", tt.name, nw.Name, s, tt.want[nw.Name])
			}
		}
	}
}

// TestCompactNetworksPreservesClassification: on random, overlapping,
// adjacent networks, every address classifies the same before and after
// compaction: the first and last address of every prefix, their
// neighbours, and random addresses.
func TestCompactNetworksPreservesClassification(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 40; round++ {
		var nets []NamedNetwork
		for i := 0; i < 4; i++ {
			nw := NamedNetwork{Name: fmt.Sprintf("n%d", i)}
			for j := 0; j < 60; j++ {
				// A small address space so prefixes nest and touch.
				a := netip.AddrFrom4([4]byte{10, byte(rng.IntN(4)), byte(rng.IntN(256)), byte(rng.IntN(256))})
				pf, _ := a.Prefix(14 + rng.IntN(19))
				nw.Prefixes = append(nw.Prefixes, pf)
				if rng.IntN(3) == 0 {
					nw.Prefixes = append(nw.Prefixes, sibling(pf))
				}
			}
			nets = append(nets, nw)
		}
		// A prefix under two names is refused by the config; keep each
		// in its first network only.
		owner := map[netip.Prefix]string{}
		for i := range nets {
			nets[i].Prefixes = slices.DeleteFunc(nets[i].Prefixes, func(p netip.Prefix) bool {
				o, ok := owner[p.Masked()]
				if !ok {
					owner[p.Masked()] = nets[i].Name
				}
				return ok && o != nets[i].Name
			})
		}
		before, err := NewNamedNetworks(nets)
		if err != nil {
			t.Fatal(err)
		}
		compact := CompactNetworks(nets)
		after, err := NewNamedNetworks(compact)
		if err != nil {
			t.Fatal(err)
		}
		if after.Len() > before.Len() {
			t.Errorf("round %d: compaction grew %d -> %d prefixes", round, before.Len(), after.Len())
		}
		var probes []netip.Addr
		for _, nw := range nets {
			for _, pf := range nw.Prefixes {
				first := pf.Masked().Addr()
				last := lastAddr(pf.Masked())
				probes = append(probes, first, last, first.Prev(), last.Next())
			}
		}
		for i := 0; i < 2000; i++ {
			probes = append(probes, netip.AddrFrom4([4]byte{10, byte(rng.IntN(5)), byte(rng.IntN(256)), byte(rng.IntN(256))}))
		}
		for _, a := range probes {
			if !a.IsValid() {
				continue
			}
			b, _ := before.Lookup(a)
			c, _ := after.Lookup(a)
			if b != c {
				for _, nw := range nets {
					for _, pf := range nw.Prefixes {
						if pf.Contains(a) {
							t.Logf("before %s %s", nw.Name, pf)
						}
					}
				}
				for _, nw := range compact {
					for _, pf := range nw.Prefixes {
						if pf.Contains(a) {
							t.Logf("after %s %s", nw.Name, pf)
						}
					}
				}
				t.Fatalf("round %d: %s was %q, after compaction %q", round, a, b, c)
			}
		}
	}
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
