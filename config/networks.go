package config

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/trailwatch/trailwatch/detectors"
	"github.com/trailwatch/trailwatch/events"
)

// networkEntry is one item of thresholds.yaml networks: a named address
// pool, from inline CIDRs and/or a file of published ranges.
type networkEntry struct {
	Name  string   `yaml:"name"`
	CIDRs []string `yaml:"cidrs"`
	// File is relative to the config file; Format is detected when
	// empty. Keys select github-meta lists; Services and Regions filter
	// aws-ip-ranges entries.
	File     string   `yaml:"file"`
	Format   string   `yaml:"format"`
	Keys     []string `yaml:"keys"`
	Services []string `yaml:"services"`
	Regions  []string `yaml:"regions"`
}

// parseNetworks resolves the networks (reading files relative to dir;
// none when dir is ""), validates them and sets cfg.Networks and
// cfg.NamedNetworks. Malformed entries of a file are skipped with a
// warning; everything else wrong is a problem.
func parseNetworks(doc *yaml.Node, entries []networkEntry, dir string, cfg *detectors.Config) (warnings, problems []Problem) {
	if len(entries) == 0 {
		return nil, nil
	}
	seq := mapValue(doc, "networks")
	itemNode := func(i int) *yaml.Node {
		if seq != nil && i < len(seq.Content) {
			return seq.Content[i]
		}
		return nil
	}
	seen := map[string]int{}
	nets := make([]events.NamedNetwork, 0, len(entries))
	lines := make([]int, 0, len(entries))
	for i, e := range entries {
		item := itemNode(i)
		line := lineOf(item)
		where := fmt.Sprintf("networks[%d] (%s)", i, e.Name)
		bad := func(n *yaml.Node, format string, args ...any) {
			l := lineOf(n)
			if l == 0 {
				l = line
			}
			problems = append(problems, Problem{Line: l, Message: where + ": " + fmt.Sprintf(format, args...)})
		}
		if first, dup := seen[e.Name]; dup {
			bad(nil, "name %q is already used by networks[%d]; names must be unique", e.Name, first)
		}
		seen[e.Name] = i
		nw := events.NamedNetwork{Name: e.Name}
		cidrs := mapValue(item, "cidrs")
		for j, c := range e.CIDRs {
			var n *yaml.Node
			if cidrs != nil && j < len(cidrs.Content) {
				n = cidrs.Content[j]
			}
			p, err := netip.ParsePrefix(strings.TrimSpace(c))
			switch {
			case err != nil:
				bad(n, "cidrs: %q is not a CIDR (ADDRESS/BITS)", c)
			case p != p.Masked():
				bad(n, "cidrs: %s has bits set past its /%d (did you mean %s?)", c, p.Bits(), p.Masked())
			default:
				nw.Prefixes = append(nw.Prefixes, p)
			}
		}
		if e.File != "" {
			w, ps, err := readNetworkFile(e, dir)
			fileNode := mapValue(item, "file")
			if err != nil {
				bad(fileNode, "file %s: %v", e.File, err)
			} else if w != "" {
				l := lineOf(fileNode)
				warnings = append(warnings, Problem{Line: l, Warning: true, Message: where + ": file " + e.File + ": " + w})
			}
			nw.Prefixes = append(nw.Prefixes, ps...)
		} else if e.Format != "" || len(e.Keys) > 0 || len(e.Services) > 0 || len(e.Regions) > 0 {
			bad(nil, "format, keys, services and regions apply to a file; there is none")
		}
		if len(nw.Prefixes) == 0 && len(problemsOf(problems, where)) == 0 {
			bad(nil, "holds no prefix: give cidrs, or a file (and keys, services or regions) that lists some")
		}
		nets = append(nets, nw)
		lines = append(lines, line)
	}
	if len(problems) > 0 {
		return warnings, problems
	}
	w, p := overlaps(nets, lines)
	warnings = append(warnings, w...)
	problems = append(problems, p...)
	compact := events.CompactNetworks(nets)
	total := 0
	for _, nw := range compact {
		total += len(nw.Prefixes)
	}
	if total > events.MaxNetworkPrefixes {
		problems = append(problems, Problem{Line: lineOf(seq), Message: fmt.Sprintf("networks: %d prefixes in all (after merging adjacent ones); at most %d", total, events.MaxNetworkPrefixes)})
	}
	if len(problems) > 0 {
		return warnings, problems
	}
	named, err := events.NewNamedNetworks(compact)
	if err != nil {
		return warnings, []Problem{{Line: lineOf(seq), Message: "networks: " + err.Error()}}
	}
	cfg.Networks, cfg.NamedNetworks = compact, named
	return warnings, nil
}

func problemsOf(ps []Problem, where string) []Problem {
	var out []Problem
	for _, p := range ps {
		if strings.HasPrefix(p.Message, where+":") {
			out = append(out, p)
		}
	}
	return out
}

// readNetworkFile reads an entry's file: its prefixes, and a warning
// describing the malformed entries skipped.
func readNetworkFile(e networkEntry, dir string) (warning string, prefixes []netip.Prefix, err error) {
	if dir == "" {
		return "", nil, fmt.Errorf("not read: this config must be self-contained (the CDK app inlines network files into the deployed config; `trailwatch validate` and `--config` read them beside the config file)")
	}
	path := e.File
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", nil, fmt.Errorf("unreadable: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, events.MaxNetworkFileBytes+1))
	if err != nil {
		return "", nil, fmt.Errorf("unreadable: %w", err)
	}
	if len(data) > events.MaxNetworkFileBytes {
		return "", nil, fmt.Errorf("larger than %d bytes", events.MaxNetworkFileBytes)
	}
	opt := events.NetworkFileOptions{Format: events.NetworkFormat(e.Format), Keys: e.Keys, Services: e.Services, Regions: e.Regions}
	format := opt.Format
	if format == "" {
		format = events.DetectNetworkFormat(data)
	}
	if len(e.Keys) > 0 && format != events.FormatGitHubMeta {
		return "", nil, fmt.Errorf("keys select lists of a github-meta file; this one is %s", format)
	}
	if (len(e.Services) > 0 || len(e.Regions) > 0) && format != events.FormatAWSIPRanges {
		return "", nil, fmt.Errorf("services and regions filter an aws-ip-ranges file; this one is %s", format)
	}
	nf, err := events.ParseNetworkFile(data, opt)
	if err != nil {
		return "", nil, err
	}
	if len(nf.Prefixes) == 0 {
		return "", nil, fmt.Errorf("no prefix selected (%s)", nf.Format)
	}
	if nf.Skipped > 0 {
		warning = fmt.Sprintf("%d malformed entries skipped: %s", nf.Skipped, strings.Join(nf.SkippedDetails, "; "))
		if nf.Skipped > len(nf.SkippedDetails) {
			warning += "; …"
		}
	}
	return warning, nf.Prefixes, nil
}

// overlaps reports prefixes shared by two names (a problem: which name
// would the addresses get?) and prefixes of one name inside another's (a
// warning: the longer prefix wins, which may be meant, as for a
// provider's pool inside a cloud's ranges).
func overlaps(nets []events.NamedNetwork, lines []int) (warnings, problems []Problem) {
	owner := map[netip.Prefix]int{}
	lens := map[bool][]int{}
	for i, nw := range nets {
		for _, p := range nw.Prefixes {
			p = p.Masked()
			if _, ok := owner[p]; !ok {
				owner[p] = i
				lens[p.Addr().Is4()] = append(lens[p.Addr().Is4()], p.Bits())
			}
		}
	}
	for k, l := range lens {
		sort.Sort(sort.Reverse(sort.IntSlice(l)))
		lens[k] = slices.Compact(l)
	}
	type pair struct{ a, b int }
	type report struct {
		count   int
		example string
	}
	dups, inside := map[pair]*report{}, map[pair]*report{}
	note := func(m map[pair]*report, k pair, example string) {
		r := m[k]
		if r == nil {
			r = &report{example: example}
			m[k] = r
		}
		r.count++
	}
	for i, nw := range nets {
		done := map[netip.Prefix]bool{}
		for _, p := range nw.Prefixes {
			p = p.Masked()
			if done[p] {
				continue
			}
			done[p] = true
			if o := owner[p]; o != i {
				note(dups, pair{o, i}, p.String())
				continue
			}
			for _, b := range lens[p.Addr().Is4()] {
				if b >= p.Bits() {
					continue
				}
				anc, _ := p.Addr().Prefix(b)
				if o, ok := owner[anc]; ok && o != i {
					note(inside, pair{i, o}, p.String()+" in "+anc.String())
					break
				}
			}
		}
	}
	keys := func(m map[pair]*report) []pair {
		out := make([]pair, 0, len(m))
		for k := range m {
			out = append(out, k)
		}
		sort.Slice(out, func(x, y int) bool {
			if out[x].a != out[y].a {
				return out[x].a < out[y].a
			}
			return out[x].b < out[y].b
		})
		return out
	}
	for _, k := range keys(dups) {
		r := dups[k]
		problems = append(problems, Problem{Line: lines[k.b], Message: fmt.Sprintf(
			"networks: %d prefix(es) listed under both %s and %s (e.g. %s): an address must belong to one name",
			r.count, nets[k.a].Name, nets[k.b].Name, r.example)})
	}
	for _, k := range keys(inside) {
		r := inside[k]
		warnings = append(warnings, Problem{Line: lines[k.a], Warning: true, Message: fmt.Sprintf(
			"networks: %d prefix(es) of %s lie inside %s's (e.g. %s): the longer prefix wins, so those addresses are %s",
			r.count, nets[k.a].Name, nets[k.b].Name, r.example, nets[k.a].Name)})
	}
	return warnings, problems
}
