# labfleet build. Tool versions are pinned here; `make tools` installs them.
SHELL := /bin/bash
GO ?= go
GOBIN := $(shell $(GO) env GOPATH)/bin
export PATH := $(GOBIN):$(PATH)

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/labfleet/labfleet/internal/version.Version=$(VERSION)

BUF_VERSION := v1.75.0
GRPCURL_VERSION := v1.9.4
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2

BINARIES := labagent labcontroller

.PHONY: all build test test-short generate check-generated lint bench deps tools lab lab-down clean

all: build

build:
	@mkdir -p bin
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/labagent ./agent/cmd/labagent
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/labcontroller ./controller/cmd/labcontroller
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/labfleet-checks ./plugins/cmd/labfleet-checks
	@for p in check_labagent check_container check_replication check_node check_deploy check_haproxy; do ln -sfn labfleet-checks bin/$$p; done
	@rm -f bin/check_app
	CGO_ENABLED=0 $(GO) build -trimpath -tags labfleet_lean -ldflags '$(LDFLAGS)' -o bin/check_app ./plugins/cmd/labfleet-checks
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/labfleet-ansible ./ansible-compat/cmd/labfleet-ansible
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/labfleet-inventory ./ansible-compat/cmd/labfleet-inventory
	@mkdir -p bin/ansible/library && for m in labfleet_deploy labfleet_rollback labfleet_replication labfleet_info; do ln -sfn ../../labfleet-ansible bin/ansible/library/$$m; done

# deps installs the programs the tests run for real (apt and go install).
# It changes nothing when they are already present.
deps:
	bash scripts/install-deps.sh

tools:
	GOFLAGS= $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
	GOFLAGS= $(GO) install github.com/fullstorydev/grpcurl/cmd/grpcurl@$(GRPCURL_VERSION)
	GOFLAGS= $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOFLAGS= $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

test: deps build
	$(GO) test -count=1 -timeout 30m ./...

test-short:
	$(GO) test -short -count=1 -timeout 5m ./...

generate:
	buf generate

# check-generated fails when the committed generated code differs from what
# `buf generate` produces now.
check-generated: generate
	@git diff --exit-code -- proto/ || { echo "generated code is stale: run 'make generate' and commit"; exit 1; }

# lint also runs the dependency rule (internal/deprules): binary folders
# import only internal/ and proto/, domain packages stay off gRPC and the
# Docker SDK, release binaries link no test code.
lint:
	$(GO) vet ./...
	$(GO) test -count=1 ./internal/deprules
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	buf lint
	@if git rev-parse --verify -q main >/dev/null; then echo "buf breaking --against .git#branch=main"; buf breaking --against '.git#branch=main'; fi

# bench runs every benchmark with the iteration counts docs/BENCHMARKS.md
# reports; the figures there come from these commands.
bench: deps build
	$(GO) test -run '^$$' -bench Deploy_AgentVsByHand -benchtime 10x ./e2e/
	$(GO) test -run '^$$' -bench Deploy_AgentRSS -benchtime 1x ./e2e/
	$(GO) test -run '^$$' -bench Rollout_VsByHand -benchtime 1x -count 3 ./e2e/
	$(GO) test -run '^$$' -bench Replication_PluginVsCheckMySQL -benchtime 1x ./e2e/
	$(GO) test -run '^$$' -bench Failover -benchtime 1x ./e2e/
	$(GO) test -run '^$$' -bench Rollout_20Agents -benchtime 1x ./e2e/
	$(GO) test -run '^$$' -bench Replication_Setup -benchtime 5x ./e2e/
	$(GO) test -run '^$$' -bench Plugins_VsPeers -benchtime 1x ./plugins/checks/
	$(GO) test -run '^$$' -bench Nagios_Throughput -benchtime 1x ./plugins/checks/

# lab brings up the lab of shared/LAB.md on this machine (root; safe to re-run).
lab:
	bash scripts/lab.sh up

# lab-down stops and removes what `make lab` started, and only that.
lab-down:
	bash scripts/lab.sh down

clean:
	rm -rf bin
