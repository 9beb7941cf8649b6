package testenv

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

type buildResult struct {
	once sync.Once
	path string
	err  string
}

var (
	buildMu sync.Mutex
	builds  = map[string]*buildResult{}
)

// buildCached builds the main package pkgPath (relative to the module
// root) once per test binary and returns the shared binary's path (do not
// modify it; BuildFunction hands out copies).
func buildCached(t testing.TB, pkgPath string) string {
	t.Helper()
	buildMu.Lock()
	b, ok := builds[pkgPath]
	if !ok {
		b = &buildResult{}
		builds[pkgPath] = b
	}
	buildMu.Unlock()
	b.once.Do(func() { b.path, b.err = build(pkgPath) })
	if b.err != "" {
		t.Fatalf("build %s: %s", pkgPath, b.err)
	}
	return b.path
}

// BuildFunction builds the Lambda function package pkgPath (an import path
// such as "github.com/trailwatch/trailwatch/functions/notify", or a path
// relative to the module root such as "./functions/notify") as a bootstrap
// for the host OS and architecture, the way the Makefile builds it for
// Lambda (-tags lambda.norpc -trimpath -ldflags "-s -w", CGO_ENABLED=0),
// and returns the path of a copy in t.TempDir(). Each package is built once
// per test binary, into a per-user directory under os.TempDir() that holds
// one binary per package (replaced atomically, so test binaries running in
// parallel do not disturb each other).
func BuildFunction(t testing.TB, pkgPath string) string {
	t.Helper()
	built := buildCached(t, pkgPath)
	dst := filepath.Join(t.TempDir(), "bootstrap")
	if err := copyFile(built, dst); err != nil {
		t.Fatalf("copy bootstrap: %v", err)
	}
	return dst
}

func build(pkgPath string) (string, string) {
	root, err := RepoRoot()
	if err != nil {
		return "", err.Error()
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("trailwatch-testenv-%d", os.Getuid()),
		strings.NewReplacer("/", "_", ".", "_").Replace(pkgPath)+"-"+runtime.GOOS+"-"+runtime.GOARCH)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err.Error()
	}
	tmp, err := os.CreateTemp(dir, "bootstrap-*.tmp")
	if err != nil {
		return "", err.Error()
	}
	tmp.Close()
	defer os.Remove(tmp.Name()) // no-op after the rename
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w", "-o", tmp.Name(), pkgPath)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", err.Error() + "\n" + string(b)
	}
	out := filepath.Join(dir, "bootstrap")
	if err := os.Rename(tmp.Name(), out); err != nil {
		return "", err.Error()
	}
	return out, ""
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
