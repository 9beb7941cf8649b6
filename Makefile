# Trailwatch. Two commands matter on a fresh machine:
#
#   make demo   replay the bundled CloudTrail sample and print explained findings
#   make test   every test, starting the local servers they need
#
# Go modules come through the Go module proxy, Node tools through npm (pinned
# in package.json / package-lock.json); nothing is installed by hand.

GO ?= go
SAMPLE := testdata/sample/cloudtrail.jsonl.gz
# AWS's published ranges: the copy `make ip-ranges` downloaded, else the
# shared reference data beside the checkout. Replay works without them
# (public addresses unclassified); the detect function bundles them (below).
IP_RANGES ?= $(firstword $(wildcard build/aws-ip-ranges.json.gz ../shared/data/aws-ip-ranges.json.gz))
IP_RANGES_FLAG := $(if $(IP_RANGES),--aws-ip-ranges $(IP_RANGES),)
LAMBDA_FUNCTIONS := detect notify ipranges backfill
LAMBDA_FLAGS := -tags lambda.norpc -trimpath -ldflags "-s -w"

.PHONY: all demo test test-go test-rules fuzz-short vet fmt-check bench build build-lambda build-host cli clean ip-ranges release release-check

all: build

## demo: replay the bundled sample, under its organization's configuration (the defaults and its CI provider's network), and print explained findings.
demo:
	$(GO) run ./cmd/trailwatch replay --format text --config testdata/sample/thresholds.yaml $(IP_RANGES_FLAG) $(SAMPLE)

## test: vet, format check, Go tests (dynalite, goaws, the Lambda emulator), then the CDK app.
test: npm-install vet fmt-check test-go test-rules fuzz-short test-infra

test-go: npm-install
	TRAILWATCH_REQUIRE_SERVERS=1 PATH="$(INFRA_PATH)" $(GO) test -count=1 ./...

## test-rules: every high-risk rule's examples, built-in and the example rule files, through `trailwatch test`.
test-rules:
	$(GO) run ./cmd/trailwatch test config/examples

## fuzz-short: every parser's fuzz target for FUZZTIME each (seeds under testdata/fuzz/ run in test-go too).
## For a long run: go test -run '^$$' -fuzz '^FuzzPolicy$$' -fuzztime 1h ./detectors (one target per command).
FUZZTIME ?= 5s
FUZZ_TARGETS := ./detectors:FuzzPolicy ./detectors:FuzzDecodeBaseline ./detectors:FuzzTopStrings ./events:FuzzScanRecord ./events:FuzzDecodeEnvelope ./events:FuzzDecode ./events:FuzzParseNetworkFile
fuzz-short:
	@set -e; for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; name=$${t##*:}; \
	  echo "fuzz $$name ($$pkg, $(FUZZTIME))"; \
	  $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

vet:
	$(GO) vet ./...

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## bench: throughput against a naive encoding/json decode, 1M events of 1,000 principals on one core (peak RSS),
## and the archive read from an S3 API server against local files, plus backfill into dynalite (one core, all cores);
## a 20-point tune against one replay (at most 3x).
bench:
	$(GO) test -run '^$$' -bench 'Replay$$|NaiveDecode' -benchtime 5x ./cmd/trailwatch
	$(GO) test -run '^$$' -bench 'Replay$$|NaiveDecode' -benchtime 5x -cpu 1 ./cmd/trailwatch
	$(GO) test -run '^$$' -bench 'ReplayMillion' -benchtime 1x -timeout 30m ./cmd/trailwatch
	$(GO) test -run '^$$' -bench 'ArchiveRead|BackfillS3' -benchtime 2x -cpu 1,$$(getconf _NPROCESSORS_ONLN) -timeout 30m ./cmd/trailwatch
	$(GO) test -run '^$$' -bench 'TuneSweep20' -benchtime 3x ./cmd/trailwatch
	$(GO) test -run '^$$' -bench . -benchmem ./events ./detectors

## build: the CLI and every function (linux/arm64 for Lambda, and the host architecture for local tests).
build: cli build-lambda build-host

cli:
	$(GO) build -o bin/trailwatch ./cmd/trailwatch

build-lambda: $(LAMBDA_FUNCTIONS:%=build/lambda/%/bootstrap) build/lambda/detect/ip-ranges.json.gz

build-host: $(LAMBDA_FUNCTIONS:%=build/host/%/bootstrap) build/host/detect/ip-ranges.json.gz

build/lambda/%/bootstrap: FORCE
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(LAMBDA_FLAGS) -o $@ ./functions/$*

build/host/%/bootstrap: FORCE
	CGO_ENABLED=0 $(GO) build $(LAMBDA_FLAGS) -o $@ ./functions/$*

# The detect function ships AWS's ranges beside its bootstrap (the CDK app
# sets AWS_IP_RANGES_FILE=ip-ranges.json.gz, relative to the bootstrap): the
# file IP_RANGES names (plain or gzip), else the small test fixture with a
# warning; the deployed ipranges function replaces it with AWS's current list
# on deploy and whenever AWS publishes a new one.
IP_RANGES_FIXTURE := events/testdata/ip-ranges-small.json

%/detect/ip-ranges.json.gz: FORCE
	@mkdir -p $(@D)
	@src="$(IP_RANGES)"; \
	if [ -z "$$src" ]; then \
	  src="$(IP_RANGES_FIXTURE)"; \
	  echo "WARNING: no AWS ip-ranges file (IP_RANGES unset; run make ip-ranges to download it): $@ is the small test fixture; a deployed stack fetches AWS's real list on its first refresh" >&2; \
	fi; \
	case "$$src" in \
	  *.gz) gzip -t "$$src" && cat "$$src" > "$@.tmp" ;; \
	  *) gzip -9n -c "$$src" > "$@.tmp" ;; \
	esac && mv "$@.tmp" "$@"

## ip-ranges: download AWS's current ip-ranges.json to build/aws-ip-ranges.json.gz (needs the internet; no test runs it).
ip-ranges:
	@mkdir -p build
	curl -fsS --proto '=https' --max-filesize 33554432 -o build/aws-ip-ranges.json.tmp https://ip-ranges.amazonaws.com/ip-ranges.json
	gzip -9n -c build/aws-ip-ranges.json.tmp > build/aws-ip-ranges.json.gz.tmp && mv build/aws-ip-ranges.json.gz.tmp build/aws-ip-ranges.json.gz
	rm -f build/aws-ip-ranges.json.tmp

## release: a snapshot release in dist/ with GoReleaser (.goreleaser.yaml): the CLI for linux/darwin x amd64/arm64,
## each Lambda function as a deployable zip, a CycloneDX SBOM per binary, checksums.txt. Network: the Go module proxy only.
## On a v* tag, `make release RELEASE_ARGS=--clean` (GITHUB_TOKEN set) publishes the same artifacts.
GORELEASER_VERSION := v2.15.1
CYCLONEDX_GOMOD_VERSION := v1.10.0
GORELEASER := bin/tools/goreleaser-$(GORELEASER_VERSION)/goreleaser
CYCLONEDX_GOMOD := bin/tools/cyclonedx-gomod-$(CYCLONEDX_GOMOD_VERSION)/cyclonedx-gomod
RELEASE_ARGS ?= --snapshot --clean --skip=publish,announce,validate

# A checkout without a remote (GoReleaser reads its URL) gets the project's, in the environment only.
release: $(GORELEASER) $(CYCLONEDX_GOMOD) build/lambda/detect/ip-ranges.json.gz
	@if ! git ls-remote --get-url >/dev/null 2>&1; then \
	  export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=remote.origin.url GIT_CONFIG_VALUE_0=https://github.com/trailwatch/trailwatch.git; \
	fi; \
	echo "goreleaser release $(RELEASE_ARGS)"; \
	PATH="$(CURDIR)/$(dir $(CYCLONEDX_GOMOD)):$$PATH" $(GORELEASER) release $(RELEASE_ARGS)

## release-check: dist/checksums.txt against the files; each binary's module list (no test-only module), build settings and SBOM.
release-check:
	TRAILWATCH_REQUIRE_DIST=1 $(GO) test -count=1 -run '^TestDist' ./internal/release

# The release tools, pinned, built with go install (a version bump installs the new one beside the old).
$(GORELEASER):
	GOBIN="$(CURDIR)/$(@D)" GOFLAGS= GOTOOLCHAIN=local CGO_ENABLED=0 $(GO) install github.com/goreleaser/goreleaser/v2@$(GORELEASER_VERSION)

$(CYCLONEDX_GOMOD):
	GOBIN="$(CURDIR)/$(@D)" GOFLAGS= GOTOOLCHAIN=local CGO_ENABLED=0 $(GO) install github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@$(CYCLONEDX_GOMOD_VERSION)

FORCE:

clean: infra-clean
	rm -rf bin build dist

include infra/infra.mk
