# statsig-operator — the two commands people need are `make run` and `make test`.

# Tool and dependency versions: pinned here, and only here.
CONTROLLER_TOOLS_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION    ?= v2.15.0
HELM_VERSION             ?= v3.22.0
# The envtest control plane matches the Kubernetes minor of client-go (k8s.io/client-go v0.37).
ENVTEST_K8S_VERSION      ?= v1.37.2
ENVTEST_ETCD_VERSION     ?= v3.7.3

LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
GOLANGCI_LINT  ?= $(LOCALBIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
HELM           ?= $(LOCALBIN)/helm-$(HELM_VERSION)
# Fuzz time per target inside `make test`: short and bounded.
FUZZTIME ?= 5s

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate CRDs and RBAC from the markers, into config/ and the Helm chart.
	$(CONTROLLER_GEN) rbac:roleName=statsig-operator crd:allowDangerousTypes=false webhook paths="./..." output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	hack/sync-chart.sh

.PHONY: generate
generate: controller-gen ## Generate deep-copy code from the markers.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Run gofmt.
	gofmt -s -w $$(git ls-files --cached --others --exclude-standard '*.go')

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: golangci-lint ## Run golangci-lint.
	$(GOLANGCI_LINT) run ./...

.PHONY: verify
verify: manifests generate fmt ## Fail when anything generated (CRDs, RBAC, deep-copy, formatting) is stale.
	@stale=$$(git status --porcelain -- api config cmd controllers internal test hack charts); \
	if [ -n "$$stale" ]; then \
	  echo "Generated files are stale or unformatted; run 'make manifests generate fmt' and commit:"; \
	  echo "$$stale"; git --no-pager diff --stat -- api config charts; exit 1; \
	fi

.PHONY: test
test: verify vet lint test-only ## The whole suite: verify, vet, lint, unit/envtest/e2e tests and short fuzzing.

.PHONY: test-only
test-only: envtest test-servers cluster-binaries build helm image test-images aws-cli ## Run every test (no verify/lint).
	KUBEBUILDER_ASSETS="$$($(ENVTEST_SCRIPT))" \
	HELM="$(HELM)" \
	STATSIG_OPERATOR_TEST_SERVERS="$$($(TEST_SERVERS_SCRIPT))" \
	STATSIG_OPERATOR_BINARY="$(LOCALBIN)/statsig-operator" \
	STATSIG_OPERATOR_CLUSTER_BINARIES="$$($(CLUSTER_SCRIPT) --no-packages)" \
	STATSIG_OPERATOR_IMAGES="$(LOCALBIN)" \
	go test ./... -count=1 -timeout 30m
	$(MAKE) fuzz

.PHONY: fuzz
fuzz: ## Run every fuzz target for a short, bounded time (FUZZTIME).
	@for pkg in $$(go list ./...); do \
	  dir=$$(go list -f '{{.Dir}}' $$pkg); \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/^func //'); do \
	    echo "fuzz $$pkg $$f"; go test $$pkg -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME); \
	  done; \
	done

.PHONY: bench
bench: envtest test-servers build aws-cli ## Measure issue 11's goals (P1-P5) against their peers, 3 runs each, and print the table (~30 min).
	KUBEBUILDER_ASSETS="$$($(ENVTEST_SCRIPT))" \
	STATSIG_OPERATOR_TEST_SERVERS="$$($(TEST_SERVERS_SCRIPT))" \
	STATSIG_OPERATOR_BINARY="$(LOCALBIN)/statsig-operator" \
	go test ./test/bench -run '^$$' -bench '^BenchmarkGoals$$' -benchtime 1x -timeout 90m

##@ Build

.PHONY: build
build: ## Build the manager binary into bin/.
	CGO_ENABLED=0 go build -trimpath -o $(LOCALBIN)/statsig-operator ./cmd

# The operator image: an OCI image index for IMAGE_PLATFORMS, built without a container engine.
IMAGE           ?= localhost/statsig-operator:dev
IMAGE_PLATFORMS ?= linux/amd64,linux/arm64
# The real-cluster suite's own images, for the machine's architecture only.
TEST_IMAGE_PLATFORM ?= linux/$(shell go env GOARCH)

.PHONY: image
image: ## Build the operator image (OCI index, linux/amd64+arm64) into bin/statsig-operator-image.tar; `ctr images import` loads it.
	go run ./hack/image -pkg ./cmd -binary statsig-operator -ref $(IMAGE) -platforms $(IMAGE_PLATFORMS) \
	  -out $(LOCALBIN)/statsig-operator-image.tar

.PHONY: test-images
test-images: ## Build the pause and workload images the real-cluster suite (test/realcluster) runs.
	go run ./hack/image -pkg ./test/realcluster/images/pause -binary pause -ref localhost/realcluster-pause:1 \
	  -platforms $(TEST_IMAGE_PLATFORM) -out $(LOCALBIN)/realcluster-pause.tar
	go run ./hack/image -pkg ./test/realcluster/images/workload -binary workload -ref localhost/realcluster-workload:1 \
	  -platforms $(TEST_IMAGE_PLATFORM) -out $(LOCALBIN)/realcluster-workload.tar

.PHONY: run
run: manifests envtest build ## Run the operator: against the current kubeconfig cluster, or a local control plane it starts.
	ENVTEST_ASSETS="$$($(ENVTEST_SCRIPT))" OPERATOR_BINARY="$(LOCALBIN)/statsig-operator" hack/run.sh $(ARGS)

.PHONY: demo
demo: envtest build ## A demo without a Statsig account: a fake Statsig, a local control plane, the operator and the samples.
	ENVTEST_ASSETS="$$($(ENVTEST_SCRIPT))" go run ./hack/demo $(DEMO_ARGS) "$(LOCALBIN)/statsig-operator"

##@ Dependencies

ENVTEST_SCRIPT = hack/envtest-binaries.sh $(ENVTEST_K8S_VERSION) $(ENVTEST_ETCD_VERSION)
TEST_SERVERS_SCRIPT = hack/test-servers.sh
CLUSTER_SCRIPT = hack/cluster-binaries.sh $(ENVTEST_K8S_VERSION)

.PHONY: envtest
envtest: ## Build (once) and cache kube-apiserver and etcd for envtest outside the clone.
	@$(ENVTEST_SCRIPT) >/dev/null

.PHONY: aws-cli
aws-cli: ## Install the aws CLI from Debian's packages when missing (the export peer of make bench and its smoke test).
	@command -v aws >/dev/null || { echo "aws-cli: installing awscli (apt)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq awscli >/dev/null; }

.PHONY: cluster-binaries
cluster-binaries: ## Build (once) kubelet, controller-manager, scheduler, kubectl; install containerd, runc, CNI plugins (apt).
	@$(CLUSTER_SCRIPT) >/dev/null

.PHONY: test-servers
test-servers: ## Build (once) and cache MinIO, fake-gcs-server and Azurite outside the clone.
	@$(TEST_SERVERS_SCRIPT) >/dev/null

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN)
$(CONTROLLER_GEN):
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION))

.PHONY: helm
helm: $(HELM) ## Install the pinned helm into bin/ (the chart tests use it).
$(HELM):
	$(call go-install-tool,$(HELM),helm.sh/helm/v3/cmd/helm,$(HELM_VERSION))

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT)
$(GOLANGCI_LINT):
	$(call go-install-tool,$(GOLANGCI_LINT),github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))

# go-install-tool installs a Go tool at a pinned version into bin/ under a versioned name.
define go-install-tool
@[ -f "$(1)" ] || { \
set -e; \
package=$(2)@$(3) ;\
echo "Installing $${package}" ;\
rm -f "$(1)" ;\
GOBIN="$(LOCALBIN)" GOFLAGS= go install $${package} ;\
mv "$(LOCALBIN)/$$(basename "$$(echo "$(2)" | sed 's#/v[0-9]*$$##')")" "$(1)" ;\
}
endef
