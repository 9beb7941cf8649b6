package release

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ChecksumsFile is the name of the checksums file in a release directory.
const ChecksumsFile = "checksums.txt"

// maxBinary bounds what is read from an archive member: no shipped binary
// comes near it, and a corrupt or hostile archive cannot exhaust memory.
const maxBinary = 512 << 20

// TestOnlyModules are the modules only tests may use, with the reason. None
// may appear in a shipped binary's module list; the tests check that each
// is still a dependency of the tests, so the list cannot silently go stale.
var TestOnlyModules = map[string]string{
	"github.com/Admiral-Piett/goaws": "the SNS server the tests run in-process (internal/testenv)",
	"github.com/sirupsen/logrus":     "goaws's logger",
	"github.com/gorilla/mux":         "goaws's router",
	"github.com/ghodss/yaml":         "goaws's configuration parser",
	"gopkg.in/yaml.v2":               "goaws's configuration parser",
	"golang.org/x/mod":               "builds the module zip of the go install test",
}

// ParseChecksums reads a checksums file in the format of sha256sum and
// GoReleaser: one "<64 hex digits>  <file name>" per line ("*" before the
// name marks binary mode). Names must be plain file names: a path could
// point a verifier outside the release directory.
func ParseChecksums(r io.Reader) (map[string]string, error) {
	sums := map[string]string{}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		sum, name, ok := strings.Cut(line, " ")
		if !ok || len(sum) != sha256.Size*2 {
			return nil, fmt.Errorf("line %d: want \"<sha256>  <name>\", got %q", n, line)
		}
		if _, err := hex.DecodeString(sum); err != nil {
			return nil, fmt.Errorf("line %d: checksum %q is not hex", n, sum)
		}
		name = strings.TrimPrefix(strings.TrimPrefix(name, " "), "*")
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
			return nil, fmt.Errorf("line %d: %q is not a file name", n, name)
		}
		if _, dup := sums[name]; dup {
			return nil, fmt.Errorf("line %d: %s listed twice", n, name)
		}
		sums[name] = strings.ToLower(sum)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(sums) == 0 {
		return nil, errors.New("no checksums")
	}
	return sums, nil
}

// FileSHA256 returns the hex SHA-256 of a file.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// VerifyChecksums checks dir against dir/checksums.txt: every listed file
// exists with that SHA-256, and every file that ships (an archive or an
// SBOM: .zip, .tar.gz, .json other than GoReleaser's own metadata) is
// listed. It returns the verified names, sorted.
func VerifyChecksums(dir string) ([]string, error) {
	f, err := os.Open(filepath.Join(dir, ChecksumsFile))
	if err != nil {
		return nil, err
	}
	sums, err := ParseChecksums(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ChecksumsFile, err)
	}
	var problems []string
	names := make([]string, 0, len(sums))
	for name, want := range sums {
		names = append(names, name)
		got, err := FileSHA256(filepath.Join(dir, name))
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("%s: %v", name, err))
		case got != want:
			problems = append(problems, fmt.Sprintf("%s: SHA-256 %s, checksums.txt says %s", name, got, want))
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !Shipped(e.Name()) {
			continue
		}
		if _, ok := sums[e.Name()]; !ok {
			problems = append(problems, fmt.Sprintf("%s ships but is not in %s", e.Name(), ChecksumsFile))
		}
	}
	sort.Strings(names)
	sort.Strings(problems)
	if len(problems) > 0 {
		return names, fmt.Errorf("checksums: %s", strings.Join(problems, "; "))
	}
	return names, nil
}

// Shipped reports whether a file name in a release directory is a release
// asset (rather than GoReleaser's bookkeeping: artifacts.json,
// metadata.json, config.yaml, the per-build directories).
func Shipped(name string) bool {
	switch name {
	case "artifacts.json", "metadata.json", "config.yaml", ChecksumsFile:
		return false
	}
	return strings.HasSuffix(name, ".zip") || strings.HasSuffix(name, ".tar.gz") || strings.HasSuffix(name, ".json")
}

// Member is one file read from an archive.
type Member struct {
	Name string
	Mode os.FileMode
	Data []byte
}

// ZipMembers returns the regular files of a zip archive.
func ZipMembers(path string) ([]Member, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	var out []Member
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		if f.UncompressedSize64 > maxBinary {
			return nil, fmt.Errorf("%s: %s is %d bytes", path, f.Name, f.UncompressedSize64)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, f.Name, err)
		}
		data, err := io.ReadAll(io.LimitReader(rc, maxBinary+1))
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, f.Name, err)
		}
		out = append(out, Member{Name: f.Name, Mode: f.Mode(), Data: data})
	}
	return out, nil
}

// TarGzMembers returns the regular files of a .tar.gz archive.
func TarGzMembers(path string) ([]Member, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	tr := tar.NewReader(gz)
	var out []Member
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		if h.Size > maxBinary {
			return nil, fmt.Errorf("%s: %s is %d bytes", path, h.Name, h.Size)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, h.Name, err)
		}
		out = append(out, Member{Name: h.Name, Mode: h.FileInfo().Mode(), Data: data})
	}
}

// BuildInfo reads the build information a Go binary (ELF or Mach-O)
// records: its main module, dependencies and build settings.
func BuildInfo(binary []byte) (*buildinfo.BuildInfo, error) {
	return buildinfo.Read(bytes.NewReader(binary))
}

// Setting returns a build setting ("GOOS", "-tags", "-ldflags", …).
func Setting(bi *buildinfo.BuildInfo, key string) string {
	for _, s := range bi.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}

// TestOnlyIn returns the test-only modules a binary's module list holds
// (a replaced module counts under its original path), sorted.
func TestOnlyIn(bi *buildinfo.BuildInfo) []string {
	var found []string
	for _, d := range bi.Deps {
		if _, bad := TestOnlyModules[d.Path]; bad {
			found = append(found, d.Path+"@"+d.Version)
		}
	}
	sort.Strings(found)
	return found
}

// SBOM is the part of a CycloneDX JSON document the checks read.
type SBOM struct {
	BOMFormat   string `json:"bomFormat"`
	SpecVersion string `json:"specVersion"`
	Metadata    struct {
		Component SBOMComponent `json:"component"`
	} `json:"metadata"`
	Components []SBOMComponent `json:"components"`
}

// SBOMComponent is a CycloneDX component.
type SBOMComponent struct {
	Type    string `json:"type"`
	Name    string `json:"name"`
	Version string `json:"version"`
	PURL    string `json:"purl"`
}

// ReadSBOM decodes a CycloneDX JSON document.
func ReadSBOM(path string) (*SBOM, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s SBOM
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if s.BOMFormat != "CycloneDX" || s.SpecVersion == "" {
		return nil, fmt.Errorf("%s: not a CycloneDX document (bomFormat %q, specVersion %q)", path, s.BOMFormat, s.SpecVersion)
	}
	return &s, nil
}

// GoModules returns the Go modules an SBOM lists, as "path@version" from
// their package URLs (pkg:golang/PATH@VERSION?qualifiers), with the
// metadata component (the main module) first when it is one.
func (s *SBOM) GoModules() []string {
	var out []string
	for _, c := range append([]SBOMComponent{s.Metadata.Component}, s.Components...) {
		rest, ok := strings.CutPrefix(c.PURL, "pkg:golang/")
		if !ok {
			continue
		}
		rest, _, _ = strings.Cut(rest, "?")
		rest, _, _ = strings.Cut(rest, "#")
		if p, err := url.PathUnescape(rest); err == nil {
			rest = p
		}
		out = append(out, rest)
	}
	return out
}

// MissingFromSBOM returns the dependencies of bi that the SBOM does not
// list (module path compared without case: package URLs may lower it).
func MissingFromSBOM(bi *buildinfo.BuildInfo, s *SBOM) []string {
	listed := map[string]bool{}
	for _, m := range s.GoModules() {
		listed[strings.ToLower(m)] = true
	}
	var missing []string
	for _, d := range bi.Deps {
		m := d
		if d.Replace != nil {
			m = d.Replace
		}
		if !listed[strings.ToLower(d.Path+"@"+m.Version)] && !listed[strings.ToLower(m.Path+"@"+m.Version)] {
			missing = append(missing, d.Path+"@"+m.Version)
		}
	}
	sort.Strings(missing)
	return missing
}
