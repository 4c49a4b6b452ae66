#!/usr/bin/env bash
# Builds ./caddy (or the path given) with the gateway, through the xcaddy
# pinned in go.mod. Needs only Go.
#
# GOPROXY drops its `direct` fallback: xcaddy replaces the gateway module
# with this checkout, and a module proxy that answers 403 for modules it
# does not hold would otherwise make the build try `direct` and fail.
set -euo pipefail
cd "$(dirname "$0")"
output="$(realpath -m "${1:-caddy}")"
proxy="$(go env GOPROXY)"
GOPROXY="${proxy%,direct}|off" go tool xcaddy build v2.11.9 \
	--with github.com/llmgateway/caddy-llm-gateway="$PWD" \
	--output "$output"
