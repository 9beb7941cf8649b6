package config

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trailwatch/trailwatch/detectors"
)

const networksDir = "../testdata/networks"

// loadDoc writes doc as thresholds.yaml in a temporary directory, with
// {{dir}} standing for the absolute path of testdata/networks, and loads
// it.
func loadDoc(t *testing.T, doc string) (*detectors.Config, []Problem, error) {
	t.Helper()
	abs, err := filepath.Abs(networksDir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "thresholds.yaml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(doc, "{{dir}}", abs)), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(path, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
}

func problemLines(err error) []string {
	ce, ok := err.(*Error)
	if !ok {
		return nil
	}
	var out []string
	for _, p := range ce.Problems {
		out = append(out, p.String())
	}
	return out
}

func TestNetworksConfig(t *testing.T) {
	tests := []struct {
		name     string
		doc      string
		wantErr  []string // each a substring of one problem, "line N: ..." included
		wantWarn []string
		want     map[string]string // name -> prefixes
	}{
		{name: "github meta file, default key",
			doc:      "version: 1\nnetworks:\n  - name: gh\n    file: {{dir}}/github-meta.json\n",
			wantWarn: []string{`line 4: networks[0] (gh): file {{dir}}/github-meta.json: 2 malformed entries skipped: actions[5] "not-a-cidr": not a CIDR; actions[6]: not a string`},
			want:     map[string]string{"gh": "3.85.0.0/16 4.148.0.0/16 4.149.0.0/18 4.149.64.0/19 20.1.128.0/17 20.20.140.0/24 2603:1030:a0b::/48"}},
		{name: "inline cidrs merged, file and cidrs together",
			doc:  "version: 1\nnetworks:\n  - name: runners\n    file: {{dir}}/runners.txt\n    cidrs: [192.0.2.0/25, 192.0.2.128/25]\n",
			want: map[string]string{"runners": "192.0.2.0/24 198.51.100.0/25 203.0.113.9/32 2001:db8:77::/48"}, wantWarn: []string{"2 malformed entries skipped"}},
		{name: "aws ranges filtered",
			doc:  "version: 1\nnetworks:\n  - name: codebuild\n    file: {{dir}}/aws-ip-ranges.json\n    services: [CODEBUILD]\n    regions: [us-west-2]\n",
			want: map[string]string{"codebuild": "52.43.76.88/29 2600:1f14:fff:f800::/53"}},
		{name: "bad CIDR, at its line",
			doc:     "version: 1\nnetworks:\n  - name: a\n    cidrs:\n      - 10.0.0.0/8\n      - 10.0.0.0/40\n",
			wantErr: []string{`line 6: networks[0] (a): cidrs: "10.0.0.0/40" is not a CIDR`}},
		{name: "unmasked CIDR",
			doc:     "version: 1\nnetworks:\n  - name: a\n    cidrs: [10.1.2.3/16]\n",
			wantErr: []string{"line 4: networks[0] (a): cidrs: 10.1.2.3/16 has bits set past its /16 (did you mean 10.1.0.0/16?)"}},
		{name: "names unique",
			doc:     "version: 1\nnetworks:\n  - name: a\n    cidrs: [10.0.0.0/8]\n  - name: a\n    cidrs: [11.0.0.0/8]\n",
			wantErr: []string{`line 5: networks[1] (a): name "a" is already used by networks[0]`}},
		{name: "name pattern (schema)",
			doc:     "version: 1\nnetworks:\n  - name: GitHub Actions\n    cidrs: [10.0.0.0/8]\n",
			wantErr: []string{"line 3: /networks/0/name: "}},
		{name: "neither cidrs nor file (schema)",
			doc:     "version: 1\nnetworks:\n  - name: a\n",
			wantErr: []string{"/networks/0: "}},
		{name: "unknown format (schema)",
			doc:     "version: 1\nnetworks:\n  - name: a\n    file: x.csv\n    format: csv\n",
			wantErr: []string{"line 5: /networks/0/format: "}},
		{name: "file missing",
			doc:     "version: 1\nnetworks:\n  - name: a\n    file: missing.json\n",
			wantErr: []string{"line 4: networks[0] (a): file missing.json: unreadable: "}},
		{name: "keys on a cidr list",
			doc:     "version: 1\nnetworks:\n  - name: a\n    file: {{dir}}/runners.txt\n    keys: [actions]\n",
			wantErr: []string{"keys select lists of a github-meta file; this one is cidr-list"}},
		{name: "services on github meta",
			doc:     "version: 1\nnetworks:\n  - name: a\n    file: {{dir}}/github-meta.json\n    services: [EC2]\n",
			wantErr: []string{"services and regions filter an aws-ip-ranges file; this one is github-meta"}},
		{name: "a filter selecting nothing",
			doc:     "version: 1\nnetworks:\n  - name: a\n    file: {{dir}}/aws-ip-ranges.json\n    services: [GITHUB]\n",
			wantErr: []string{"no prefix selected (aws-ip-ranges)"}},
		{name: "github meta key missing",
			doc:     "version: 1\nnetworks:\n  - name: a\n    file: {{dir}}/github-meta.json\n    keys: [copilot]\n",
			wantErr: []string{`line 4: networks[0] (a): file {{dir}}/github-meta.json: github-meta: no key "copilot"`}},
		{name: "filters without a file",
			doc:     "version: 1\nnetworks:\n  - name: a\n    cidrs: [10.0.0.0/8]\n    keys: [actions]\n",
			wantErr: []string{"line 3: networks[0] (a): format, keys, services and regions apply to a file"}},
		{name: "the same prefix under two names",
			doc:     "version: 1\nnetworks:\n  - name: a\n    cidrs: [10.0.0.0/8, 11.0.0.0/8]\n  - name: b\n    cidrs: [11.0.0.0/8]\n",
			wantErr: []string{"line 5: networks: 1 prefix(es) listed under both a and b (e.g. 11.0.0.0/8)"}},
		{name: "a name inside another: warning, the longer wins",
			doc: "version: 1\nnetworks:\n  - name: corp\n    cidrs: [198.51.100.0/24]\n  - name: runners\n    file: {{dir}}/runners.txt\n",
			wantWarn: []string{"line 6: networks[1] (runners): file {{dir}}/runners.txt: 2 malformed entries skipped",
				"line 5: networks: 2 prefix(es) of runners lie inside corp's (e.g. 198.51.100.0/26 in 198.51.100.0/24): the longer prefix wins"},
			// The runners' two /26 merge: corp lists no /25 between.
			want: map[string]string{"corp": "198.51.100.0/24", "runners": "198.51.100.0/25 203.0.113.9/32 2001:db8:77::/48"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			abs, _ := filepath.Abs(networksDir)
			fill := func(s string) string { return strings.ReplaceAll(s, "{{dir}}", abs) }
			cfg, warnings, err := loadDoc(t, tt.doc)
			for _, want := range tt.wantErr {
				found := false
				for _, p := range problemLines(err) {
					found = found || strings.Contains(p, fill(want))
				}
				if !found {
					t.Errorf("no problem %q in %v", fill(want), err)
				}
			}
			if len(tt.wantErr) > 0 {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(warnings) != len(tt.wantWarn) {
				t.Errorf("warnings %v, want %d", warnings, len(tt.wantWarn))
			}
			for i, want := range tt.wantWarn {
				if i < len(warnings) && !strings.Contains(warnings[i].String(), fill(want)) {
					t.Errorf("warning %q, want %q", warnings[i], fill(want))
				}
			}
			if len(cfg.Networks) != len(tt.want) || cfg.NamedNetworks == nil {
				t.Fatalf("networks %v, compiled %v", cfg.Networks, cfg.NamedNetworks)
			}
			for _, nw := range cfg.Networks {
				var got []string
				for _, p := range nw.Prefixes {
					got = append(got, p.String())
				}
				if s := strings.Join(got, " "); s != tt.want[nw.Name] {
					t.Errorf("%s: %s, want %s", nw.Name, s, tt.want[nw.Name])
				}
			}
		})
	}
}

// TestNetworksNeedFilesBeside: a document from SSM (Parse, no directory)
// is never read against files: one naming a file is refused, one with
// inline CIDRs is used.
func TestNetworksNeedFilesBeside(t *testing.T) {
	_, _, err := Parse("/trailwatch/thresholds", []byte("version: 1\nnetworks:\n  - name: gh\n    file: github-meta.json\n"), time.Now())
	if err == nil || !strings.Contains(err.Error(), "line 4: networks[0] (gh): file github-meta.json: not read: this config must be self-contained") {
		t.Errorf("Parse of a file network: %v", err)
	}
	cfg, _, err := Parse("/trailwatch/thresholds", []byte("version: 1\nnetworks:\n  - name: gh\n    cidrs: [4.148.0.0/16]\n"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if name, ok := cfg.NamedNetworks.Lookup(netip.MustParseAddr("4.148.9.9")); !ok || name != "gh" {
		t.Errorf("inline network not compiled: %q", name)
	}
	if def := Default(); def.Networks != nil || def.NamedNetworks != nil {
		t.Error("the default config names networks")
	}
}

// TestNetworksLimit: more than events.MaxNetworkPrefixes prefixes in all
// (after merging) are refused.
func TestNetworksLimit(t *testing.T) {
	dir := t.TempDir()
	for i, name := range []string{"a.txt", "b.txt"} {
		var b strings.Builder
		// Every other /32: nothing merges.
		for j := 0; j < 60_000; j++ {
			fmt.Fprintf(&b, "%d.%d.%d.%d/32\n", 10+i, j>>15, j>>7&255, (j&127)*2)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	doc := "version: 1\nnetworks:\n  - name: a\n    file: " + dir + "/a.txt\n  - name: b\n    file: " + dir + "/b.txt\n"
	path := filepath.Join(dir, "thresholds.yaml")
	os.WriteFile(path, []byte(doc), 0o600)
	_, _, err := Load(path, time.Now())
	if err == nil || !strings.Contains(err.Error(), "line 3: networks: 120000 prefixes in all (after merging adjacent ones); at most 100000") {
		t.Errorf("err = %v", err)
	}
}

// TestNetworksShippedFixture: the parity fixture loads, every network with
// prefixes, and the default and example configs stay valid.
func TestNetworksShippedFixture(t *testing.T) {
	cfg, _, err := Load(filepath.Join(networksDir, "thresholds.yaml"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, nw := range cfg.Networks {
		names = append(names, fmt.Sprintf("%s:%d", nw.Name, len(nw.Prefixes)))
	}
	if got := strings.Join(names, " "); got != "github-actions:7 codebuild:2 runners:4" {
		t.Errorf("networks %s", got)
	}
	if cfg.NamedNetworks.Len() != 13 {
		t.Errorf("compiled %d prefixes", cfg.NamedNetworks.Len())
	}
}

// TestCompareNetworks: validate --against names the networks added,
// removed and changed, with counts; the same networks in another order or
// spelling (unmerged) are no change.
func TestCompareNetworks(t *testing.T) {
	parse := func(doc string) *detectors.Config {
		t.Helper()
		cfg, _, err := Parse("t", []byte(doc), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	base := "version: 1\nnetworks:\n  - name: gh\n    cidrs: [4.148.0.0/16, 20.1.128.0/17]\n  - name: corp\n    cidrs: [198.51.100.0/24]\n"
	tests := []struct {
		name, old, new string
		want           []string
	}{
		{"none", "version: 1\n", "version: 1\n", nil},
		{"same, reordered and unmerged", base,
			"version: 1\nnetworks:\n  - name: corp\n    cidrs: [198.51.100.0/25, 198.51.100.128/25]\n  - name: gh\n    cidrs: [20.1.128.0/17, 4.148.0.0/16]\n", nil},
		{"added", "version: 1\n", base, []string{
			"networks: network gh added (2 prefixes): calls from it get the network key net/gh",
			"networks: network corp added (1 prefixes)"}},
		{"removed", base, "version: 1\nnetworks:\n  - name: gh\n    cidrs: [4.148.0.0/16, 20.1.128.0/17]\n", []string{
			"networks: network corp removed (1 prefixes): calls from it are keyed by their /24 or AWS region again"}},
		{"changed", base, "version: 1\nnetworks:\n  - name: gh\n    cidrs: [4.148.0.0/16, 20.2.0.0/16, 20.4.0.0/16]\n  - name: corp\n    cidrs: [198.51.100.0/24]\n", []string{
			"networks: network gh changed: 2 prefixes added, 1 removed (3 now)"}},
	}
	for _, tt := range tests {
		got := Compare(parse(tt.old), parse(tt.new))
		if len(got) != len(tt.want) {
			t.Errorf("%s: %v, want %d changes", tt.name, got, len(tt.want))
			continue
		}
		for i, c := range got {
			if !strings.Contains(c.String(), tt.want[i]) {
				t.Errorf("%s: %q, want %q", tt.name, c, tt.want[i])
			}
		}
	}
}
