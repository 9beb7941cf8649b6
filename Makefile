# Trailwatch. Two commands matter on a fresh machine:
#
#   make demo   replay the bundled CloudTrail sample and print explained findings
#   make test   every test, starting the local servers they need
#
# Go modules come through the Go module proxy, Node tools through npm (pinned
# in package.json / package-lock.json); nothing is installed by hand.

GO ?= go
SAMPLE := testdata/sample/cloudtrail.jsonl.gz
# AWS's published ranges, when the shared reference data sits beside the
# checkout; everything works without them (public addresses unclassified).
IP_RANGES ?= $(firstword $(wildcard ../shared/data/aws-ip-ranges.json.gz))
IP_RANGES_FLAG := $(if $(IP_RANGES),--aws-ip-ranges $(IP_RANGES),)
LAMBDA_FUNCTIONS := detect notify
LAMBDA_FLAGS := -tags lambda.norpc -trimpath -ldflags "-s -w"

.PHONY: all demo test test-go vet fmt-check bench build build-lambda build-host cli clean

all: build

## demo: replay the bundled sample and print explained findings.
demo:
	$(GO) run ./cmd/trailwatch replay --format text $(IP_RANGES_FLAG) $(SAMPLE)

## test: vet, format check, Go tests (dynalite, goaws, the Lambda emulator), then the CDK app.
test: npm-install vet fmt-check test-go test-infra

test-go: npm-install
	TRAILWATCH_REQUIRE_SERVERS=1 PATH="$(INFRA_PATH)" $(GO) test -count=1 ./...

vet:
	$(GO) vet ./...

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## bench: throughput against a naive encoding/json decode, and 1M events of 1,000 principals on one core (peak RSS).
bench:
	$(GO) test -run '^$$' -bench 'Replay$$|NaiveDecode' -benchtime 5x ./cmd/trailwatch
	$(GO) test -run '^$$' -bench 'Replay$$|NaiveDecode' -benchtime 5x -cpu 1 ./cmd/trailwatch
	$(GO) test -run '^$$' -bench 'ReplayMillion' -benchtime 1x -timeout 30m ./cmd/trailwatch
	$(GO) test -run '^$$' -bench . -benchmem ./events ./detectors

## build: the CLI and every function (linux/arm64 for Lambda, and the host architecture for local tests).
build: cli build-lambda build-host

cli:
	$(GO) build -o bin/trailwatch ./cmd/trailwatch

build-lambda: $(LAMBDA_FUNCTIONS:%=build/lambda/%/bootstrap)

build-host: $(LAMBDA_FUNCTIONS:%=build/host/%/bootstrap)

build/lambda/%/bootstrap: FORCE
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(LAMBDA_FLAGS) -o $@ ./functions/$*

build/host/%/bootstrap: FORCE
	CGO_ENABLED=0 $(GO) build $(LAMBDA_FLAGS) -o $@ ./functions/$*

FORCE:

clean: infra-clean
	rm -rf bin build

include infra/infra.mk
