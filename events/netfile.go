package events

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sort"
	"strings"
)

// NetworkFormat is a file format of published address ranges.
type NetworkFormat string

// Network file formats.
const (
	// FormatGitHubMeta is GitHub's meta API document
	// (https://api.github.com/meta): an object whose keys ("actions",
	// "hooks", "web", "api", …) each hold a list of CIDR strings.
	FormatGitHubMeta NetworkFormat = "github-meta"
	// FormatAWSIPRanges is AWS's ip-ranges.json: prefixes[].ip_prefix and
	// ipv6_prefixes[].ipv6_prefix, each with its region and service.
	FormatAWSIPRanges NetworkFormat = "aws-ip-ranges"
	// FormatCIDRList is one CIDR (or address) a line; # starts a comment.
	FormatCIDRList NetworkFormat = "cidr-list"
)

// NetworkFormats lists the formats ParseNetworkFile reads.
func NetworkFormats() []NetworkFormat {
	return []NetworkFormat{FormatGitHubMeta, FormatAWSIPRanges, FormatCIDRList}
}

// DefaultGitHubMetaKeys are the meta keys read when none are selected:
// GitHub-hosted Actions runners.
var DefaultGitHubMetaKeys = []string{"actions"}

// Limits of a network file.
const (
	// MaxNetworkFileBytes bounds a file (after decompression).
	MaxNetworkFileBytes = 64 << 20
	// MaxNetworkPrefixes bounds the prefixes of one file, and of all
	// named networks together.
	MaxNetworkPrefixes = 100_000
	// maxSkippedDetails is how many skipped entries are described.
	maxSkippedDetails = 10
)

// NetworkFileOptions select what a file contributes.
type NetworkFileOptions struct {
	// Format is the file's format; empty detects it (DetectNetworkFormat).
	Format NetworkFormat
	// Keys are the github-meta keys read (default DefaultGitHubMetaKeys).
	Keys []string
	// Services and Regions keep only the aws-ip-ranges entries of these
	// services (AMAZON, EC2, …; any case) and regions; empty keeps all.
	Services, Regions []string
}

// NetworkFile is what a network file holds.
type NetworkFile struct {
	Format NetworkFormat
	// Prefixes are masked, sorted and without duplicates.
	Prefixes []netip.Prefix
	// Skipped counts the malformed entries left out; SkippedDetails
	// describes the first few ("actions[3] \"x\": not a CIDR").
	Skipped        int
	SkippedDetails []string
}

// DetectNetworkFormat guesses a file's format: a JSON object with
// "prefixes" or "ipv6_prefixes" is aws-ip-ranges, any other JSON object
// github-meta, anything else cidr-list.
func DetectNetworkFormat(data []byte) NetworkFormat {
	t := bytes.TrimLeft(data, " \t\r\n\ufeff")
	if len(t) == 0 || t[0] != '{' {
		return FormatCIDRList
	}
	var keys map[string]json.RawMessage
	if json.Unmarshal(t, &keys) == nil {
		if _, ok := keys["prefixes"]; ok {
			return FormatAWSIPRanges
		}
		if _, ok := keys["ipv6_prefixes"]; ok {
			return FormatAWSIPRanges
		}
	}
	return FormatGitHubMeta
}

// ParseNetworkFile reads a network file, plain or gzip, of at most
// MaxNetworkFileBytes. Malformed entries are skipped and counted; an error
// means the file as a whole is unusable (not its format, a selected key
// missing, more than MaxNetworkPrefixes prefixes).
func ParseNetworkFile(data []byte, opt NetworkFileOptions) (NetworkFile, error) {
	if bytes.HasPrefix(data, gzipMagic) {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return NetworkFile{}, fmt.Errorf("gunzip: %w", err)
		}
		data, err = io.ReadAll(io.LimitReader(zr, MaxNetworkFileBytes+1))
		if err != nil {
			return NetworkFile{}, fmt.Errorf("gunzip: %w", err)
		}
	}
	if len(data) > MaxNetworkFileBytes {
		return NetworkFile{}, fmt.Errorf("larger than %d bytes", MaxNetworkFileBytes)
	}
	f := NetworkFile{Format: opt.Format}
	if f.Format == "" {
		f.Format = DetectNetworkFormat(data)
	}
	var err error
	switch f.Format {
	case FormatGitHubMeta:
		err = f.readGitHubMeta(data, opt.Keys)
	case FormatAWSIPRanges:
		err = f.readAWSIPRanges(data, opt.Services, opt.Regions)
	case FormatCIDRList:
		err = f.readCIDRList(data)
	default:
		return NetworkFile{}, fmt.Errorf("unknown format %q (want github-meta, aws-ip-ranges or cidr-list)", f.Format)
	}
	if err != nil {
		return NetworkFile{}, err
	}
	SortPrefixes(f.Prefixes)
	f.Prefixes = slices.Compact(f.Prefixes)
	return f, nil
}

// add records an entry: a prefix, or a skip when s does not parse.
func (f *NetworkFile) add(where, s string, bareAddr bool) error {
	s = strings.TrimSpace(s)
	p, err := netip.ParsePrefix(s)
	if err != nil && bareAddr {
		if a, aerr := netip.ParseAddr(s); aerr == nil {
			p, err = netip.PrefixFrom(a, a.BitLen()), nil
		}
	}
	if err != nil {
		f.skip(fmt.Sprintf("%s %q: not a CIDR", where, truncate(s, 64)))
		return nil
	}
	if len(f.Prefixes) >= MaxNetworkPrefixes {
		return fmt.Errorf("more than %d prefixes", MaxNetworkPrefixes)
	}
	f.Prefixes = append(f.Prefixes, canonicalPrefix(p))
	return nil
}

func (f *NetworkFile) skip(detail string) {
	f.Skipped++
	if len(f.SkippedDetails) < maxSkippedDetails {
		f.SkippedDetails = append(f.SkippedDetails, detail)
	}
}

func (f *NetworkFile) readGitHubMeta(data []byte, keys []string) error {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("github-meta: want a JSON object: %w", err)
	}
	if len(keys) == 0 {
		keys = DefaultGitHubMetaKeys
	}
	for _, k := range keys {
		raw, ok := doc[k]
		if !ok {
			return fmt.Errorf("github-meta: no key %q (lists: %s)", k, strings.Join(listKeys(doc), ", "))
		}
		var entries []json.RawMessage
		if err := json.Unmarshal(raw, &entries); err != nil {
			return fmt.Errorf("github-meta: key %q is not a list of CIDRs", k)
		}
		for i, e := range entries {
			var s string
			where := fmt.Sprintf("%s[%d]", k, i)
			if err := json.Unmarshal(e, &s); err != nil {
				f.skip(where + ": not a string")
				continue
			}
			if err := f.add(where, s, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// listKeys returns the keys of doc that hold lists, sorted.
func listKeys(doc map[string]json.RawMessage) []string {
	var out []string
	for k, v := range doc {
		if t := bytes.TrimSpace(v); len(t) > 0 && t[0] == '[' {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func (f *NetworkFile) readAWSIPRanges(data []byte, services, regions []string) error {
	var doc ipRangesFile
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("aws-ip-ranges: %w", err)
	}
	if doc.Prefixes == nil && doc.IPv6Prefixes == nil {
		return fmt.Errorf("aws-ip-ranges: neither prefixes nor ipv6_prefixes")
	}
	keep := func(p ipRangesPrefix) bool {
		if len(services) > 0 && !slices.ContainsFunc(services, func(s string) bool { return strings.EqualFold(s, p.Service) }) {
			return false
		}
		return len(regions) == 0 || slices.ContainsFunc(regions, func(r string) bool { return strings.EqualFold(r, p.Region) })
	}
	for i, p := range doc.Prefixes {
		if keep(p) {
			if err := f.add(fmt.Sprintf("prefixes[%d]", i), p.IPPrefix, false); err != nil {
				return err
			}
		}
	}
	for i, p := range doc.IPv6Prefixes {
		if keep(p) {
			if err := f.add(fmt.Sprintf("ipv6_prefixes[%d]", i), p.IPv6Prefix, false); err != nil {
				return err
			}
		}
	}
	return nil
}

func (f *NetworkFile) readCIDRList(data []byte) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		s := sc.Text()
		if i := strings.IndexByte(s, '#'); i >= 0 {
			s = s[:i]
		}
		if strings.TrimSpace(s) == "" {
			continue
		}
		if err := f.add(fmt.Sprintf("line %d", line), s, true); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("cidr-list: line %d: %w", line+1, err)
	}
	return nil
}
