package release

import (
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestParseChecksums(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name, in, errHas string
		want             map[string]string
	}{
		{"goreleaser format", sum + "  a.zip\n" + strings.ToUpper(sum) + "  b.tar.gz\n", "",
			map[string]string{"a.zip": sum, "b.tar.gz": sum}},
		{"binary-mode marker", sum + " *a.zip\n", "", map[string]string{"a.zip": sum}},
		{"blank lines", "\n" + sum + "  a.zip\n\n", "", map[string]string{"a.zip": sum}},
		{"path outside the directory", sum + "  ../etc/passwd\n", "not a file name", nil},
		{"subdirectory", sum + "  sub/a.zip\n", "not a file name", nil},
		{"short sum", "abcd  a.zip\n", "line 1", nil},
		{"not hex", strings.Repeat("zz", 32) + "  a.zip\n", "not hex", nil},
		{"listed twice", sum + "  a.zip\n" + sum + "  a.zip\n", "listed twice", nil},
		{"empty", "", "no checksums", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseChecksums(strings.NewReader(tc.in))
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("err %v, want one mentioning %q", err, tc.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s: %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

// TestVerifyChecksums: a release directory verifies when intact, and each
// way it can be wrong is caught.
func TestVerifyChecksums(t *testing.T) {
	write := func(t *testing.T, dir, name, body string) string {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		s := sha256.Sum256([]byte(body))
		return hex.EncodeToString(s[:]) + "  " + name + "\n"
	}
	for _, tc := range []struct {
		name   string
		spoil  func(t *testing.T, dir string)
		errHas string
	}{
		{"intact", func(*testing.T, string) {}, ""},
		{"bookkeeping files need no checksum", func(t *testing.T, dir string) {
			write(t, dir, "metadata.json", "{}")
			write(t, dir, "artifacts.json", "[]")
			write(t, dir, "config.yaml", "")
		}, ""},
		{"tampered archive", func(t *testing.T, dir string) { write(t, dir, "app.zip", "evil") }, "app.zip: SHA-256"},
		{"missing archive", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "app.zip")) }, "app.zip:"},
		{"unlisted archive", func(t *testing.T, dir string) { write(t, dir, "extra.tar.gz", "x") }, "extra.tar.gz ships but is not in"},
		{"unlisted SBOM", func(t *testing.T, dir string) { write(t, dir, "extra.cdx.json", "{}") }, "extra.cdx.json ships"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			list := write(t, dir, "app.zip", "zip bytes") + write(t, dir, "app.cdx.json", `{"bomFormat":"CycloneDX"}`)
			write(t, dir, ChecksumsFile, list)
			tc.spoil(t, dir)
			names, err := VerifyChecksums(dir)
			if tc.errHas == "" {
				if err != nil || strings.Join(names, ",") != "app.cdx.json,app.zip" {
					t.Fatalf("names %v, err %v", names, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("err %v, want one mentioning %q", err, tc.errHas)
			}
		})
	}
}

// TestSBOMCoverage: MissingFromSBOM reports a module the binary holds and
// the SBOM omits, matching package URLs with qualifiers, subpaths and
// percent-encoding; a complete SBOM (the benign twin) reports nothing.
func TestSBOMCoverage(t *testing.T) {
	bi := &buildinfo.BuildInfo{Deps: []*debug.Module{
		{Path: "github.com/aws/aws-lambda-go", Version: "v1.55.1"},
		{Path: "github.com/BurntSushi/toml", Version: "v1.6.0"},
		{Path: "gopkg.in/yaml.v3", Version: "v3.0.1"},
	}}
	sbomWith := func(purls ...string) *SBOM {
		s := &SBOM{BOMFormat: "CycloneDX", SpecVersion: "1.6"}
		s.Metadata.Component.PURL = "pkg:golang/github.com/trailwatch/trailwatch@v1.0.0?type=module#cmd/trailwatch"
		for _, p := range purls {
			s.Components = append(s.Components, SBOMComponent{PURL: p})
		}
		return s
	}
	complete := sbomWith(
		"pkg:golang/github.com/aws/aws-lambda-go@v1.55.1?goarch=arm64&goos=linux&type=module",
		"pkg:golang/github.com/burntsushi/toml@v1.6.0",
		"pkg:golang/gopkg.in/yaml.v3@v3.0.1?type=module",
		"pkg:golang/std@go1.26.8?type=module",
	)
	if m := MissingFromSBOM(bi, complete); len(m) != 0 {
		t.Errorf("complete SBOM: missing %v", m)
	}
	partial := sbomWith("pkg:golang/github.com/aws/aws-lambda-go@v1.55.0", "pkg:golang/gopkg.in/yaml.v3@v3.0.1")
	m := MissingFromSBOM(bi, partial)
	if strings.Join(m, " ") != "github.com/BurntSushi/toml@v1.6.0 github.com/aws/aws-lambda-go@v1.55.1" {
		t.Errorf("partial SBOM: missing %v, want toml and the right aws-lambda-go version", m)
	}
	if got := complete.GoModules()[0]; got != "github.com/trailwatch/trailwatch@v1.0.0" {
		t.Errorf("main module %q", got)
	}
}
