package release

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// goreleaserConfig is the part of .goreleaser.yaml the checks read.
type goreleaserConfig struct {
	Version  int         `yaml:"version"`
	Env      []string    `yaml:"env"`
	Builds   []grBuild   `yaml:"builds"`
	Archives []grArchive `yaml:"archives"`
	SBOMs    []grSBOM    `yaml:"sboms"`
	Checksum struct {
		NameTemplate string `yaml:"name_template"`
		Algorithm    string `yaml:"algorithm"`
	} `yaml:"checksum"`
}

type grBuild struct {
	ID           string   `yaml:"id"`
	Main         string   `yaml:"main"`
	Binary       string   `yaml:"binary"`
	GOOS         []string `yaml:"goos"`
	GOARCH       []string `yaml:"goarch"`
	Flags        []string `yaml:"flags"`
	LDFlags      []string `yaml:"ldflags"`
	Env          []string `yaml:"env"`
	ModTimestamp string   `yaml:"mod_timestamp"`
}

type grArchive struct {
	ID           string   `yaml:"id"`
	IDs          []string `yaml:"ids"`
	Formats      []string `yaml:"formats"`
	NameTemplate string   `yaml:"name_template"`
	BuildsInfo   struct {
		MTime string `yaml:"mtime"`
	} `yaml:"builds_info"`
	Files []any `yaml:"files"`
}

type grSBOM struct {
	IDs       []string `yaml:"ids"`
	Artifacts string   `yaml:"artifacts"`
	Cmd       string   `yaml:"cmd"`
	Documents []string `yaml:"documents"`
	Args      []string `yaml:"args"`
	Env       []string `yaml:"env"`
}

// TestGoReleaserConfig checks .goreleaser.yaml against the repository: the
// CLI for every release platform, a Lambda build, zip and SBOM for every
// function under functions/, reproducible flags everywhere, and
// checksums.txt. A new function without its release entries fails here,
// without building a release.
func TestGoReleaserConfig(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), ".goreleaser.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c goreleaserConfig
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf(".goreleaser.yaml: %v", err)
	}
	if c.Version != 2 {
		t.Errorf("version %d, want 2 (GoReleaser v2)", c.Version)
	}
	if !slices.Contains(c.Env, "CGO_ENABLED=0") {
		t.Errorf("env %v lacks CGO_ENABLED=0", c.Env)
	}
	if c.Checksum.NameTemplate != ChecksumsFile || c.Checksum.Algorithm != "sha256" {
		t.Errorf("checksum %+v, want %s with sha256", c.Checksum, ChecksumsFile)
	}

	type want struct {
		id, main, binary string
		goos, goarch     []string
		tag              string
		archiveFormat    string
		archivePrefix    string
	}
	var wants []want
	var goos, goarch []string
	for _, p := range cliPlatforms {
		if !slices.Contains(goos, p[0]) {
			goos = append(goos, p[0])
		}
		if !slices.Contains(goarch, p[1]) {
			goarch = append(goarch, p[1])
		}
	}
	wants = append(wants, want{"trailwatch", "./cmd/trailwatch", "trailwatch", goos, goarch, "", "tar.gz", "trailwatch_"})
	for _, fn := range functionNames(t) {
		wants = append(wants, want{fn, "./functions/" + fn, "bootstrap",
			[]string{lambdaPlatform[0]}, []string{lambdaPlatform[1]}, "-tags=" + lambdaBuildTags, "zip", "trailwatch-" + fn + "_"})
	}
	for _, w := range wants {
		t.Run(w.id, func(t *testing.T) {
			i := slices.IndexFunc(c.Builds, func(b grBuild) bool {
				return b.ID == w.id
			})
			if i < 0 {
				t.Fatalf("no build with id %s", w.id)
			}
			bd := c.Builds[i]
			sort.Strings(bd.GOOS)
			sort.Strings(bd.GOARCH)
			g, a := slices.Clone(w.goos), slices.Clone(w.goarch)
			sort.Strings(g)
			sort.Strings(a)
			if bd.Main != w.main || bd.Binary != w.binary || !slices.Equal(bd.GOOS, g) || !slices.Equal(bd.GOARCH, a) {
				t.Errorf("build %s: main %s binary %s goos %v goarch %v; want %s %s %v %v", w.id, bd.Main, bd.Binary, bd.GOOS, bd.GOARCH, w.main, w.binary, g, a)
			}
			if !slices.Contains(bd.Flags, "-trimpath") || (w.tag != "" && !slices.Contains(bd.Flags, w.tag)) {
				t.Errorf("build %s: flags %v, want -trimpath %s", w.id, bd.Flags, w.tag)
			}
			if ld := strings.Join(bd.LDFlags, " "); !strings.Contains(ld, "-buildid=") {
				t.Errorf("build %s: ldflags %q lack -buildid= (reproducible builds)", w.id, ld)
			}
			if bd.ModTimestamp != "{{ .CommitTimestamp }}" {
				t.Errorf("build %s: mod_timestamp %q, want the commit timestamp", w.id, bd.ModTimestamp)
			}

			j := slices.IndexFunc(c.Archives, func(ar grArchive) bool {
				return slices.Equal(ar.IDs, []string{w.id})
			})
			if j < 0 {
				t.Fatalf("no archive of build %s alone", w.id)
			}
			ar := c.Archives[j]
			if !slices.Equal(ar.Formats, []string{w.archiveFormat}) || !strings.HasPrefix(ar.NameTemplate, w.archivePrefix) ||
				ar.BuildsInfo.MTime != "{{ .CommitDate }}" {
				t.Errorf("archive %s: formats %v name %q mtime %q; want %s named %s…, file times at the commit date",
					ar.ID, ar.Formats, ar.NameTemplate, ar.BuildsInfo.MTime, w.archiveFormat, w.archivePrefix)
			}

			k := slices.IndexFunc(c.SBOMs, func(s grSBOM) bool {
				return slices.Contains(s.IDs, w.id)
			})
			if k < 0 {
				t.Fatalf("no SBOM for build %s", w.id)
			}
			s := c.SBOMs[k]
			name := ar.NameTemplate
			if s.Artifacts != "binary" || s.Cmd != "cyclonedx-gomod" || len(s.Documents) != 1 || s.Documents[0] != name+".cdx.json" {
				t.Errorf("sbom for %s: artifacts %q cmd %q documents %v; want a cyclonedx-gomod SBOM per binary named %s.cdx.json", w.id, s.Artifacts, s.Cmd, s.Documents, name)
			}
			args := strings.Join(s.Args, " ")
			for _, f := range []string{"-noserial", "-notimestamp", "-licenses", "-json"} {
				if !strings.Contains(args, f) {
					t.Errorf("sbom for %s: args %q lack %s", w.id, args, f)
				}
			}
			if w.tag != "" && !slices.ContainsFunc(s.Env, func(e string) bool {
				return strings.HasPrefix(e, "GOFLAGS=") && strings.Contains(e, w.tag)
			}) {
				t.Errorf("sbom for %s: env %v does not build with %s, as the binary does", w.id, s.Env, w.tag)
			}
		})
	}
}
