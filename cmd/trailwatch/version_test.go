package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestReadVersion(t *testing.T) {
	const rev = "4615f6c1a2b3c4d5e6f708192a3b4c5d6e7f8091"
	vcs := func(modified string) []debug.BuildSetting {
		return []debug.BuildSetting{
			{Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "arm64"},
			{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev},
			{Key: "vcs.time", Value: "2026-11-30T12:00:00Z"}, {Key: "vcs.modified", Value: modified},
		}
	}
	bi := func(mainVersion string, settings []debug.BuildSetting) *debug.BuildInfo {
		return &debug.BuildInfo{GoVersion: "go1.26.8", Path: "github.com/trailwatch/trailwatch/cmd/trailwatch",
			Main: debug.Module{Path: "github.com/trailwatch/trailwatch", Version: mainVersion}, Settings: settings}
	}
	tests := []struct {
		name                   string
		ldVersion, ldCommit    string
		ldDate                 string
		info                   *debug.BuildInfo
		want                   string
		wantRevision, wantTime string
	}{{
		name:      "release build: link-time values win over the build information",
		ldVersion: "v0.3.0", ldCommit: rev, ldDate: "2026-11-30T12:00:00Z",
		info:         bi("(devel)", []debug.BuildSetting{{Key: "GOOS", Value: "darwin"}, {Key: "GOARCH", Value: "arm64"}}),
		want:         "trailwatch v0.3.0 (commit " + rev + ", 2026-11-30T12:00:00Z) go1.26.8 darwin/arm64",
		wantRevision: rev, wantTime: "2026-11-30T12:00:00Z",
	}, {
		name: "go install @tag: the module version, no revision recorded",
		info: bi("v0.3.0", []debug.BuildSetting{{Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "amd64"}}),
		want: "trailwatch v0.3.0 go1.26.8 linux/amd64",
	}, {
		name:         "go install @commit: the pseudo-version names the revision and its time",
		info:         bi("v0.0.0-20261130120000-4615f6c1a2b3", nil),
		want:         "trailwatch v0.0.0-20261130120000-4615f6c1a2b3 (commit 4615f6c1a2b3, 2026-11-30T12:00:00Z) go1.26.8 " + runtime.GOOS + "/" + runtime.GOARCH,
		wantRevision: "4615f6c1a2b3", wantTime: "2026-11-30T12:00:00Z",
	}, {
		name:         "pseudo-version after a pre-release tag",
		info:         bi("v0.3.1-rc.1.0.20261130120000-4615f6c1a2b3", nil),
		wantRevision: "4615f6c1a2b3", wantTime: "2026-11-30T12:00:00Z",
		want: "trailwatch v0.3.1-rc.1.0.20261130120000-4615f6c1a2b3 (commit 4615f6c1a2b3, 2026-11-30T12:00:00Z) go1.26.8 " + runtime.GOOS + "/" + runtime.GOARCH,
	}, {
		name:         "a clean checkout: the VCS revision",
		info:         bi("(devel)", vcs("false")),
		want:         "trailwatch devel (commit " + rev + ", 2026-11-30T12:00:00Z) go1.26.8 linux/arm64",
		wantRevision: rev, wantTime: "2026-11-30T12:00:00Z",
	}, {
		name:         "a checkout with uncommitted changes says so",
		info:         bi("(devel)", vcs("true")),
		want:         "trailwatch devel (commit " + rev + " with uncommitted changes, 2026-11-30T12:00:00Z) go1.26.8 linux/arm64",
		wantRevision: rev, wantTime: "2026-11-30T12:00:00Z",
	}, {
		name: "a tag that only looks like a pseudo-version is not one",
		info: bi("v1.2.3-build.20261130120000", nil),
		want: "trailwatch v1.2.3-build.20261130120000 go1.26.8 " + runtime.GOOS + "/" + runtime.GOARCH,
	}, {
		name: "no build information at all",
		want: "trailwatch devel " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := readVersion(tc.ldVersion, tc.ldCommit, tc.ldDate, tc.info)
			if got := v.String(); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
			if v.Revision != tc.wantRevision || v.Time != tc.wantTime {
				t.Errorf("revision, time = %q, %q; want %q, %q", v.Revision, v.Time, tc.wantRevision, tc.wantTime)
			}
		})
	}
}

// TestVersionOfBuiltBinary builds the CLI the ways it gets built and runs
// `trailwatch version`: from this git checkout (the VCS revision is
// recorded) and as a release build (the link-time version and commit).
// The go install path is covered by internal/release.TestGoInstall.
func TestVersionOfBuiltBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the CLI twice")
	}
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git not installed")
	}
	top, err := exec.Command(git, "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skip("not a git checkout: no VCS revision to record")
	}
	head, err := exec.Command(git, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("git rev-parse HEAD: %v (a repository without commits?)", err)
	}
	root := strings.TrimSpace(string(top))
	rev := strings.TrimSpace(string(head))

	build := func(t *testing.T, args ...string) string {
		t.Helper()
		bin := filepath.Join(t.TempDir(), "trailwatch")
		cmd := exec.Command("go", append(append([]string{"build", "-o", bin}, args...), "./cmd/trailwatch")...)
		cmd.Dir = root
		// GOFLAGS may say -buildvcs=false (it does on some CI images);
		// the flags given here are the ones under test.
		cmd.Env = append(os.Environ(), "GOFLAGS=", "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		out, err := exec.Command(bin, "version").Output()
		if err != nil {
			t.Fatalf("trailwatch version: %v", err)
		}
		return strings.TrimSpace(string(out))
	}

	t.Run("checkout", func(t *testing.T) {
		// Go 1.24+ also stamps a pseudo-version (with +dirty for a
		// working tree with changes) as the module version.
		got := build(t, "-buildvcs=true")
		if !strings.HasPrefix(got, "trailwatch v") || !strings.Contains(got, "(commit "+rev) {
			t.Errorf("version of a checkout build = %q, want a version and the HEAD revision %s", got, rev)
		}
	})
	t.Run("release", func(t *testing.T) {
		got := build(t, "-buildvcs=false", "-ldflags",
			"-X main.version=v9.8.7 -X main.commit="+rev+" -X main.date=2026-11-30T12:00:00Z")
		want := "trailwatch v9.8.7 (commit " + rev + ", 2026-11-30T12:00:00Z) "
		if !strings.HasPrefix(got, want) {
			t.Errorf("version of a release build = %q, want prefix %q", got, want)
		}
	})
}

func TestVersionCommand(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"version"}, nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	// A test binary has build information: the module's main package
	// path and the toolchain.
	if !strings.HasPrefix(out.String(), "trailwatch ") || !strings.Contains(out.String(), runtime.Version()) ||
		strings.Count(out.String(), "\n") != 1 {
		t.Errorf("version output %q: want one line with the toolchain %s", out.String(), runtime.Version())
	}
}
