#!/usr/bin/env bash
# One command from a fresh clone to a full check: Python deps (a venv), the Go-built control plane
# (kube-apiserver, kubectl, etcd, helm; cached outside the repo), the operator image (tools/image.sh),
# operator image, generated-file drift, ruff, mypy, import-linter, pytest.
# Extra arguments go to pytest, e.g. `bash tools/test.sh -k admission`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n== %s\n' "$*" >&2; }
t0=$SECONDS

step "python environment (${WBAUTO_VENV:-.venv})"
venv="${WBAUTO_VENV:-.venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
# shellcheck disable=SC1091
. "$venv/bin/activate"
python -m pip install -q --disable-pip-version-check -e '.[test]'
echo "python deps ready after $((SECONDS - t0)) s" >&2

step "control-plane binaries (Go module proxy builds, cached in ${WBAUTO_TOOLS_DIR:-$HOME/.cache/wbauto/tools})"
t1=$SECONDS
bash tools/build.sh k8s etcd helm kstatus promtool >/dev/null
echo "binaries ready in $((SECONDS - t1)) s" >&2

step "operator image (Containerfile with podman, base from Debian packages; cached in ${WBAUTO_IMAGE_DIR:-$HOME/.cache/wbauto/image})"
t2=$SECONDS
bash tools/image.sh >/dev/null
echo "image ready in $((SECONDS - t2)) s" >&2

step "generated files are up to date"
wbauto crds --check

step "ruff"
ruff check operator tests benchmarks

step "mypy (strict)"
mypy

step "import-linter (layers, and which package may import kopf, kubernetes_asyncio, the emulator)"
lint-imports --no-cache

step "pytest"
python -m pytest -q "$@"
echo "all checks passed in $((SECONDS - t0)) s" >&2
