#!/usr/bin/env bash
# Builds the control-plane binaries the tests use — kube-apiserver, kubectl, etcd, etcdctl, helm —
# from the Go module proxy, with the pinned wrapper modules in tools/<name>/ (go.mod + go.sum).
#
# Output: $WBAUTO_TOOLS_DIR/<component>-<version>/ (default ~/.cache/wbauto/tools), outside the repo.
# A directory with a complete ".ok" stamp is reused, so a warm machine skips the build.
# Prints the bin directories, one per line, on stdout (everything else goes to stderr).
#
# Usage: tools/build.sh [k8s] [etcd] [helm] [flux] [kubectl-validate] [node] [kstatus] [promtool]     (default: k8s etcd helm)
# Optional components (flux, kubectl-validate) are built only when asked for.
set -euo pipefail

K8S_VERSION=v1.36.5
ETCD_VERSION=v3.6.16
HELM_VERSION=v3.22.0
FLUX_NC_VERSION=v1.9.3
KUBECTL_VALIDATE_VERSION=v0.0.4
KSTATUS_VERSION=v0.37.2      # sigs.k8s.io/cli-utils
PROMTOOL_VERSION=v0.316.0    # github.com/prometheus/prometheus (Prometheus 3.x)

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${WBAUTO_TOOLS_DIR:-$HOME/.cache/wbauto/tools}"
gover="$(go env GOVERSION)"
export GOWORK=off GOFLAGS=-modcacherw CGO_ENABLED=0 GOTOOLCHAIN=local

log() { printf '[tools] %s\n' "$*" >&2; }

# build NAME VERSION -- commands...: runs the commands in tools/NAME with $OUT set, once per key.
build() {
  local name="$1" version="$2"; shift 3
  local out="$cache/$name-$version-$gover"
  if [ -f "$out/.ok" ]; then
    log "$name $version: cached in $out"
  else
    log "$name $version: building into $out (cold build; this takes a while)"
    local start=$SECONDS
    rm -rf "$out.tmp" && mkdir -p "$out.tmp"
    (cd "$here/$name" && OUT="$out.tmp" "$@") >&2
    rm -rf "$out" && mv "$out.tmp" "$out" && touch "$out/.ok"
    log "$name $version: built in $((SECONDS - start)) s"
  fi
  echo "$out"
}

# k8s_build [CMD...]: commands of k8s.io/kubernetes/cmd (default kube-apiserver and kubectl)
k8s_build() {
  local minor ld p cmds=("$@")
  [ ${#cmds[@]} -gt 0 ] || cmds=(kube-apiserver kubectl)
  minor="$(echo "$K8S_VERSION" | cut -d. -f2)"
  ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ld+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  go build -trimpath -tags=selinux,notest,grpcnotrace -ldflags="$ld" -o "$OUT/" "${cmds[@]/#/k8s.io/kubernetes/cmd/}"
  "$OUT/${cmds[0]}" --version
}

etcd_build() {
  go build -trimpath -ldflags "-s -w" -o "$OUT/etcd" go.etcd.io/etcd/server/v3
  go build -trimpath -ldflags "-s -w" -o "$OUT/etcdctl" go.etcd.io/etcd/etcdctl/v3
  "$OUT/etcd" --version
}

helm_build() {
  go build -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
    -o "$OUT/helm" helm.sh/helm/v3/cmd/helm
  "$OUT/helm" version --short
}

flux_build() {
  go build -trimpath -ldflags "-s -w" -o "$OUT/notification-controller" \
    github.com/fluxcd/notification-controller
  local crds
  crds="$(go list -m -f '{{.Dir}}' github.com/fluxcd/notification-controller)/config/crd/bases"
  mkdir -p "$OUT/crds" && cp "$crds"/*.yaml "$OUT/crds/"
}

kubectl_validate_build() {
  # sigs.k8s.io/kubectl-validate: the apiserver's validation as a local CLI (a second reference for the
  # admission differential test); about 2.5 minutes cold on 2 cores
  go build -trimpath -ldflags "-s -w" -o "$OUT/kubectl-validate" sigs.k8s.io/kubectl-validate
  "$OUT/kubectl-validate" --help >/dev/null
}

kstatus_build() {
  # tools/kstatus/main.go: prints sigs.k8s.io/cli-utils/pkg/kstatus/status results for objects on stdin
  go build -trimpath -ldflags "-s -w" -o "$OUT/kstatus" .
  echo '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}' | "$OUT/kstatus" >/dev/null
}

promtool_build() {
  go build -trimpath -ldflags "-s -w" -o "$OUT/promtool" github.com/prometheus/prometheus/cmd/promtool
  "$OUT/promtool" --version
}

components=("$@")
[ ${#components[@]} -gt 0 ] || components=(k8s etcd helm)
for c in "${components[@]}"; do
  case "$c" in
    k8s) build k8s "$K8S_VERSION" -- k8s_build ;;
    etcd) build etcd "$ETCD_VERSION" -- etcd_build ;;
    helm) build helm "$HELM_VERSION" -- helm_build ;;
    flux) build flux "$FLUX_NC_VERSION" -- flux_build ;;
    # a node for the real-Pod test: tools/node is tools/k8s (same pinned module)
    node) build node "$K8S_VERSION" -- k8s_build kubelet kube-controller-manager kube-scheduler ;;
    kubectl-validate) build kubectl-validate "$KUBECTL_VALIDATE_VERSION" -- kubectl_validate_build ;;
    kstatus) build kstatus "$KSTATUS_VERSION" -- kstatus_build ;;
    promtool) build promtool "$PROMTOOL_VERSION" -- promtool_build ;;
    *) log "unknown component: $c (expected k8s, etcd, helm, flux, kubectl-validate, node, kstatus or promtool)"; exit 2 ;;
  esac
done
