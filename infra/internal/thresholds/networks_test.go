package thresholds

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const (
	networksSource   = "../../../testdata/networks/thresholds.yaml"
	networksDeployed = "../../../testdata/networks/deployed-thresholds.yaml"
)

// deployedNetworks decodes the networks of a resolved document.
func deployedNetworks(t *testing.T, content string) []network {
	t.Helper()
	var doc struct {
		Version  int       `yaml:"version"`
		Networks []network `yaml:"networks"`
	}
	if err := yaml.Unmarshal([]byte(content), &doc); err != nil {
		t.Fatalf("resolved document: %v\n%s", err, content)
	}
	if doc.Version != 1 {
		t.Errorf("version %d", doc.Version)
	}
	return doc.Networks
}

// TestResolveNetworksFile: Load inlines the files of the parity fixture
// (GitHub meta, AWS ip-ranges filtered by service and region, a CIDR list
// beside inline CIDRs) as compacted cidrs, with nothing left that names a
// file. The result is kept in testdata/networks/deployed-thresholds.yaml,
// which the detect function's tests deploy and compare with what
// `trailwatch validate` reads from the source: run with -update after a
// change.
func TestResolveNetworksFile(t *testing.T) {
	content, fromFile, err := Load(networksSource)
	if err != nil || !fromFile {
		t.Fatalf("Load: %v (from file %v)", err, fromFile)
	}
	for _, key := range []string{"file:", "format:", "keys:", "services:", "regions:"} {
		if strings.Contains(content, key) {
			t.Errorf("the deployed document still has %s\n%s", key, content)
		}
	}
	got := map[string]string{}
	for _, nw := range deployedNetworks(t, content) {
		if nw.File != "" || nw.Format != "" || len(nw.Keys) > 0 {
			t.Errorf("%s still names a file", nw.Name)
		}
		got[nw.Name] = strings.Join(nw.CIDRs, " ")
	}
	want := map[string]string{
		"github-actions": "3.85.0.0/16 4.148.0.0/16 4.149.0.0/18 4.149.64.0/19 20.1.128.0/17 20.20.140.0/24 2603:1030:a0b::/48",
		"codebuild":      "34.228.4.208/28 34.250.63.248/29",
		"runners":        "192.0.2.0/24 198.51.100.0/25 203.0.113.9/32 2001:db8:77::/48",
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: %s\nwant %s", name, got[name], w)
		}
	}
	for _, note := range []string{"github-actions: 2 malformed entries of github-meta.json skipped", "runners: 2 malformed entries of runners.txt skipped"} {
		if !strings.Contains(content, note) {
			t.Errorf("the deployed document does not note %q", note)
		}
	}
	if *update {
		if err := os.WriteFile(networksDeployed, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	prev, err := os.ReadFile(networksDeployed)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if string(prev) != content {
		t.Errorf("%s is stale: run `cd infra && go test ./internal/thresholds -run TestResolveNetworksFile -update`", networksDeployed)
	}
}

// TestResolveNetworksUnchanged: a document whose networks name no file is
// deployed byte for byte.
func TestResolveNetworksUnchanged(t *testing.T) {
	large, err := os.ReadFile(largeRules)
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range []string{DefaultConfig, string(large),
		"version: 1\n# inline only\nnetworks:\n  - name: corp\n    cidrs: [10.0.0.0/25, 10.0.0.128/25]\n",
		"not: [valid yaml"} {
		got, notes, err := ResolveNetworks(doc, ".")
		if err != nil || got != doc || notes != nil {
			t.Errorf("ResolveNetworks changed %.40q: %v %v", doc, notes, err)
		}
	}
}

// TestResolveNetworksErrors: synthesis stops on a network file it cannot
// use, rather than deploying a config without the network.
func TestResolveNetworksErrors(t *testing.T) {
	dir, _ := filepath.Abs("../../../testdata/networks")
	for _, tt := range []struct{ doc, want string }{
		{"version: 1\nnetworks:\n  - name: a\n    file: missing.json\n", "networks[0] (a): file missing.json: open "},
		{"version: 1\nnetworks:\n  - name: a\n    file: github-meta.json\n    keys: [copilot]\n", `github-meta: no key "copilot"`},
		{"version: 1\nnetworks:\n  - name: a\n    file: aws-ip-ranges.json\n    services: [GITHUB]\n", "no prefix selected (aws-ip-ranges)"},
		{"version: 1\nnetworks:\n  - name: a\n    file: runners.txt\n    cidrs: [10.1.2.3/8]\n", `cidr "10.1.2.3/8" is not a masked CIDR`},
		{"version: 1\nnetworks:\n  - name: a\n    file: runners.txt\n    format: csv\n", `unknown format "csv"`},
	} {
		if _, _, err := ResolveNetworks(tt.doc, dir); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want %q", tt.doc, err, tt.want)
		}
	}
}

// githubSizedMeta writes a GitHub meta document whose actions list has n
// random prefixes, few of them adjacent (the real list is Azure's, about
// 5,000 prefixes that compaction barely shrinks).
func githubSizedMeta(t *testing.T, dir string, n int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(5, 6))
	var list []string
	for len(list) < n {
		a := netip.AddrFrom4([4]byte{byte(1 + rng.IntN(220)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))})
		p, _ := a.Prefix(18 + rng.IntN(15))
		list = append(list, p.String())
		if rng.IntN(8) == 0 {
			var b [16]byte
			b[0], b[1], b[2], b[3], b[4], b[5] = 0x26, 0x03, 0x10, byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))
			p6, _ := netip.AddrFrom16(b).Prefix(44 + rng.IntN(21))
			list = append(list, p6.String())
		}
	}
	doc, _ := json.Marshal(map[string]any{"verifiable_password_authentication": false, "actions": list, "web": []string{"140.82.112.0/20"}})
	if err := os.WriteFile(filepath.Join(dir, "github-meta.json"), doc, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestResolveNetworksGitHubSized: a thresholds.yaml naming a GitHub-sized
// meta file (5,000 prefixes) resolves to a document the parameters hold:
// split over standard parameters within MaxParts, each within its limit,
// joining back to the document with every prefix inlined.
func TestResolveNetworksGitHubSized(t *testing.T) {
	dir := t.TempDir()
	githubSizedMeta(t, dir, 5000)
	path := filepath.Join(dir, "thresholds.yaml")
	os.WriteFile(path, []byte("version: 1\nnetworks:\n  - name: github-actions\n    file: github-meta.json\n"), 0o600)
	content, _, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	nets := deployedNetworks(t, content)
	if len(nets) != 1 || len(nets[0].CIDRs) < 4500 {
		t.Fatalf("resolved %d networks, %d cidrs", len(nets), len(nets[0].CIDRs))
	}
	parts, err := Split(content)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) == 0 || len(parts) > MaxParts {
		t.Fatalf("%d bytes in %d parts", len(content), len(parts))
	}
	t.Logf("%d prefixes: %d bytes, %d parameters of at most %d", len(nets[0].CIDRs), len(content), len(parts), partSize)
	tpl := synth(t, content)
	params := resources(tpl, "AWS::SSM::Parameter")
	if len(params) != len(parts)+1 {
		t.Errorf("%d parameters for %d parts", len(params), len(parts))
	}
	for id, r := range params {
		if v := resolve(t, r["Properties"].(map[string]any)["Value"]); len(v) > standardLimit {
			t.Errorf("%s: %d bytes", id, len(v))
		}
	}
	if got := join(t, parts); got != content {
		t.Error("the parts do not join back to the document")
	}
	// Eight times GitHub's list no longer fits the parameters (about
	// 25,000 random prefixes do): Load refuses it at synth.
	githubSizedMeta(t, dir, 40000)
	if _, _, err := Load(path); err == nil || !strings.Contains(err.Error(), "at most 50 are deployed") {
		t.Errorf("Load of a 40,000-prefix network: %v", err)
	}
}

// TestCompactNetworksInfra: the compaction merges and drops within a
// network but never across another network's prefix.
func TestCompactNetworksInfra(t *testing.T) {
	p := netip.MustParsePrefix
	nets := []network{
		{Name: "a", prefixes: []netip.Prefix{p("10.0.0.0/25"), p("10.0.0.128/25"), p("10.1.0.0/25"), p("10.1.0.128/25"), p("10.2.0.0/16"), p("10.2.3.0/24"), p("10.3.0.0/8")}},
		{Name: "b", prefixes: []netip.Prefix{p("10.1.0.0/24"), p("10.2.3.0/25")}},
	}
	compactNetworks(nets)
	var b bytes.Buffer
	for _, nw := range nets {
		fmt.Fprintf(&b, "%s:", nw.Name)
		for _, p := range nw.prefixes {
			fmt.Fprintf(&b, " %s", p)
		}
		b.WriteString("\n")
	}
	// 10.0.0.0/8 (10.3.0.0/8 masked) absorbs 10.0.0.0/24's halves,
	// 10.2.0.0/16 and 10.2.3.0/24 (b's /25 inside it still wins its
	// half), but not 10.1.0.0/24's halves: b lists that /24 between.
	want := "a: 10.0.0.0/8 10.1.0.0/25 10.1.0.128/25\nb: 10.1.0.0/24 10.2.3.0/25\n"
	if b.String() != want {
		t.Errorf("got\n%swant\n%s", b.String(), want)
	}
}
