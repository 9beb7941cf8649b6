// Package release checks what users install and what `make release`
// produces: the SHA-256 checksums in dist/checksums.txt against the files,
// the module list each shipped binary records (no test-only dependency such
// as the goaws SNS server may enter it), the CycloneDX SBOM beside each
// artifact, the GoReleaser configuration against the repository's
// functions, the pinned per-platform Node.js toolchain, and that
// `go install github.com/trailwatch/trailwatch/cmd/trailwatch@VERSION`
// builds a CLI that runs outside the repository.
//
// Its tests are the checks: `make release-check` runs the ones that read
// dist/ (they skip, saying so, when dist/ is absent); the others run with
// every `go test`.
package release
