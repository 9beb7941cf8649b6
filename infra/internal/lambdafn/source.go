package lambdafn

import (
	"archive/zip"
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Source is where the functions' code comes from: a build directory
// holding <name>/bootstrap (`make build-lambda`), or, when ReleaseDir is
// set, a release directory holding one deployable zip per function
// (trailwatch-<name>_<version>_lambda_arm64.zip, `bootstrap` at its root)
// and the checksums.txt that vouches for them (`make release`, or the
// files of a published release). ReleaseDir wins over FunctionsDir.
type Source struct {
	FunctionsDir string
	ReleaseDir   string
}

// ReleaseChecksums is the checksums file of a release directory.
const ReleaseChecksums = "checksums.txt"

var functionName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// Code returns the asset path of function name, after checking it: the
// directory functionsDir/name holding bootstrap (and files), or the
// release zip whose SHA-256 checksums.txt lists and that holds an
// executable bootstrap (and files) at its root. A zip path given to
// awslambda.Code_FromAsset is deployed as it is, not zipped again.
func (s Source) Code(name string, files ...string) (string, error) {
	if !functionName.MatchString(name) {
		return "", fmt.Errorf("function name %q", name)
	}
	if s.ReleaseDir != "" {
		return releaseZip(s.ReleaseDir, name, files)
	}
	dir := CodeDir(s.FunctionsDir, name)
	for _, f := range append([]string{"bootstrap"}, files...) {
		p := filepath.Join(dir, f)
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("function code %s is missing: build it first (make build-lambda), point -c functionsDir=DIR at a directory holding <function>/bootstrap, or deploy a release with -c releaseDir=DIR", p)
		}
		if err != nil {
			return "", fmt.Errorf("function code: %w", err)
		}
		if st.IsDir() {
			return "", fmt.Errorf("function code %s is a directory", p)
		}
	}
	return dir, nil
}

// ReleaseZipName is the file name GoReleaser (.goreleaser.yaml) gives a
// function's zip.
func ReleaseZipName(name, version string) string {
	return "trailwatch-" + name + "_" + version + "_lambda_arm64.zip"
}

func releaseZip(dir, name string, files []string) (string, error) {
	matches, err := filepath.Glob(filepath.Join(dir, ReleaseZipName(name, "*")))
	if err != nil {
		return "", err
	}
	switch len(matches) {
	case 0:
		return "", fmt.Errorf("release %s has no %s: download it beside %s, or build one with make release", dir, ReleaseZipName(name, "<version>"), ReleaseChecksums)
	case 1:
	default:
		sort.Strings(matches)
		return "", fmt.Errorf("release %s has %d zips for %s (%s): keep one version per directory", dir, len(matches), name, strings.Join(matches, ", "))
	}
	zipPath := matches[0]
	if err := verifyChecksum(dir, zipPath); err != nil {
		return "", err
	}
	if err := checkZip(zipPath, files); err != nil {
		return "", err
	}
	return zipPath, nil
}

// verifyChecksum checks the SHA-256 of file against the release's
// checksums.txt ("<hex>  <name>" lines, as sha256sum writes them).
func verifyChecksum(dir, file string) error {
	f, err := os.Open(filepath.Join(dir, ReleaseChecksums))
	if err != nil {
		return fmt.Errorf("release %s: %w (the zips are deployed only with the checksums that vouch for them)", dir, err)
	}
	defer f.Close()
	base := filepath.Base(file)
	want := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		name = strings.TrimPrefix(strings.TrimSpace(name), "*")
		if ok && name == base {
			if want != "" {
				return fmt.Errorf("%s lists %s twice", ReleaseChecksums, base)
			}
			want = strings.ToLower(sum)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", ReleaseChecksums, err)
	}
	if len(want) != sha256.Size*2 {
		return fmt.Errorf("release %s: %s lists no SHA-256 for %s", dir, ReleaseChecksums, base)
	}
	z, err := os.Open(file)
	if err != nil {
		return err
	}
	defer z.Close()
	h := sha256.New()
	if _, err := io.Copy(h, z); err != nil {
		return fmt.Errorf("hash %s: %w", file, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("%s: SHA-256 %s, but %s says %s: refusing to deploy it", file, got, ReleaseChecksums, want)
	}
	return nil
}

// checkZip checks that a function zip holds an executable bootstrap and
// the other files at its root.
func checkZip(path string, files []string) error {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return fmt.Errorf("function zip %s: %w", path, err)
	}
	defer zr.Close()
	have := map[string]fs.FileMode{}
	for _, f := range zr.File {
		have[f.Name] = f.Mode()
	}
	mode, ok := have["bootstrap"]
	switch {
	case !ok:
		return fmt.Errorf("function zip %s has no bootstrap at its root", path)
	case !mode.IsRegular() || mode.Perm()&0o111 == 0:
		return fmt.Errorf("function zip %s: bootstrap is not an executable file (mode %v)", path, mode)
	}
	for _, f := range files {
		if m, ok := have[f]; !ok || !m.IsRegular() {
			return fmt.Errorf("function zip %s has no %s at its root", path, f)
		}
	}
	return nil
}

// Fingerprint is the SHA-256 of a function's code as Code finds it: of the
// release zip, or of bootstrap and files in the build directory (in that
// order). A custom resource that must run again when the code changes can
// carry it as a property.
func (s Source) Fingerprint(name string, files ...string) (string, error) {
	code, err := s.Code(name, files...)
	if err != nil {
		return "", err
	}
	paths := []string{code}
	if s.ReleaseDir == "" {
		paths = nil
		for _, f := range append([]string{"bootstrap"}, files...) {
			paths = append(paths, filepath.Join(code, f))
		}
	}
	h := sha256.New()
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return "", err
		}
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", fmt.Errorf("hash %s: %w", p, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
