package infra

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/jsii-runtime-go"

	"github.com/trailwatch/trailwatch/infra/internal/ipranges"
	"github.com/trailwatch/trailwatch/infra/internal/lambdafn"
)

const testReleaseVersion = "1.2.3"

// fakeRelease writes a release directory the way `make release` lays one
// out: a zip per function with an executable bootstrap at its root (and
// detect's bundled ranges), and checksums.txt. It returns the directory
// and the SHA-256 of each zip by function.
func fakeRelease(t *testing.T) (string, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	sums := map[string]string{}
	var lines []string
	for _, fn := range []string{"detect", "notify", ipranges.FunctionName} {
		members := map[string]string{"bootstrap": "#!/bin/sh\n# " + fn + " " + testReleaseVersion + "\n"}
		if fn == "detect" {
			members[ipranges.BundledFile] = "ranges"
		}
		name := lambdafn.ReleaseZipName(fn, testReleaseVersion)
		writeZip(t, filepath.Join(dir, name), members, 0o755)
		sum := fileSHA256(t, filepath.Join(dir, name))
		sums[fn] = sum
		lines = append(lines, sum+"  "+name)
	}
	if err := os.WriteFile(filepath.Join(dir, lambdafn.ReleaseChecksums), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, sums
}

func writeZip(t *testing.T, path string, members map[string]string, mode os.FileMode) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for name, body := range members {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(0o644)
		if name == "bootstrap" {
			h.SetMode(mode)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestDeployFromReleaseZips synthesizes the app with -c releaseDir=DIR and
// asserts that the detect and notify functions' assets are the release
// zips themselves: the template's S3 key names an asset the manifest
// packages as a "file" (deployed as is; a build directory is packaged as
// "zip" by the CDK) whose staged bytes have the zip's SHA-256 from
// checksums.txt.
func TestDeployFromReleaseZips(t *testing.T) {
	release, sums := fakeRelease(t)
	outdir := t.TempDir()
	app, err := newTestApp(outdir, map[string]interface{}{
		"webhookFormat": "generic",
		"webhookUrl":    testWebhookURL,
		"releaseDir":    release,
		// No build directory: every function must come from the release.
		"functionsDir": t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ConfigFromContext(app.Node())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ReleaseDir != release {
		t.Fatalf("releaseDir from context = %q, want %q", cfg.ReleaseDir, release)
	}
	if _, err := Build(app, cfg); err != nil {
		t.Fatal(err)
	}
	var asm cxapi.CloudAssembly
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("synth: %v", r)
			}
		}()
		asm = app.Synth(nil)
	}()
	dir := *asm.Directory()

	var tpl map[string]interface{}
	readJSONFile(t, filepath.Join(dir, CentralStackName+".template.json"), &tpl)
	var manifest struct {
		Files map[string]struct {
			Source struct {
				Path      string `json:"path"`
				Packaging string `json:"packaging"`
			} `json:"source"`
		} `json:"files"`
	}
	readJSONFile(t, filepath.Join(dir, CentralStackName+".assets.json"), &manifest)

	found := map[string]bool{}
	for id, fn := range resources(tpl, "AWS::Lambda::Function") {
		vars := asMap(asMap(props(fn)["Environment"])["Variables"])
		var name string
		switch {
		case vars["TABLE_NAME"] != nil:
			name = "detect"
		case vars["WEBHOOK_URL"] != nil:
			name = "notify"
		case vars["IP_RANGES_BUCKET"] != nil:
			name = ipranges.FunctionName
		default:
			continue
		}
		key, _ := asMap(props(fn)["Code"])["S3Key"].(string)
		hash := strings.TrimSuffix(key, ".zip")
		asset, ok := manifest.Files[hash]
		if !ok {
			t.Errorf("%s (%s): S3Key %q names no asset in the manifest", name, id, key)
			continue
		}
		if asset.Source.Packaging != "file" {
			t.Errorf("%s: asset packaged as %q, want \"file\": the release zip deployed as it is", name, asset.Source.Packaging)
		}
		if got := fileSHA256(t, filepath.Join(dir, asset.Source.Path)); got != sums[name] {
			t.Errorf("%s: deployed asset SHA-256 %s, want the release zip's %s", name, got, sums[name])
		}
		found[name] = true
	}
	if !found["detect"] || !found["notify"] || !found[ipranges.FunctionName] {
		t.Errorf("functions deployed from the release: %v, want detect, notify and %s", found, ipranges.FunctionName)
	}
}

// TestReleaseZipsAreVerified: a release whose zip does not match
// checksums.txt, lacks checksums.txt, holds no executable bootstrap, lacks
// detect's bundled ranges, or holds two versions is refused before any
// construct exists; the untouched release (the benign twin) is accepted.
func TestReleaseZipsAreVerified(t *testing.T) {
	zipPath := func(dir, fn string) string {
		return filepath.Join(dir, lambdafn.ReleaseZipName(fn, testReleaseVersion))
	}
	for _, tc := range []struct {
		name   string
		spoil  func(t *testing.T, dir string)
		errHas string
	}{
		{"intact release", func(*testing.T, string) {}, ""},
		{"tampered zip", func(t *testing.T, dir string) {
			writeZip(t, zipPath(dir, "detect"), map[string]string{"bootstrap": "#!/bin/sh\necho evil\n", ipranges.BundledFile: "ranges"}, 0o755)
		}, "refusing to deploy it"},
		{"no checksums.txt", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, lambdafn.ReleaseChecksums))
		}, "checksums"},
		{"zip not listed", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, lambdafn.ReleaseChecksums), []byte(strings.Repeat("0", 64)+"  other.zip\n"), 0o644)
		}, "lists no SHA-256 for " + lambdafn.ReleaseZipName("detect", testReleaseVersion)},
		{"bootstrap not executable", func(t *testing.T, dir string) {
			writeZip(t, zipPath(dir, "detect"), map[string]string{"bootstrap": "x", ipranges.BundledFile: "r"}, 0o644)
			relist(t, dir)
		}, "not an executable file"},
		{"no bootstrap at the root", func(t *testing.T, dir string) {
			writeZip(t, zipPath(dir, "detect"), map[string]string{"detect/bootstrap": "x", ipranges.BundledFile: "r"}, 0o755)
			relist(t, dir)
		}, "no bootstrap at its root"},
		{"detect without its ranges", func(t *testing.T, dir string) {
			writeZip(t, zipPath(dir, "detect"), map[string]string{"bootstrap": "x"}, 0o755)
			relist(t, dir)
		}, "no " + ipranges.BundledFile},
		{"two versions", func(t *testing.T, dir string) {
			b, _ := os.ReadFile(zipPath(dir, "detect"))
			os.WriteFile(filepath.Join(dir, lambdafn.ReleaseZipName("detect", "1.2.4")), b, 0o644)
			relist(t, dir)
		}, "keep one version per directory"},
		{"function missing", func(t *testing.T, dir string) {
			os.Remove(zipPath(dir, "notify"))
		}, "has no " + lambdafn.ReleaseZipName("notify", "<version>")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, _ := fakeRelease(t)
			tc.spoil(t, dir)
			cfg := DefaultConfig()
			cfg.WebhookURL = testWebhookURL
			cfg.ReleaseDir = dir
			cfg.FunctionsDir = fixture.funcsDir // see TestDeployFromReleaseZips
			err := checkFunctions(cfg.FunctionSource(), "detect", "notify")
			if tc.errHas == "" {
				if err != nil {
					t.Fatalf("intact release refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("error %v, want one mentioning %q", err, tc.errHas)
			}
			_, err = Build(awscdk.NewApp(&awscdk.AppProps{AutoSynth: jsii.Bool(false)}), cfg)
			if err == nil {
				t.Error("Build accepted the release")
			}
		})
	}
}

// relist rewrites checksums.txt for the zips now in dir, so that a test
// reaches the check after the checksum.
func relist(t *testing.T, dir string) {
	t.Helper()
	zips, _ := filepath.Glob(filepath.Join(dir, "*.zip"))
	var lines []string
	for _, z := range zips {
		lines = append(lines, fmt.Sprintf("%s  %s", fileSHA256(t, z), filepath.Base(z)))
	}
	if err := os.WriteFile(filepath.Join(dir, lambdafn.ReleaseChecksums), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readJSONFile(t *testing.T, path string, v interface{}) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
