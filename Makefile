# statepack — the targets humans and CI use. `make help` lists them.
SHELL := /usr/bin/env bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
BIN := bin/statepack
# GOTAGS=kms links the AWS, Google Cloud, Azure and Vault KMS providers (+14 MB); the default build refuses KMS keys.
GOTAGS ?=
DEMO_TREE := testdata/demo/production
PUBLISH_PATH ?= $(DEMO_TREE)
PUBLISH_REF ?= localhost:5000/statepack/demo:latest
# The throwaway keys of demo and publish are for local use only; their password is not a secret.
DEMO_PASSWORD := statepack-demo

.PHONY: help build build-kms demo test fuzz publish bench lint clean image

help:
	@echo "make demo     publish the demo tree into oci:./dist/demo, signed with a throwaway key, and verify it"
	@echo "make test     go vet, the race-enabled test suite (starts real registries) and a fuzz smoke run"
	@echo "make publish  publish PUBLISH_PATH to PUBLISH_REF on a local registry (started on :5000 if needed)"
	@echo "make bench    benchmarks; figures go into docs/benchmarks.md (BENCH_5000=1 adds the 5,000-object trees: minutes per run)"
	@echo "make fuzz     every fuzz target for FUZZTIME (default 60s) each"
	@echo "make image    the container image (the Dockerfile's release stage) as an OCI layout in dist/image, without Docker"
	@echo "make lint     gofmt, go vet, staticcheck"
	@echo "make build-kms  bin/statepack-kms, with the KMS providers (awskms://, gcpkms://, azurekms://, hashivault:// keys)"

build: $(BIN)

$(BIN): $(shell find . -name '*.go' -not -path './dist/*') go.mod go.sum
	CGO_ENABLED=0 $(GO) build -trimpath -tags '$(GOTAGS)' -ldflags '$(LDFLAGS)' -o $@ ./cmd/statepack

build-kms:
	CGO_ENABLED=0 $(GO) build -trimpath -tags kms -ldflags '$(LDFLAGS)' -o bin/statepack-kms ./cmd/statepack

dist/keys/cosign.key: | $(BIN)
	@rm -rf dist/keys && mkdir -p dist/keys
	COSIGN_PASSWORD=$(DEMO_PASSWORD) $(BIN) generate-key-pair --output-key-prefix dist/keys/cosign

demo: $(BIN) dist/keys/cosign.key
	@rm -rf dist/demo
	COSIGN_PASSWORD=$(DEMO_PASSWORD) $(BIN) publish $(DEMO_TREE) oci:dist/demo:latest --key dist/keys/cosign.key
	$(BIN) verify oci:dist/demo:latest --key dist/keys/cosign.pub --attestation slsa --attestation inventory
	@echo "The demo artifact is in dist/demo (an OCI image layout). Try: $(BIN) pull oci:dist/demo:latest -o dist/demo-pulled"

test:
	$(GO) vet ./...
	$(GO) test -race -timeout 20m ./...
	$(GO) vet -tags kms ./sign/ && $(GO) test -race -tags kms -run KMS ./sign/
	cd tekton/test && $(GO) vet ./... && $(GO) test -race -timeout 10m ./...
	FUZZTIME=$${FUZZTIME:-3s} FUZZJOBS=$${FUZZJOBS:-2} FUZZPARALLEL=$${FUZZPARALLEL:-1} ./scripts/fuzz-smoke.sh

fuzz:
	FUZZTIME=$${FUZZTIME:-60s} ./scripts/fuzz-smoke.sh

publish: $(BIN) dist/keys/cosign.key
	./scripts/local-registry.sh
	COSIGN_PASSWORD=$(DEMO_PASSWORD) $(BIN) publish $(PUBLISH_PATH) $(PUBLISH_REF) --key dist/keys/cosign.key
	$(BIN) verify $(PUBLISH_REF) --key dist/keys/cosign.pub

bench: $(BIN)
	@mkdir -p dist
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 5x ./build/ ./internal/cli/ | tee dist/bench.txt
	$(GO) test -run '^$$' -bench 'LoadFinding|ChangedTargets' -benchtime 3x . | tee -a dist/bench.txt
	$(GO) test -run '^$$' -bench 'Build' -benchmem -benchtime 3x ./internal/third_party/kustomize/ | tee -a dist/bench.txt
	./scripts/bench-process.sh | tee dist/bench-process.md
	$(GO) test -run '^$$' -bench 'Helm' -benchmem -benchtime 5x . | tee dist/bench-helm-go.txt
	./scripts/bench-helm.sh | tee dist/bench-helm.md
	BIN=$(BIN) ./scripts/bench-publish.sh | tee dist/bench-publish.md
	BIN=$(BIN) ./scripts/bench-speed.sh | tee dist/bench-speed.md
	BIN=$(BIN) ./scripts/bench-startup.sh | tee dist/bench-startup.md

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags kms ./sign/
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

clean:
	rm -rf bin dist

# The image the Dockerfile's release stage builds, as an OCI layout, without Docker: a static linux binary, the CA
# bundle of this machine, a non-root user; timestamps from SOURCE_DATE_EPOCH (default: the last commit's time).
IMAGE_ARCH ?= $(shell $(GO) env GOARCH)
IMAGE_BIN := dist/image-bin/linux-$(IMAGE_ARCH)/statepack

image:
	@mkdir -p $(dir $(IMAGE_BIN))
	CGO_ENABLED=0 GOOS=linux GOARCH=$(IMAGE_ARCH) $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(IMAGE_BIN) ./cmd/statepack
	SOURCE_DATE_EPOCH=$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct 2>/dev/null || echo 0)} \
	  $(GO) run ./internal/tools/image -binary $(IMAGE_BIN) -arch $(IMAGE_ARCH) -version $(VERSION) \
	  -revision "$$(git rev-parse HEAD 2>/dev/null)" -out dist/image
