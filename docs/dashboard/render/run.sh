#!/usr/bin/env bash
# Redraws docs/dashboard.png from a real load run, offline, on 127.0.0.1:
#
#   docs/dashboard/render/run.sh [seconds]        (default 120)
#
# 1. builds the gateway with ../../../build.sh (or uses $CADDY);
# 2. runs it with the mock providers of ./Caddyfile;
# 3. runs Prometheus scraping its admin /metrics every 5s, with
#    docs/alerts.yml loaded (so the rules are evaluated too);
# 4. drives traffic with load.mjs;
# 5. renders the dashboard's panels from Prometheus (render.mjs) and
#    screenshots them with headless Chromium to docs/dashboard.png.
#
# Needs Go, Node 20 and the Debian packages chromium and prometheus
# (apt-get install -y chromium prometheus; the package's service need not run).
# Ports: GW_PORT (18080), ADMIN_PORT (12019), PROM_PORT (19090).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
seconds="${1:-${DURATION:-120}}"
export GW_PORT="${GW_PORT:-18080}" ADMIN_PORT="${ADMIN_PORT:-12019}"
PROM_PORT="${PROM_PORT:-19090}"
export PATH="/usr/local/go/bin:$PATH"

for tool in node prometheus "${CHROMIUM:-chromium}"; do
	command -v "$tool" >/dev/null || { echo "run.sh: $tool not found (see the comment at the top)" >&2; exit 1; }
done
work="$(mktemp -d /tmp/llmgw-dashboard.XXXXXX)"
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	echo "run.sh: logs and Prometheus data in $work"
}
trap cleanup EXIT

caddy="${CADDY:-}"
if [ -z "$caddy" ]; then
	caddy="$work/caddy"
	"$repo/build.sh" "$caddy" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
fi
(cd "$here" && [ -d node_modules ] || npm ci --no-audit --no-fund)

# Caddy's data and config directories too live in $work: nothing of the
# run is left in the home directory.
STORAGE_DIR="$work/storage" XDG_DATA_HOME="$work/data" XDG_CONFIG_HOME="$work/config" "$caddy" run --config "$here/Caddyfile" --adapter caddyfile >"$work/caddy.log" 2>&1 &
pids+=($!)

cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: 5s
  evaluation_interval: 5s
rule_files:
  - $repo/docs/alerts.yml
scrape_configs:
  - job_name: caddy
    static_configs:
      - targets: ['127.0.0.1:$ADMIN_PORT']
EOF
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prometheus" \
	--web.listen-address="127.0.0.1:$PROM_PORT" >"$work/prometheus.log" 2>&1 &
pids+=($!)

for _ in $(seq 1 50); do
	curl -fs "http://127.0.0.1:$ADMIN_PORT/metrics" >/dev/null &&
		curl -fs "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null && break
	sleep 0.2
done
curl -fs "http://127.0.0.1:$ADMIN_PORT/metrics" >/dev/null || { cat "$work/caddy.log"; exit 1; }

sleep 6 # a first scrape before any request
start="$(date +%s)"
node "$here/load.mjs" "$seconds" | tee "$work/load.log"
sleep 11 # the last requests' scrapes
end="$(date +%s)"
echo "$start $end" >"$work/window"

# What the alert rules made of the run (pending: their `for` is longer than it).
curl -fs "http://127.0.0.1:$PROM_PORT/api/v1/alerts" |
	node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const a=JSON.parse(s).data.alerts;
	console.log(`alerts: ${a.length} pending or firing`);for(const x of a)console.log(`  ${x.state.padEnd(8)} ${x.labels.alertname} ${JSON.stringify(Object.fromEntries(Object.entries(x.labels).filter(([k])=>!["alertname","severity","job","instance"].includes(k))))}`)})' |
	tee "$work/alerts.log"

node "$here/render.mjs" --prom "http://127.0.0.1:$PROM_PORT" --start "$start" --end "$end" --scrape 5 \
	--html "$work/dashboard.html" --png "$repo/docs/dashboard.png"
