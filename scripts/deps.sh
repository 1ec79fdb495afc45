#!/usr/bin/env bash
# Installs what `make up` and `make test` need besides Go: redis-server from
# Debian (when root; otherwise prints the command) and Ollama built into
# .tools/bin (scripts/install-ollama.sh). Idempotent and quick when done.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { printf 'deps: %s\n' "$*" >&2; }

command -v go >/dev/null 2>&1 || { log "Go 1.26 is required: https://go.dev/doc/install"; exit 1; }

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
	if [[ "$(id -u)" != 0 ]]; then
		log "redis-server is missing; run: sudo apt-get install -y redis-server"
		exit 1
	fi
	log "apt-get install redis-server"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y --no-install-recommends redis-server >&2 ||
		{ apt-get update >&2 && apt-get install -y --no-install-recommends redis-server >&2; }
fi

"$REPO/scripts/install-ollama.sh"
