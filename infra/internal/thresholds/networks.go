package thresholds

// Named networks (thresholds.yaml networks) may name files of published
// ranges, read beside thresholds.yaml. The detect function reads its config
// from SSM and has no such files, so the document deployed is made
// self-contained here: each file is read and its prefixes inlined as cidrs,
// compacted. The formats and the compaction mirror the main module's
// events.ParseNetworkFile and events.CompactNetworks (this module does not
// import it); the detect function's TestDeployedNetworksClassify checks
// that the document resolved here (testdata/networks/deployed-thresholds.yaml,
// written by TestResolveNetworksFile) parses to exactly the networks
// `trailwatch validate` reads from the source.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

const (
	// maxNetworkFileBytes and maxNetworkPrefixes are the main module's
	// events.MaxNetworkFileBytes and events.MaxNetworkPrefixes.
	maxNetworkFileBytes = 64 << 20
	maxNetworkPrefixes  = 100_000
)

// network is one item of networks.
type network struct {
	Name     string   `yaml:"name"`
	CIDRs    []string `yaml:"cidrs"`
	File     string   `yaml:"file"`
	Format   string   `yaml:"format"`
	Keys     []string `yaml:"keys"`
	Services []string `yaml:"services"`
	Regions  []string `yaml:"regions"`

	prefixes []netip.Prefix
}

// ResolveNetworks returns content with the files its networks name (relative
// to dir) read and inlined as compacted cidrs, and a note per file whose
// malformed entries were skipped. Content whose networks name no file is
// returned unchanged.
func ResolveNetworks(content, dir string) (string, []string, error) {
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(content), &root); err != nil || len(root.Content) == 0 {
		// Not YAML: deployed as is, and rejected by the function like
		// any bad config (`trailwatch validate` says why).
		return content, nil, nil
	}
	doc := root.Content[0]
	seq := mapNode(doc, "networks")
	if seq == nil || seq.Kind != yaml.SequenceNode {
		return content, nil, nil
	}
	hasFile := false
	for _, item := range seq.Content {
		hasFile = hasFile || mapNode(item, "file") != nil
	}
	if !hasFile {
		return content, nil, nil
	}
	var nets []network
	if err := seq.Decode(&nets); err != nil {
		return "", nil, fmt.Errorf("networks: %w", err)
	}
	var notes []string
	for i := range nets {
		nw := &nets[i]
		for _, c := range nw.CIDRs {
			p, err := netip.ParsePrefix(strings.TrimSpace(c))
			if err != nil || p != p.Masked() {
				return "", nil, fmt.Errorf("networks[%d] (%s): cidr %q is not a masked CIDR (run trailwatch validate)", i, nw.Name, c)
			}
			nw.prefixes = append(nw.prefixes, p)
		}
		if nw.File == "" {
			continue
		}
		path := nw.File
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		ps, skipped, err := readNetworkFile(path, *nw)
		if err != nil {
			return "", nil, fmt.Errorf("networks[%d] (%s): file %s: %w", i, nw.Name, nw.File, err)
		}
		if skipped > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d malformed entries of %s skipped", nw.Name, skipped, nw.File))
		}
		nw.prefixes = append(nw.prefixes, ps...)
	}
	compactNetworks(nets)
	for i, item := range seq.Content {
		seq.Content[i] = resolvedItem(item, nets[i])
	}
	doc.HeadComment = strings.TrimSpace(doc.HeadComment + "\nNetwork files resolved into cidrs when the CDK app was synthesized.")
	for _, n := range notes {
		doc.HeadComment += "\n" + n
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		return "", nil, fmt.Errorf("networks: encode: %w", err)
	}
	enc.Close()
	return b.String(), notes, nil
}

// resolvedItem is item with only its name and its cidrs, as a flow list.
func resolvedItem(item *yaml.Node, nw network) *yaml.Node {
	cidrs := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle, Tag: "!!seq"}
	for _, p := range nw.prefixes {
		cidrs.Content = append(cidrs.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: p.String()})
	}
	out := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", HeadComment: item.HeadComment, LineComment: item.LineComment}
	if nw.File != "" {
		out.HeadComment = strings.TrimSpace(out.HeadComment + "\nfrom " + nw.File)
	}
	out.Content = append(out.Content,
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "name"},
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: nw.Name},
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "cidrs"},
		cidrs)
	return out
}

func mapNode(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// readNetworkFile reads the prefixes nw selects from a file, and counts
// the malformed entries skipped.
func readNetworkFile(path string, nw network) ([]netip.Prefix, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	var src io.Reader = bufio.NewReader(f)
	br := src.(*bufio.Reader)
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, 0, fmt.Errorf("gunzip: %w", err)
		}
		defer zr.Close()
		src = zr
	}
	data, err := io.ReadAll(io.LimitReader(src, maxNetworkFileBytes+1))
	if err != nil {
		return nil, 0, err
	}
	if len(data) > maxNetworkFileBytes {
		return nil, 0, fmt.Errorf("larger than %d bytes", maxNetworkFileBytes)
	}
	format := nw.Format
	if format == "" {
		format = detectFormat(data)
	}
	var entries []string
	skipped := 0
	switch format {
	case "github-meta":
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(data, &doc); err != nil {
			return nil, 0, fmt.Errorf("github-meta: %w", err)
		}
		keys := nw.Keys
		if len(keys) == 0 {
			keys = []string{"actions"}
		}
		for _, k := range keys {
			raw, ok := doc[k]
			if !ok {
				return nil, 0, fmt.Errorf("github-meta: no key %q", k)
			}
			var list []json.RawMessage
			if err := json.Unmarshal(raw, &list); err != nil {
				return nil, 0, fmt.Errorf("github-meta: key %q is not a list of CIDRs", k)
			}
			for _, e := range list {
				var s string
				if json.Unmarshal(e, &s) != nil {
					skipped++
					continue
				}
				entries = append(entries, s)
			}
		}
	case "aws-ip-ranges":
		type entry struct {
			IPPrefix   string `json:"ip_prefix"`
			IPv6Prefix string `json:"ipv6_prefix"`
			Region     string `json:"region"`
			Service    string `json:"service"`
		}
		var doc struct {
			Prefixes     []entry `json:"prefixes"`
			IPv6Prefixes []entry `json:"ipv6_prefixes"`
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			return nil, 0, fmt.Errorf("aws-ip-ranges: %w", err)
		}
		match := func(list []string, v string) bool {
			return len(list) == 0 || slices.ContainsFunc(list, func(s string) bool { return strings.EqualFold(s, v) })
		}
		for _, e := range append(doc.Prefixes, doc.IPv6Prefixes...) {
			if match(nw.Services, e.Service) && match(nw.Regions, e.Region) {
				entries = append(entries, e.IPPrefix+e.IPv6Prefix)
			}
		}
	case "cidr-list":
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 0, 4096), 1<<20)
		for sc.Scan() {
			s, _, _ := strings.Cut(sc.Text(), "#")
			if s = strings.TrimSpace(s); s != "" {
				if a, err := netip.ParseAddr(s); err == nil {
					s = netip.PrefixFrom(a, a.BitLen()).String()
				}
				entries = append(entries, s)
			}
		}
		if err := sc.Err(); err != nil {
			return nil, 0, fmt.Errorf("cidr-list: %w", err)
		}
	default:
		return nil, 0, fmt.Errorf("unknown format %q", format)
	}
	var out []netip.Prefix
	for _, s := range entries {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			skipped++
			continue
		}
		out = append(out, canonical(p))
		if len(out) > maxNetworkPrefixes {
			return nil, 0, fmt.Errorf("more than %d prefixes", maxNetworkPrefixes)
		}
	}
	if len(out) == 0 {
		return nil, 0, fmt.Errorf("no prefix selected (%s)", format)
	}
	return out, skipped, nil
}

// detectFormat is events.DetectNetworkFormat.
func detectFormat(data []byte) string {
	t := bytes.TrimLeft(data, " \t\r\n\ufeff")
	if len(t) == 0 || t[0] != '{' {
		return "cidr-list"
	}
	var keys map[string]json.RawMessage
	if json.Unmarshal(t, &keys) == nil {
		if _, ok := keys["prefixes"]; ok {
			return "aws-ip-ranges"
		}
		if _, ok := keys["ipv6_prefixes"]; ok {
			return "aws-ip-ranges"
		}
	}
	return "github-meta"
}

// canonical masks p and unmaps an IPv4-mapped prefix of at least /96.
func canonical(p netip.Prefix) netip.Prefix {
	p = p.Masked()
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p
}

// compactNetworks is events.CompactNetworks: each network's prefixes
// deduplicated, sorted, without those inside a wider one of its own and
// with siblings merged, only where no other network lists a prefix in
// between (which would change whom an address belongs to).
func compactNetworks(nets []network) {
	owners := map[netip.Prefix][]int{}
	lens := map[bool][]int{}
	for i, nw := range nets {
		for _, p := range nw.prefixes {
			p = canonical(p)
			o := owners[p]
			if len(o) == 0 {
				lens[p.Addr().Is4()] = append(lens[p.Addr().Is4()], p.Bits())
			}
			if len(o) == 0 || o[len(o)-1] != i {
				owners[p] = append(o, i)
			}
		}
	}
	for k, l := range lens {
		slices.Sort(l)
		l = slices.Compact(l)
		slices.Reverse(l)
		lens[k] = l
	}
	other := func(p netip.Prefix, self int) bool {
		return slices.ContainsFunc(owners[p], func(o int) bool { return o != self })
	}
	for i := range nets {
		own := map[netip.Prefix]bool{}
		for _, p := range nets[i].prefixes {
			own[canonical(p)] = true
		}
		for p := range own {
			for _, b := range lens[p.Addr().Is4()] {
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
		slices.SortFunc(ps, func(a, b netip.Prefix) int {
			if c := a.Addr().Compare(b.Addr()); c != 0 {
				return c
			}
			return a.Bits() - b.Bits()
		})
		nets[i].prefixes = ps
	}
}

func sibling(p netip.Prefix) netip.Prefix {
	b := p.Addr().AsSlice()
	bit := p.Bits() - 1
	b[bit/8] ^= 0x80 >> (bit % 8)
	a, _ := netip.AddrFromSlice(b)
	return netip.PrefixFrom(a, p.Bits())
}
