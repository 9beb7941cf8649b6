package main

import (
	"fmt"
	"io"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
)

// Release builds (GoReleaser, .goreleaser.yaml) set these with
// -ldflags "-X main.version=… -X main.commit=… -X main.date=…". Other builds
// leave them empty and the build information the Go toolchain records
// answers instead: the module version of `go install …@version`, or the VCS
// revision of a build in a git checkout.
var (
	version string
	commit  string
	date    string
)

// versionInfo is what `trailwatch version` reports.
type versionInfo struct {
	// Version is the release or module version ("v0.3.0",
	// "v0.0.0-20261130120000-0123456789ab"), or "devel" for a build of a
	// working tree.
	Version string
	// Revision is the VCS commit the binary was built from, when known.
	Revision string
	// Time is the commit time (RFC 3339), when known.
	Time string
	// Modified reports a build of a working tree with uncommitted changes.
	Modified bool
	// Go is the toolchain that built the binary.
	Go string
	// Platform is GOOS/GOARCH.
	Platform string
}

// pseudoVersionRev matches the timestamp and revision that end a module
// pseudo-version (vX.0.0-yyyymmddhhmmss-abcdefabcdef,
// vX.Y.Z-pre.0.yyyymmddhhmmss-abcdefabcdef, vX.Y.(Z+1)-0.yyyymmddhhmmss-…).
var pseudoVersionRev = regexp.MustCompile(`[-.](\d{14})-([0-9a-f]{12})(\+[0-9A-Za-z.-]+)?$`)

// readVersion combines the link-time values with the build information
// (nil when the binary has none). Link-time values win: a release build
// states what it is.
func readVersion(ldVersion, ldCommit, ldDate string, bi *debug.BuildInfo) versionInfo {
	v := versionInfo{Version: ldVersion, Revision: ldCommit, Time: ldDate,
		Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		v.Go = bi.GoVersion
		if v.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
		settings := map[string]string{}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
		if goos, goarch := settings["GOOS"], settings["GOARCH"]; goos != "" && goarch != "" {
			v.Platform = goos + "/" + goarch
		}
		if v.Revision == "" {
			v.Revision = settings["vcs.revision"]
			if v.Time == "" {
				v.Time = settings["vcs.time"]
			}
			v.Modified = settings["vcs.modified"] == "true"
		}
	}
	if v.Revision == "" {
		// go install …@<pseudo-version> records no VCS settings, but the
		// version names the commit.
		if m := pseudoVersionRev.FindStringSubmatch(v.Version); m != nil {
			v.Revision = m[2]
			if v.Time == "" {
				t := m[1]
				v.Time = t[0:4] + "-" + t[4:6] + "-" + t[6:8] + "T" + t[8:10] + ":" + t[10:12] + ":" + t[12:14] + "Z"
			}
		}
	}
	if v.Version == "" {
		v.Version = "devel"
	}
	return v
}

// String is the one line `trailwatch version` prints, for example
// "trailwatch v0.3.0 (commit 0123456789abcdef…, 2026-11-30T12:00:00Z) go1.26.8 linux/arm64".
func (v versionInfo) String() string {
	var b strings.Builder
	b.WriteString("trailwatch " + v.Version)
	var details []string
	if v.Revision != "" {
		rev := "commit " + v.Revision
		if v.Modified {
			rev += " with uncommitted changes"
		}
		details = append(details, rev)
	}
	if v.Time != "" {
		details = append(details, v.Time)
	}
	if len(details) > 0 {
		b.WriteString(" (" + strings.Join(details, ", ") + ")")
	}
	b.WriteString(" " + v.Go + " " + v.Platform)
	return b.String()
}

func runVersion(stdout io.Writer) error {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	_, err := fmt.Fprintln(stdout, readVersion(version, commit, date, bi))
	return err
}
