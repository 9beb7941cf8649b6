package release

import (
	"debug/buildinfo"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
)

// releaseDist is what the checks read from dist/metadata.json.
type releaseDist struct {
	dir     string
	Version string `json:"version"`
	Commit  string `json:"commit"`
}

// dist returns the release directory (TRAILWATCH_DIST, default dist/ at
// the repository root). Without one the test skips, or fails when
// TRAILWATCH_REQUIRE_DIST=1 (as `make release-check` sets it).
func dist(t *testing.T) releaseDist {
	t.Helper()
	dir := os.Getenv("TRAILWATCH_DIST")
	if dir == "" {
		dir = filepath.Join(repoRoot(t), "dist")
	}
	if _, err := os.Stat(filepath.Join(dir, ChecksumsFile)); err != nil {
		if os.Getenv("TRAILWATCH_REQUIRE_DIST") == "1" {
			t.Fatalf("no release in %s (%v): run make release first", dir, err)
		}
		t.Skipf("no release in %s: run make release, then make release-check", dir)
	}
	var d releaseDist
	readJSON(t, filepath.Join(dir, "metadata.json"), &d)
	if d.Version == "" || d.Commit == "" {
		t.Fatalf("%s/metadata.json names no version or commit", dir)
	}
	d.dir = dir
	return d
}

// artifact is one expected release archive and what it must hold.
type artifact struct {
	archive, sbom  string
	binary         string   // member name of the executable
	others         []string // the other members, exactly
	pkg            string   // main package
	goos, goarch   string
	tags           string
	versionCommand bool // run `<binary> version` (the CLI)
}

func expectedArtifacts(t *testing.T, d releaseDist) []artifact {
	var out []artifact
	for _, p := range cliPlatforms {
		base := "trailwatch_" + d.Version + "_" + p[0] + "_" + p[1]
		out = append(out, artifact{archive: base + ".tar.gz", sbom: base + ".cdx.json", binary: "trailwatch",
			others: []string{"LICENSE", "README.md"}, pkg: modulePath + "/cmd/trailwatch", goos: p[0], goarch: p[1], versionCommand: true})
	}
	for _, fn := range functionNames(t) {
		base := "trailwatch-" + fn + "_" + d.Version + "_lambda_" + lambdaPlatform[1]
		a := artifact{archive: base + ".zip", sbom: base + ".cdx.json", binary: "bootstrap",
			pkg: modulePath + "/functions/" + fn, goos: lambdaPlatform[0], goarch: lambdaPlatform[1], tags: lambdaBuildTags}
		if fn == "detect" {
			a.others = []string{"ip-ranges.json.gz"} // AWS_IP_RANGES_FILE, beside the bootstrap
		}
		out = append(out, a)
	}
	return out
}

// TestDistChecksums: checksums.txt holds exactly the archives and SBOMs of
// the release, each with the SHA-256 of the file.
func TestDistChecksums(t *testing.T) {
	d := dist(t)
	names, err := VerifyChecksums(d.dir)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, a := range expectedArtifacts(t, d) {
		want = append(want, a.archive, a.sbom)
	}
	sort.Strings(want)
	if strings.Join(names, "\n") != strings.Join(want, "\n") {
		t.Errorf("checksums.txt lists\n  %s\nwant\n  %s", strings.Join(names, "\n  "), strings.Join(want, "\n  "))
	}
	t.Logf("%d files verified against %s", len(names), ChecksumsFile)
}

// TestDistBinaries opens every archive and checks its binary: the build
// settings (platform, CGO off, -trimpath, tags, no build ID, the release
// commit), a module list without test-only modules, an SBOM that lists
// every module the binary holds, and for the CLI of this machine's
// platform that `trailwatch version` names the release.
func TestDistBinaries(t *testing.T) {
	d := dist(t)
	for _, a := range expectedArtifacts(t, d) {
		t.Run(a.archive, func(t *testing.T) {
			path := filepath.Join(d.dir, a.archive)
			var members []Member
			var err error
			if strings.HasSuffix(a.archive, ".zip") {
				members, err = ZipMembers(path)
			} else {
				members, err = TarGzMembers(path)
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			var bin *Member
			for i, m := range members {
				names = append(names, m.Name)
				if m.Name == a.binary {
					bin = &members[i]
				}
			}
			sort.Strings(names)
			want := append([]string{a.binary}, a.others...)
			sort.Strings(want)
			if strings.Join(names, " ") != strings.Join(want, " ") {
				t.Errorf("members %v, want %v (at the archive's root)", names, want)
			}
			if bin == nil {
				t.Fatalf("no %s in %s", a.binary, a.archive)
			}
			if !bin.Mode.IsRegular() || bin.Mode.Perm()&0o111 == 0 {
				t.Errorf("%s mode %v: not an executable file", a.binary, bin.Mode)
			}
			bi, err := BuildInfo(bin.Data)
			if err != nil {
				t.Fatalf("%s: %v", a.binary, err)
			}
			checkBuild(t, a, bi, d)
			if bad := TestOnlyIn(bi); len(bad) > 0 {
				t.Errorf("%s links test-only modules: %v", a.binary, bad)
			}

			file := filepath.Join(t.TempDir(), a.binary)
			if err := os.WriteFile(file, bin.Data, 0o755); err != nil {
				t.Fatal(err)
			}
			// -ldflags=-buildid= (reproducible builds): no Go build ID.
			if out := strings.TrimSpace(goCmd(t, t.TempDir(), nil, "tool", "buildid", file)); out != "" {
				t.Errorf("%s has the build ID %q; want none (-buildid=)", a.binary, out)
			}

			sbom, err := ReadSBOM(filepath.Join(d.dir, a.sbom))
			if err != nil {
				t.Fatal(err)
			}
			if missing := MissingFromSBOM(bi, sbom); len(missing) > 0 {
				t.Errorf("%s does not list modules the binary holds: %v", a.sbom, missing)
			}
			for _, m := range sbom.GoModules() {
				path, _, _ := strings.Cut(m, "@")
				if _, bad := TestOnlyModules[path]; bad {
					t.Errorf("%s lists the test-only module %s", a.sbom, m)
				}
			}
			mainPURL := sbom.Metadata.Component.PURL
			for _, q := range []string{"goos=" + a.goos, "goarch=" + a.goarch, "#" + strings.TrimPrefix(a.pkg, modulePath+"/")} {
				if !strings.Contains(mainPURL, q) {
					t.Errorf("%s describes %q, want %s", a.sbom, mainPURL, q)
				}
			}

			if a.versionCommand && a.goos == runtime.GOOS && a.goarch == runtime.GOARCH {
				out, err := exec.Command(file, "version").Output()
				if err != nil {
					t.Fatalf("%s version: %v", a.binary, err)
				}
				if want := "trailwatch v" + d.Version + " (commit " + d.Commit; !strings.HasPrefix(string(out), want) {
					t.Errorf("version = %q, want prefix %q", out, want)
				}
			}
		})
	}
}

func checkBuild(t *testing.T, a artifact, bi *buildinfo.BuildInfo, d releaseDist) {
	t.Helper()
	if bi.Path != a.pkg || bi.Main.Path != modulePath {
		t.Errorf("built from %s (module %s), want %s", bi.Path, bi.Main.Path, a.pkg)
	}
	for key, want := range map[string]string{
		"GOOS": a.goos, "GOARCH": a.goarch, "CGO_ENABLED": "0", "-trimpath": "true",
		"-tags": a.tags, "vcs.revision": d.Commit,
	} {
		if got := Setting(bi, key); got != want {
			t.Errorf("build setting %s = %q, want %q", key, got, want)
		}
	}
}
