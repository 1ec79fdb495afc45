#!/usr/bin/env bash
# Installs Ollama into $REPO/.tools/bin/ollama, built from the Go module zip.
#
# Idempotent: skips when the installed binary already is $OLLAMA_VERSION.
# The module zip lacks llama.cpp's vendor/ directory, so this script supplies
# nlohmann/json and stb_image from Debian packages and a failing miniaudio
# stub of our own (scripts/ollama-stub). Cold build: ~4 min on 2 cores.
#
# Usage: scripts/install-ollama.sh [--force]
set -euo pipefail

OLLAMA_VERSION=0.17.4
APT_PACKAGES=(nlohmann-json3-dev libstb-dev)

log() { printf 'install-ollama: %s\n' "$*" >&2; }

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="$REPO/.tools/bin"
BIN="$BIN_DIR/ollama"
STAMP="$BIN_DIR/.ollama-version"
STUB_DIR="$REPO/scripts/ollama-stub"

installed_version() {
	[[ -x "$BIN" ]] || return 1
	if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$OLLAMA_VERSION" ]]; then
		return 0
	fi
	# --version also tries a server; point it at a closed port so it only
	# reports the client version.
	OLLAMA_HOST=127.0.0.1:1 "$BIN" --version 2>&1 | grep -q "version is $OLLAMA_VERSION\$" &&
		echo "$OLLAMA_VERSION" >"$STAMP"
}

if [[ "${1:-}" != "--force" ]] && installed_version; then
	log "ollama $OLLAMA_VERSION already installed at $BIN"
	exit 0
fi

# Build dependencies from Debian.
missing=()
for p in "${APT_PACKAGES[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
command -v g++ >/dev/null 2>&1 || missing+=(g++)
if ((${#missing[@]})); then
	if [[ "$(id -u)" != 0 ]]; then
		log "missing packages: ${missing[*]}; run:"
		echo "sudo apt-get install -y ${missing[*]}" >&2
		exit 1
	fi
	log "apt-get install ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y --no-install-recommends "${missing[@]}" >&2; then
		log "install failed; running apt-get update and retrying"
		apt-get update >&2
		apt-get install -y --no-install-recommends "${missing[@]}" >&2
	fi
fi

command -v go >/dev/null 2>&1 || { log "go not found in PATH"; exit 1; }

mkdir -p "$BIN_DIR"
rm -f "$STAMP"
log "building ollama $OLLAMA_VERSION with $(go version | cut -d' ' -f3) (cold: ~4 min on 2 cores)"
start=$(date +%s)
# Build outside our module so ollama's own go.mod decides its dependencies.
workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
(
	cd "$workdir"
	export GOWORK=off GO111MODULE=on CGO_ENABLED=1 GOBIN="$BIN_DIR"
	export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod"
	export CGO_CPPFLAGS="-I$STUB_DIR${CGO_CPPFLAGS:+ $CGO_CPPFLAGS}"
	go install -ldflags "-s -w -X github.com/ollama/ollama/version.Version=$OLLAMA_VERSION" \
		"github.com/ollama/ollama@v$OLLAMA_VERSION"
)

if ! OLLAMA_HOST=127.0.0.1:1 "$BIN" --version 2>&1 | grep -q "version is $OLLAMA_VERSION\$"; then
	log "built binary does not report version $OLLAMA_VERSION:"
	OLLAMA_HOST=127.0.0.1:1 "$BIN" --version >&2 || true
	exit 1
fi
echo "$OLLAMA_VERSION" >"$STAMP"
log "installed $BIN ($(du -h "$BIN" | cut -f1)) in $(($(date +%s) - start))s"
