package release

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

const modulePath = "github.com/trailwatch/trailwatch"

// TestGoModInstallable: `go install pkg@version` refuses a module whose
// go.mod has replace or exclude directives (they would make it build
// differently as a dependency than as the main module).
func TestGoModInstallable(t *testing.T) {
	path := filepath.Join(repoRoot(t), "go.mod")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := modfile.Parse(path, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.Module == nil || f.Module.Mod.Path != modulePath {
		t.Fatalf("module path %v, want %s", f.Module, modulePath)
	}
	for _, r := range f.Replace {
		t.Errorf("go.mod:%d: replace %s => %s breaks go install …@version", r.Syntax.Start.Line, r.Old, r.New)
	}
	for _, x := range f.Exclude {
		t.Errorf("go.mod:%d: exclude %s breaks go install …@version", x.Syntax.Start.Line, x.Mod)
	}
}

// TestGoInstall publishes the working tree (what git would commit) as a
// module version on a file:// module proxy, runs
// `go install github.com/trailwatch/trailwatch/cmd/trailwatch@VERSION` from
// outside the repository, and runs the installed CLI from an empty
// directory: `version` names the version and its commit, `validate`
// checks the embedded defaults' copy and `replay` scores a copy of the
// bundled sample with the embedded configuration. Dependencies come from
// the local module cache (itself a file:// proxy), so nothing leaves the
// machine when they are there.
func TestGoInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the CLI from a module zip")
	}
	root := repoRoot(t)
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed: cannot tell which files a commit would hold")
	}
	ls := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	ls.Dir = root
	list, err := ls.Output()
	if err != nil {
		t.Skipf("not a git checkout (%v): cannot tell which files a commit would hold", err)
	}

	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	n := 0
	for _, rel := range strings.Split(strings.TrimRight(string(list), "\x00"), "\x00") {
		from := filepath.Join(root, filepath.FromSlash(rel))
		st, err := os.Lstat(from)
		if err != nil || !st.Mode().IsRegular() {
			continue // deleted in the working tree, or a symlink (not in module zips)
		}
		if err := copyFile(from, filepath.Join(src, filepath.FromSlash(rel))); err != nil {
			t.Fatal(err)
		}
		n++
	}
	t.Logf("module source: %d files", n)

	// A pseudo-version that names no real commit, derived from the content
	// so that a changed tree is a new version.
	var zipBuf bytes.Buffer
	probe := module.Version{Path: modulePath, Version: "v0.0.0-20000101000000-000000000000"}
	if err := modzip.CreateFromDir(&zipBuf, probe, src); err != nil {
		t.Fatalf("the module cannot be zipped as the module proxy would: %v", err)
	}
	sum := sha256.Sum256(zipBuf.Bytes())
	rev := hex.EncodeToString(sum[:])[:12]
	version := "v0.0.0-20000101000000-" + rev
	mv := module.Version{Path: modulePath, Version: version}

	proxy := filepath.Join(tmp, "proxy")
	vdir := filepath.Join(proxy, filepath.FromSlash(modulePath), "@v")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		t.Fatal(err)
	}
	zf, err := os.Create(filepath.Join(vdir, version+".zip"))
	if err != nil {
		t.Fatal(err)
	}
	if err := modzip.CreateFromDir(zf, mv, src); err != nil {
		t.Fatal(err)
	}
	if err := zf.Close(); err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(src, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	info, _ := json.Marshal(map[string]any{"Version": version, "Time": time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)})
	for name, data := range map[string][]byte{
		"list":            []byte(version + "\n"),
		version + ".info": info,
		version + ".mod":  gomod,
	} {
		if err := os.WriteFile(filepath.Join(vdir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	cache := strings.TrimSpace(goCmd(t, tmp, nil, "env", "GOMODCACHE"))
	upstream := strings.TrimSpace(goCmd(t, tmp, nil, "env", "GOPROXY"))
	bin := filepath.Join(tmp, "bin")
	start := time.Now()
	goCmd(t, tmp, []string{
		"GOPROXY=" + fileURL(proxy) + "," + fileURL(filepath.Join(cache, "cache", "download")) + "," + upstream,
		"GOFLAGS=-modcacherw -trimpath", // -trimpath: reuse compiled dependencies from the build cache
		"GOMODCACHE=" + filepath.Join(tmp, "modcache"),
		"GOSUMDB=off", // the test module is in no checksum database; go.sum still checks the dependencies
		"GOBIN=" + bin, "GOTOOLCHAIN=local", "CGO_ENABLED=0", "GOWORK=off",
	}, "install", modulePath+"/cmd/trailwatch@"+version)
	t.Logf("go install …/cmd/trailwatch@%s: %s", version, time.Since(start).Round(time.Second))
	cli := filepath.Join(bin, "trailwatch")

	// Run it where no repository file is reachable.
	work := filepath.Join(tmp, "elsewhere")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, string) {
		t.Helper()
		cmd := exec.Command(cli, args...)
		cmd.Dir = work
		cmd.Env = []string{"HOME=" + work, "PATH=/usr/bin:/bin"}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("trailwatch %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return stdout.String(), stderr.String()
	}

	out, _ := run("version")
	if want := "trailwatch " + version + " (commit " + rev + ", 2000-01-01T00:00:00Z) "; !strings.HasPrefix(out, want) {
		t.Errorf("version = %q, want prefix %q", out, want)
	}

	if err := copyFile(filepath.Join(root, "config", "thresholds.yaml"), filepath.Join(work, "thresholds.yaml")); err != nil {
		t.Fatal(err)
	}
	run("validate", "thresholds.yaml")

	if err := copyFile(filepath.Join(root, "testdata", "sample", "cloudtrail.jsonl.gz"), filepath.Join(work, "sample.jsonl.gz")); err != nil {
		t.Fatal(err)
	}
	findings, summary := run("replay", "sample.jsonl.gz")
	var count int
	sc := bufio.NewScanner(strings.NewReader(findings))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var f struct {
			ID, Detector, Severity string
		}
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil || f.ID == "" || f.Detector == "" {
			t.Fatalf("replay printed a line that is not a finding: %.200s (%v)", sc.Text(), err)
		}
		count++
	}
	if count == 0 {
		t.Errorf("the installed CLI found nothing in the bundled sample; summary:\n%s", summary)
	}
	t.Logf("installed CLI: %d findings on the bundled sample", count)
}

func fileURL(path string) string {
	return "file://" + filepath.ToSlash(path)
}

func copyFile(from, to string) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", from, err)
	}
	return out.Close()
}
