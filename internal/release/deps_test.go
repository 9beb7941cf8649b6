package release

import (
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
)

// Platforms the release builds the CLI for, and the Lambda platform.
var (
	cliPlatforms    = [][2]string{{"linux", "amd64"}, {"linux", "arm64"}, {"darwin", "amd64"}, {"darwin", "arm64"}}
	lambdaPlatform  = [2]string{"linux", "arm64"}
	lambdaBuildTags = "lambda.norpc"
)

// functionNames returns the Lambda functions of the repository: the
// directories under functions/ that hold a main.go.
func functionNames(t testing.TB) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(repoRoot(t), "functions"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(repoRoot(t), "functions", e.Name(), "main.go")); e.IsDir() && err == nil {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		t.Fatal("no functions under functions/")
	}
	sort.Strings(names)
	return names
}

// forbiddenPackage says why a shipped binary must not link an import path
// (empty: it may).
func forbiddenPackage(importPath, module string) string {
	if why, ok := TestOnlyModules[module]; ok {
		return "module " + module + " is test-only: " + why
	}
	if importPath == "testing" || strings.HasPrefix(importPath, "testing/") {
		return "the testing package"
	}
	// The harness packages. Test helpers elsewhere (detectorstest, …)
	// import testing, which the rule above catches; rulestest does not, and
	// ships: `trailwatch test` runs the rules' examples.
	for _, harness := range []string{"internal/testenv", "internal/lambdatest", "internal/e2e", "internal/release"} {
		if importPath == modulePath+"/"+harness || strings.HasPrefix(importPath, modulePath+"/"+harness+"/") {
			return "a test harness package"
		}
	}
	return ""
}

// TestShippedPackagesLinkNoTestCode lists the packages each shipped binary
// links (the CLI on every release platform, each function for Lambda) and
// fails on test-only modules, test helper packages and the testing
// package. Moving such an import into a shipped package fails here, on
// every `go test`, not only when a release is built.
func TestShippedPackagesLinkNoTestCode(t *testing.T) {
	root := repoRoot(t)
	type target struct {
		goos, goarch, tags string
		pkgs               []string
	}
	var targets []target
	for _, p := range cliPlatforms {
		targets = append(targets, target{p[0], p[1], "", []string{"./cmd/trailwatch"}})
	}
	var fns []string
	for _, f := range functionNames(t) {
		fns = append(fns, "./functions/"+f)
	}
	targets = append(targets, target{lambdaPlatform[0], lambdaPlatform[1], lambdaBuildTags, fns})

	for _, tg := range targets {
		t.Run(tg.goos+"_"+tg.goarch+"_"+strings.Join(tg.pkgs, "+"), func(t *testing.T) {
			args := []string{"list", "-deps", "-f", "{{.ImportPath}} {{with .Module}}{{.Path}}{{end}}"}
			if tg.tags != "" {
				args = append(args, "-tags", tg.tags)
			}
			out := goCmd(t, root, []string{"GOOS=" + tg.goos, "GOARCH=" + tg.goarch, "CGO_ENABLED=0"}, append(args, tg.pkgs...)...)
			n := 0
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				importPath, module, _ := strings.Cut(line, " ")
				n++
				if why := forbiddenPackage(importPath, module); why != "" {
					t.Errorf("%s links %s: %s", strings.Join(tg.pkgs, ", "), importPath, why)
				}
			}
			if n < 50 {
				t.Errorf("go list returned %d packages; the check saw too little to mean anything", n)
			}
		})
	}
}

// TestForbiddenPackage pins the rule itself, with benign twins.
func TestForbiddenPackage(t *testing.T) {
	for _, tc := range []struct {
		importPath, module string
		forbidden          bool
	}{
		{"github.com/Admiral-Piett/goaws/app/router", "github.com/Admiral-Piett/goaws", true},
		{"github.com/sirupsen/logrus", "github.com/sirupsen/logrus", true},
		{"testing", "", true},
		{modulePath + "/internal/testenv", modulePath, true},
		{modulePath + "/internal/lambdatest", modulePath, true},
		{modulePath + "/internal/e2e", modulePath, true},
		{modulePath + "/detectors/rulestest", modulePath, false}, // `trailwatch test`
		{modulePath + "/internal/testenvironment", modulePath, false},
		{modulePath + "/detectors", modulePath, false},
		{modulePath + "/internal/emf", modulePath, false},
		{modulePath + "/functions/detect", modulePath, false},
		{"github.com/aws/aws-lambda-go/lambda", "github.com/aws/aws-lambda-go", false},
		{"net/http/httptest", "", false}, // std, and not linked today; not a test-only module
		{"gopkg.in/yaml.v3", "gopkg.in/yaml.v3", false},
	} {
		if got := forbiddenPackage(tc.importPath, tc.module) != ""; got != tc.forbidden {
			t.Errorf("forbiddenPackage(%s) = %v, want %v", tc.importPath, got, tc.forbidden)
		}
	}
}

// TestTestOnlyModulesAreTestDependencies keeps TestOnlyModules honest:
// each is still needed by the tests (else drop it from the list and from
// go.mod).
func TestTestOnlyModulesAreTestDependencies(t *testing.T) {
	out := goCmd(t, repoRoot(t), nil, "list", "-e", "-deps", "-test", "-f", "{{with .Module}}{{.Path}}{{end}}",
		"./internal/testenv", "./internal/release")
	used := map[string]bool{}
	for _, m := range strings.Fields(out) {
		used[m] = true
	}
	for m := range TestOnlyModules {
		if !used[m] {
			t.Errorf("%s is listed as test-only but no test uses it", m)
		}
	}
}

// TestModuleListCheck runs TestOnlyIn on real binaries: one that links
// logrus (goaws's logger) and its benign twin.
func TestModuleListCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two small binaries")
	}
	root := repoRoot(t)
	for _, tc := range []struct {
		pkg  string
		want []string
	}{
		{"./internal/release/testdata/leaky", []string{"github.com/sirupsen/logrus@"}},
		{"./internal/release/testdata/clean", nil},
	} {
		t.Run(filepath.Base(tc.pkg), func(t *testing.T) {
			bin := filepath.Join(t.TempDir(), "bin")
			goCmd(t, root, []string{"CGO_ENABLED=0"}, "build", "-trimpath", "-o", bin, tc.pkg)
			b, err := os.ReadFile(bin)
			if err != nil {
				t.Fatal(err)
			}
			bi, err := BuildInfo(b)
			if err != nil {
				t.Fatal(err)
			}
			if Setting(bi, "GOOS") != runtime.GOOS || Setting(bi, "-trimpath") != "true" {
				t.Errorf("build settings not read: GOOS %q -trimpath %q", Setting(bi, "GOOS"), Setting(bi, "-trimpath"))
			}
			got := TestOnlyIn(bi)
			if len(got) != len(tc.want) {
				t.Fatalf("TestOnlyIn = %v, want %v", got, tc.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("TestOnlyIn = %v, want %v", got, tc.want)
				}
			}
		})
	}
}
