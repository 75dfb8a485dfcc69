#!/usr/bin/env bash
# Builds the operator image (Containerfile) with podman on a machine that can reach no container
# registry: the base is made from Debian's own packages with mmdebstrap, from the Debian mirror the
# host's apt already uses, and imported into podman. Installs podman & co. with apt-get if missing.
#
# Cached by input hash, like tools/build.sh: the base by its suite and package list, the image by the
# base and every file that goes into it (Containerfile, .containerignore, pyproject.toml, README.md,
# operator/). Podman's storage and settings live outside the repo, in $WBAUTO_IMAGE_DIR
# (default ~/.cache/wbauto/image), so a warm machine skips both builds.
#
# Usage: tools/image.sh          build (or reuse) the image; prints its reference on stdout
#        tools/image.sh env      prints CONTAINERS_CONF=... and CONTAINERS_STORAGE_CONF=... (for podman run)
# Environment: WBAUTO_DEBIAN_MIRROR (a Debian mirror URI, when the host's apt sources are not Debian's),
#              WBAUTO_IMAGE_REBUILD=1 (ignore the cache: new base, new image).
set -euo pipefail
shopt -s inherit_errexit

SUITE=bookworm
BASE_PACKAGES=(python3 python3-venv ca-certificates libstdc++6)  # libstdc++: google-re2 wheels
# Docs, man pages and translations are not installed into the base (dpkg path excludes).
BASE_EXCLUDES=('/usr/share/doc/*' '/usr/share/man/*' '/usr/share/info/*' '/usr/share/locale/*' '/usr/share/lintian/*')
# containerd: the real node of tests/e2e/test_node.py runs the same image through a kubelet
HOST_PACKAGES=(podman runc conmon catatonit mmdebstrap uidmap fuse-overlayfs slirp4netns
               containernetworking-plugins golang-github-containers-common iptables containerd)

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
dir="${WBAUTO_IMAGE_DIR:-$HOME/.cache/wbauto/image}"
log() { printf '[image] %s\n' "$*" >&2; }

# --- podman settings this machine needs: runc (crun refuses hybrid cgroups), cgroupfs, ulimits within
# the hard limits (podman's defaults exceed them), host networking, a storage of our own.
configure() {
  mkdir -p "$dir"
  local nofile nproc run="${XDG_RUNTIME_DIR:-/run}/wbauto-containers"
  nofile="$(ulimit -Hn)"; nproc="$(ulimit -Hu)"
  # nproc above 32768 is refused here even under a higher hard limit (runc: "error setting rlimit type 6")
  [ "$nofile" = unlimited ] && nofile=1048576
  { [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; } && nproc=32768
  cat >"$dir/containers.conf.tmp" <<EOF
# written by tools/image.sh
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
netns = "host"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$dir/events.log"
tmp_dir = "$run/libpod"
EOF
  cat >"$dir/storage.conf.tmp" <<EOF
# written by tools/image.sh
[storage]
driver = "${WBAUTO_STORAGE_DRIVER:-overlay}"
graphroot = "$dir/storage"
runroot = "$run/storage"
EOF
  mv "$dir/containers.conf.tmp" "$dir/containers.conf"
  mv "$dir/storage.conf.tmp" "$dir/storage.conf"
  export CONTAINERS_CONF="$dir/containers.conf" CONTAINERS_STORAGE_CONF="$dir/storage.conf"
}

ensure_host_tools() {
  local cmd missing=()
  for cmd in podman runc conmon mmdebstrap newuidmap containerd ctr; do
    command -v "$cmd" >/dev/null || missing+=("$cmd")
  done
  [ ${#missing[@]} -eq 0 ] && return
  log "installing podman, runc, mmdebstrap, containerd & co. with apt-get (missing: ${missing[*]})"
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  local start=$SECONDS
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${HOST_PACKAGES[@]}" >&2 || {
    "${sudo[@]}" apt-get update -q >&2
    "${sudo[@]}" apt-get install -y -q --no-install-recommends "${HOST_PACKAGES[@]}" >&2
  }
  log "host tools installed in $((SECONDS - start)) s"
}

# The Debian mirror(s) the host's apt uses, as one-line sources for $SUITE (main, -updates, -security).
debian_sources() {
  if [ -n "${WBAUTO_DEBIAN_MIRROR:-}" ]; then
    echo "deb $WBAUTO_DEBIAN_MIRROR $SUITE main"
    return
  fi
  local codename
  # shellcheck disable=SC1091
  codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
  # shellcheck disable=SC2016 # $(...) are apt's format fields
  apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 'Created-By: Packages' |
    awk -v host="$codename" -v suite="$SUITE" '
      $3 == "main" {
        rel = $2; suffix = ""
        if (rel ~ /-(updates|security)$/) { suffix = substr(rel, index(rel, "-")); rel = substr(rel, 1, index(rel, "-") - 1) }
        if (rel == host || rel == suite) print "deb " $1 " " suite suffix " main"
      }' | sort -u
}

hash_of() { sha256sum | cut -c1-16; }

build_base() {
  local key ref
  key="$(printf '%s\n' "$SUITE" "${BASE_PACKAGES[@]}" "${BASE_EXCLUDES[@]}" "$(uname -m)" v1 | hash_of)"
  ref="localhost/wbauto-base:$SUITE-$key"
  if [ -z "${WBAUTO_IMAGE_REBUILD:-}" ] && podman image exists "$ref"; then
    log "base $ref: cached"
  else
    local sources=() line start=$SECONDS opts=()
    while IFS= read -r line; do sources+=("$line"); done < <(debian_sources)
    if [ ${#sources[@]} -eq 0 ]; then
      log "no Debian $SUITE source in the host's apt configuration; set WBAUTO_DEBIAN_MIRROR to a Debian mirror URI"
      exit 1
    fi
    for line in "${BASE_EXCLUDES[@]}"; do opts+=("--dpkgopt=path-exclude=$line"); done
    local proxy=""
    eval "$(apt-config shell proxy Acquire::http::Proxy)"
    [ -z "$proxy" ] || opts+=("--aptopt=Acquire::http::Proxy \"$proxy\"")
    log "base $ref: mmdebstrap $SUITE (${BASE_PACKAGES[*]}) from the host's Debian sources"
    local tar="$dir/base-$key"
    # shellcheck disable=SC2016 # $1 is the hook's argument (the root directory), expanded by mmdebstrap
    mmdebstrap --quiet --variant=essential --include="$(IFS=,; echo "${BASE_PACKAGES[*]}")" "${opts[@]}" \
      --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*' \
      "$SUITE" "$tar.tmp.tar" "${sources[@]}" >&2
    podman import --quiet "$tar.tmp.tar" "$ref" >/dev/null
    rm -f "$tar.tmp.tar"
    prune_old localhost/wbauto-base "$ref" 0
    log "base $ref: built in $((SECONDS - start)) s ($(podman image inspect --format '{{.Size}}' "$ref" | numfmt --to=iec))"
  fi
  echo "$ref"
}

# Every file the image is made of, in a stable order (what .containerignore lets into the context).
image_inputs() {
  cd "$repo"
  printf '%s\0' Containerfile .containerignore pyproject.toml README.md
  find operator -type f ! -path '*/__pycache__/*' ! -name '*.py[co]' ! -path '*.egg-info/*' \
    ! -path '*/.mypy_cache/*' ! -path '*/.ruff_cache/*' ! -path '*/.pytest_cache/*' -print0 | LC_ALL=C sort -z
}

build_image() {
  local base="$1" key version revision ref
  key="$( { echo "$base"; (cd "$repo" && image_inputs | xargs -0 sha256sum); } | hash_of)"
  version="$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$repo/pyproject.toml" | head -1)"
  ref="localhost/wbauto:$version-$key"
  if [ -z "${WBAUTO_IMAGE_REBUILD:-}" ] && podman image exists "$ref"; then
    log "image $ref: cached"
  else
    revision="$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)"
    if [ "$revision" != unknown ] && [ -n "$(cd "$repo" && git status --porcelain -- Containerfile pyproject.toml README.md operator)" ]; then
      revision="$revision-dirty"
    fi
    # pip's CA (a TLS-intercepting proxy's) and index settings reach the build as secrets, never a layer
    local ca="${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}" pipconf="$dir/pip.conf"
    [ -f "$ca" ] || ca=/dev/null
    (umask 077 && pip_index_settings >"$pipconf")
    local start=$SECONDS layers=()
    [ -z "${WBAUTO_IMAGE_REBUILD:-}" ] || layers=(--no-cache)
    log "image $ref: podman build (revision $revision)"
    (cd "$repo" && podman build --quiet --network host --pull=never "${layers[@]}" -f Containerfile \
      --build-arg BASE="$base" --build-arg VERSION="$version" --build-arg REVISION="$revision" \
      --secret id=pip-ca,src="$ca" --secret id=pip-conf,src="$pipconf" \
      -t "$ref" -t "localhost/wbauto:$version" . >/dev/null)
    rm -f "$pipconf"
    podman run --rm --read-only "$ref" --help >/dev/null
    log "image $ref: built in $((SECONDS - start)) s ($(podman image inspect --format '{{.Size}}' "$ref" | numfmt --to=iec))"
    prune_old localhost/wbauto "$ref" 2
    # the build stage's layers are untagged (dangling) but are the dependency cache: drop them only
    # when the storage has grown past 4 GB
    if [ "$(du -sm "$dir/storage" | cut -f1)" -gt 4096 ]; then podman image prune -f >/dev/null; fi
  fi
  echo "$ref"
}

# The host pip's index settings (a PyPI mirror, if configured), as a pip.conf; empty when none.
pip_index_settings() {
  local py
  py="$(command -v python3 || true)"
  [ -n "$py" ] && "$py" -m pip --version >/dev/null 2>&1 || return 0
  "$py" -m pip config list 2>/dev/null |
    sed -n "s/^[^.]*\.\(index-url\|extra-index-url\|trusted-host\)='\(.*\)'$/\1 = \2/p" |
    { local settings; settings="$(cat)"; [ -z "$settings" ] || printf '[global]\n%s\n' "$settings"; }
}

# Keep the newest KEEP tags of REPOSITORY besides CURRENT (and the bare version tag); older ones only
# fill the disk.
prune_old() {
  local repository="$1" current="$2" keep="$3"
  podman images --format '{{.Repository}}:{{.Tag}}' --sort created "$repository" |
    { grep -v -x -e "$current" -e "$repository:[0-9.]*" -e '<none>:<none>' || true; } | tail -n +$((keep + 1)) |
    while read -r old; do podman rmi "$old" >/dev/null 2>&1 || podman untag "$old" >/dev/null 2>&1 || true; done
}

configure
case "${1:-build}" in
  env) printf 'CONTAINERS_CONF=%s\nCONTAINERS_STORAGE_CONF=%s\n' "$CONTAINERS_CONF" "$CONTAINERS_STORAGE_CONF" ;;
  build)
    ensure_host_tools
    exec 9>"$dir/lock"
    flock 9
    base="$(build_base)"
    build_image "$base"
    ;;
  *) log "usage: tools/image.sh [build|env]"; exit 2 ;;
esac
