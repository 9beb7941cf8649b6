package lambdafn

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSourceFingerprint: the fingerprint follows the code (a changed
// bootstrap or bundled file, a new release zip) and nothing else.
func TestSourceFingerprint(t *testing.T) {
	build := t.TempDir()
	write := func(path, body string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(build, "detect", "bootstrap"), "v1")
	write(filepath.Join(build, "detect", "ranges"), "r1")
	src := Source{FunctionsDir: build}
	fp := func() string {
		t.Helper()
		s, err := src.Fingerprint("detect", "ranges")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	first := fp()
	if again := fp(); again != first {
		t.Errorf("same code, fingerprints %s and %s", first, again)
	}
	write(filepath.Join(build, "detect", "unrelated.txt"), "x")
	if fp() != first {
		t.Error("an unrelated file changed the fingerprint")
	}
	write(filepath.Join(build, "detect", "ranges"), "r2")
	second := fp()
	if second == first {
		t.Error("a changed bundled file kept the fingerprint")
	}
	write(filepath.Join(build, "detect", "bootstrap"), "v2")
	if fp() == second {
		t.Error("a changed bootstrap kept the fingerprint")
	}

	// A release: the fingerprint is the zip's SHA-256, the one checksums.txt lists.
	rel := t.TempDir()
	zipPath := filepath.Join(rel, ReleaseZipName("detect", "1.0.0"))
	f, err := os.Create(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for _, name := range []string{"bootstrap", "ranges"} {
		h := &zip.FileHeader{Name: name}
		h.SetMode(0o755)
		w, _ := zw.CreateHeader(h)
		w.Write([]byte(name))
	}
	zw.Close()
	f.Close()
	b, _ := os.ReadFile(zipPath)
	sum := sha256.Sum256(b)
	want := hex.EncodeToString(sum[:])
	write(filepath.Join(rel, ReleaseChecksums), want+"  "+filepath.Base(zipPath)+"\n")
	got, err := Source{FunctionsDir: build, ReleaseDir: rel}.Fingerprint("detect", "ranges")
	if err != nil || got != want {
		t.Errorf("release fingerprint %s (%v), want the zip's SHA-256 %s", got, err, want)
	}
	if _, err := (Source{ReleaseDir: rel}).Fingerprint("detect", "absent"); err == nil || !strings.Contains(err.Error(), "no absent") {
		t.Errorf("zip without a required file: %v", err)
	}
}
