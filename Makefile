# kubesift Makefile. `make help` lists the targets.

IMG ?= kubesift/manager:latest

# Tools are installed into bin/ at pinned versions.
LOCALBIN ?= $(shell pwd)/bin
CONTROLLER_TOOLS_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION ?= v2.15.0
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)

# The control plane (etcd, kube-apiserver, kube-controller-manager, kubectl) that tests run against. `make controlplane`
# builds it once per machine into a cache outside the clone. Point KUBEBUILDER_ASSETS at binaries
# from setup-envtest instead if you have them.
CONTROLPLANE_DIR ?= $(LOCALBIN)/controlplane
KUBEBUILDER_ASSETS ?= $(CONTROLPLANE_DIR)
KUBECTL ?= $(KUBEBUILDER_ASSETS)/kubectl
export KUBEBUILDER_ASSETS

GO_TEST_FLAGS ?=
BENCH_N ?= 10000
BENCH_OUT ?= docs
BENCH_ARGS ?=
BENCH_INDEX_ARGS ?=

SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate CRDs and RBAC from the API types and kubebuilder markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="{./api/...,./internal/controller/...,./cmd/...}" output:crd:artifacts:config=config/crd/bases

.PHONY: generate
generate: controller-gen ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Run go fmt.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: tidy
tidy: ## Run go mod tidy.
	go mod tidy

.PHONY: lint
lint: golangci-lint ## Run golangci-lint.
	$(GOLANGCI_LINT) run

.PHONY: lint-fix
lint-fix: golangci-lint ## Run golangci-lint and apply its fixes.
	$(GOLANGCI_LINT) run --fix

.PHONY: controlplane
controlplane: ## Build etcd, kube-apiserver, kube-controller-manager and kubectl once per machine into bin/controlplane.
	@hack/controlplane.sh >/dev/null

.PHONY: envtest
envtest: controlplane ## Alias of controlplane (kubebuilder's name).

.PHONY: test
test: manifests generate fmt vet $(if $(filter $(KUBEBUILDER_ASSETS),$(CONTROLPLANE_DIR)),controlplane) ## Run unit and controller tests against a real API server.
	go test $(GO_TEST_FLAGS) $$(go list ./... | grep -v /test/e2e) -coverprofile cover.out

.PHONY: test-e2e
test-e2e: controlplane build ## Run the end-to-end tests: the manager binary against a real control plane, driven by kubectl.
	KUBESIFT_MANAGER=$(LOCALBIN)/manager go test ./test/e2e/ -v -count=1 -timeout 30m $(GO_TEST_FLAGS)

.PHONY: verify
verify: manifests generate fmt tidy ## Regenerate everything and fail if that changes any file.
	@if [ -n "$$(git status --porcelain)" ]; then \
		echo "verify: regenerating changed these files; run 'make manifests generate fmt tidy' and commit:"; \
		git status --porcelain; git --no-pager diff --stat; exit 1; \
	fi

.PHONY: bench
bench: controlplane build ## Benchmark kubesift against the Kubernetes API on a real control plane (BENCH_N=10000, BENCH_OUT=docs).
	go run ./hack/bench -n $(BENCH_N) -manager $(LOCALBIN)/manager -out $(BENCH_OUT) $(BENCH_ARGS)

.PHONY: bench-index
bench-index: ## Run the index's Go benchmarks (in-process, against an in-memory baseline).
	go test -run '^$$' -bench . -benchmem $(BENCH_INDEX_ARGS) ./internal/index/

.PHONY: demo
demo: controlplane build ## Show kubesift at work on a local control plane (USE_CURRENT_CONTEXT=1 for your cluster, DEMO_EXIT=1 to stop at the end).
	go build -o $(LOCALBIN)/demo ./hack/demo
	$(LOCALBIN)/demo -manager $(LOCALBIN)/manager

##@ Build

.PHONY: build
build: manifests generate fmt vet ## Build the manager binary and the kubectl sift plugin (static, CGO_ENABLED=0).
	CGO_ENABLED=0 go build -trimpath -o $(LOCALBIN)/manager cmd/main.go
	CGO_ENABLED=0 go build -trimpath -o $(LOCALBIN)/kubectl-sift ./cmd/kubectl-sift

# The kustomize tree that build-installer, deploy and undeploy render: config/default, or
# config/certmanager for a read API certificate issued by cert-manager (see docs/read-api.md).
DEPLOY_CONFIG ?= config/default

.PHONY: build-installer
build-installer: manifests ## Write dist/install.yaml: CRDs, RBAC, the manager (image IMG) and the read API, for one kubectl apply (tree: DEPLOY_CONFIG).
	mkdir -p dist
	$(KUBECTL) kustomize $(DEPLOY_CONFIG) | sed 's|controller:latest|$(IMG)|' > dist/install.yaml

.PHONY: run
run: manifests generate fmt vet ## Run the manager from your host against the current kubeconfig context (flags in RUN_ARGS).
	go run ./cmd/main.go $(RUN_ARGS)

.PHONY: docker-build
docker-build: ## Build the manager image (needs a container engine).
	docker build -t $(IMG) .

.PHONY: docker-push
docker-push: ## Push the manager image.
	docker push $(IMG)

##@ Deployment

ifndef ignore-not-found
  ignore-not-found = false
endif

.PHONY: install
install: manifests ## Install the admission policies, then the CRDs, and the namespace of the author epoch (for make run), into the cluster of the current kubeconfig context.
	$(KUBECTL) kustomize config/admission | $(KUBECTL) apply --server-side -f -
	$(KUBECTL) create namespace kubesift-system --dry-run=client -o yaml | $(KUBECTL) apply --server-side -f -
	$(KUBECTL) kustomize config/crd | $(KUBECTL) apply --server-side -f -

.PHONY: uninstall
uninstall: manifests ## Remove the CRDs and the admission policies from the cluster. ignore-not-found=true ignores missing resources.
	$(KUBECTL) kustomize config/admission | $(KUBECTL) delete --ignore-not-found=$(ignore-not-found) -f -
	$(KUBECTL) kustomize config/crd | $(KUBECTL) delete --ignore-not-found=$(ignore-not-found) -f -

.PHONY: deploy
deploy: manifests ## Deploy the manager (image IMG) to the cluster of the current kubeconfig context (tree: DEPLOY_CONFIG).
	$(KUBECTL) kustomize $(DEPLOY_CONFIG) | sed 's|controller:latest|$(IMG)|' | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: ## Remove the manager from the cluster. ignore-not-found=true ignores missing resources.
	$(KUBECTL) kustomize $(DEPLOY_CONFIG) | $(KUBECTL) delete --ignore-not-found=$(ignore-not-found) -f -

##@ Tools

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Install controller-gen into bin/.
$(CONTROLLER_GEN):
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION))

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT) ## Install golangci-lint into bin/.
$(GOLANGCI_LINT):
	$(call go-install-tool,$(GOLANGCI_LINT),github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))

# go-install-tool installs a Go package at a version into bin/, named with its version.
# $1 - target path with name of binary, $2 - package url, $3 - version
define go-install-tool
@[ -f "$(1)" ] || { \
set -e; \
package=$(2)@$(3) ;\
echo "Downloading $${package}" ;\
rm -f "$(1)" ;\
GOBIN="$(LOCALBIN)" go install $${package} ;\
mv "$(LOCALBIN)/$$(basename "$(1)" | sed 's/-$(3)$$//')" "$(1)" ;\
}
endef
