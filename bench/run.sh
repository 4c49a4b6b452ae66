#!/usr/bin/env bash
# bench/run.sh: how much does the gateway cost over plain Caddy?
#
# Builds one caddy binary (with the gateway) and a fake OpenAI-compatible
# upstream, then measures, alternating over several rounds, three servers in
# front of that upstream, for a JSON answer and for an SSE stream:
#
#   plain-default  reverse_proxy with Caddy's default transport (reference)
#   plain-pool     reverse_proxy with the gateway's keep-alive pool
#                  (keepalive_idle_conns_per_host 1024): the baseline
#   gateway        llm_gateway with one openai provider at the upstream,
#                  no client keys
#   gateway-keys   the same with what deployments run: one client key with
#                  every limit on (rpm, tpm, concurrency, session, budget)
#                  and a price for the route
#   gateway-redis  gateway-keys with the Redis store (a redis-server the
#                  script starts on SERVER_CPU; skipped without redis-server)
#
# Servers are pinned to SERVER_CPU, wrk to LOAD_CPU. Results go to bench/out/.
# This is a benchmark, not a test: it exits 0 whatever the figures are.
#
# Settings (environment):
#   ROUNDS=3 DURATION=10 WARMUP=2 CONNS=64   throughput rounds (seconds)
#   LATENCY=1 LAT_DURATION=3 LAT_CONNS=1      unloaded-latency rounds (0: skip)
#   SERVER_CPU=0 LOAD_CPU=1                   CPU pinning
#   PORT_BASE=18480                           ports PORT_BASE..PORT_BASE+7
#   BENCH_REF=                                git ref to build the gateway
#                                             from (default: the working tree)
#   CADDY_BIN=                                use this caddy binary, no build
#   PROFILE=0                                 1: also take CPU profiles of the
#                                             gateway and plain-pool under load
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
OUT=$BENCH/out
MODULE=github.com/llmgateway/caddy-llm-gateway

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-64}
LATENCY=${LATENCY:-1}
LAT_DURATION=${LAT_DURATION:-3}
LAT_CONNS=${LAT_CONNS:-1}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
PORT_BASE=${PORT_BASE:-18480}
BENCH_REF=${BENCH_REF:-}
CADDY_BIN=${CADDY_BIN:-}
PROFILE=${PROFILE:-0}

UP_PORT=$PORT_BASE
declare -A PORT=([plain-default]=$((PORT_BASE + 1)) [plain-pool]=$((PORT_BASE + 2)) [gateway]=$((PORT_BASE + 3)) [gateway-keys]=$((PORT_BASE + 5)) [gateway-redis]=$((PORT_BASE + 6)))
ADMIN_PORT=$((PORT_BASE + 4))
REDIS_PORT=$((PORT_BASE + 7))
SCENARIOS=(plain-default plain-pool gateway gateway-keys)
command -v redis-server >/dev/null && SCENARIOS+=(gateway-redis)
# The client key of the gateway-keys scenario.
BENCH_CLIENT_KEY=ck-bench-0123456789abcdef
MODES=(json sse)
declare -A BODY=([json]=$BENCH/requests/chat.json [sse]=$BENCH/requests/chat_stream.json)

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# ---- processes: every one we start is killed on exit ----------------------

PIDS=()
TMP=$(mktemp -d "${TMPDIR:-/tmp}/llm-bench.XXXXXX")
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_port PORT PID NAME LOG: wait until PORT accepts connections, failing
# if the process dies or 30 s pass.
wait_port() {
	local i
	for ((i = 0; i < 300; i++)); do
		port_open "$1" && return 0
		if ! kill -0 "$2" 2>/dev/null; then
			tail -n 20 "$4" >&2 || true
			die "$3 exited before listening on port $1 (log: $4)"
		fi
		sleep 0.1
	done
	tail -n 20 "$4" >&2 || true
	die "$3 is not listening on port $1 after 30 s (log: $4)"
}

# stop PID: end a process this script started.
stop() {
	local pid=$1 i
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	for i in "${!PIDS[@]}"; do
		[[ ${PIDS[$i]} == "$pid" ]] && unset 'PIDS[i]'
	done
	return 0
}

# start NAME LOG CMD...: start CMD pinned to SERVER_CPU; sets STARTED_PID.
start() {
	local name=$1 logfile=$2
	shift 2
	taskset -c "$SERVER_CPU" "$@" </dev/null >"$logfile" 2>&1 &
	STARTED_PID=$!
	PIDS+=("$STARTED_PID")
	log "started $name (pid $STARTED_PID)"
}

# ---- preconditions --------------------------------------------------------

[[ $(nproc) -ge 2 ]] || log "warning: fewer than 2 CPUs; servers and load generator will compete"
command -v taskset >/dev/null || die "taskset (util-linux) is required"
command -v go >/dev/null || die "go is required"
if ! command -v wrk >/dev/null; then
	log "installing wrk"
	if [[ $(id -u) -eq 0 ]]; then
		apt-get update -qq && apt-get install -y -qq wrk >/dev/null
	else
		sudo apt-get update -qq && sudo apt-get install -y -qq wrk >/dev/null
	fi
fi
command -v wrk >/dev/null || die "wrk is not installed"
for p in "$UP_PORT" "${PORT[@]}" "$ADMIN_PORT" "$REDIS_PORT"; do
	port_open "$p" && die "port $p is in use; set PORT_BASE to a free range"
done
mkdir -p "$OUT/bin"

# ---- build ----------------------------------------------------------------

BUILT_FROM="prebuilt $CADDY_BIN"
if [[ -z $CADDY_BIN ]]; then
	BUILT_FROM="${BENCH_REF:-the working tree} at $(git -C "$ROOT" rev-parse --short "${BENCH_REF:-HEAD}" 2>/dev/null || echo unknown)"
	if [[ -z $BENCH_REF && -n $(git -C "$ROOT" status --porcelain 2>/dev/null) ]]; then
		BUILT_FROM+=", with uncommitted changes"
	fi
	src=$ROOT
	if [[ -n $BENCH_REF ]]; then
		src=$TMP/src
		mkdir -p "$src"
		git -C "$ROOT" archive "$BENCH_REF" | tar -x -C "$src" || die "cannot export $BENCH_REF"
	fi
	caddy_version=$(awk '$1 == "github.com/caddyserver/caddy/v2" { print $2; exit }' "$ROOT/go.mod")
	[[ -n $caddy_version ]] || die "cannot read the Caddy version from go.mod"
	# The module proxy without the `direct` fallback: xcaddy's go commands
	# then fail fast instead of trying VCS hosts. Override with XCADDY_GOPROXY.
	goproxy=${XCADDY_GOPROXY:-"$(go env GOPROXY | sed 's/,direct$//')|off"}
	CADDY_BIN=$OUT/bin/caddy
	log "building caddy $caddy_version with the gateway from $BUILT_FROM (log: $OUT/build.log)"
	if ! (cd "$ROOT" && GOPROXY=$goproxy go tool xcaddy build "$caddy_version" \
		--with "$MODULE=$src" --output "$CADDY_BIN") >"$OUT/build.log" 2>&1; then
		tail -n 30 "$OUT/build.log" >&2
		die "xcaddy build failed (full log: $OUT/build.log)"
	fi
fi
[[ -x $CADDY_BIN ]] || die "no caddy binary at $CADDY_BIN"
modules=$("$CADDY_BIN" list-modules 2>/dev/null) || die "$CADDY_BIN list-modules failed"
grep -qx 'http.handlers.llm_gateway' <<<"$modules" || die "$CADDY_BIN has no http.handlers.llm_gateway module"
log "building the fake upstream"
(cd "$ROOT" && go build -o "$OUT/bin/upstream" ./bench/upstream) >"$OUT/build-upstream.log" 2>&1 ||
	{
		cat "$OUT/build-upstream.log" >&2
		die "building bench/upstream failed"
	}

# ---- configs --------------------------------------------------------------

# caddyfile SCENARIO [ADMIN]: the Caddyfile of one server. The admin API is
# off unless ADMIN is given (profiling runs).
caddyfile() {
	local admin="admin off"
	[[ -n ${2:-} ]] && admin="admin 127.0.0.1:$2"
	cat <<EOF
{
	$admin
	persist_config off
	auto_https off
	log {
		level ERROR
	}
}

http://:${PORT[$1]} {
	bind 127.0.0.1
EOF
	case $1 in
	plain-default)
		printf '\treverse_proxy 127.0.0.1:%s\n' "$UP_PORT"
		;;
	plain-pool)
		cat <<EOF
	reverse_proxy 127.0.0.1:$UP_PORT {
		transport http {
			keepalive_idle_conns_per_host 1024
		}
	}
EOF
		;;
	gateway)
		cat <<EOF
	llm_gateway {
		provider bench {
			type openai
			base_url http://127.0.0.1:$UP_PORT/v1
			api_key sk-bench-not-a-real-key
			models gpt-4o-mini
		}
	}
EOF
		;;
	gateway-keys | gateway-redis)
		# Limits high enough never to refuse: the benchmark measures
		# what counting costs, not refusals.
		local store="store memory {
			state_file $TMP/spend.json
		}"
		[[ $1 == gateway-redis ]] && store="store redis redis://127.0.0.1:$REDIS_PORT/0"
		cat <<EOF
	llm_gateway {
		provider bench {
			type openai
			base_url http://127.0.0.1:$UP_PORT/v1
			api_key sk-bench-not-a-real-key
			models gpt-4o-mini
		}
		price bench:gpt-4o-mini 0.15 0.60
		key $BENCH_CLIENT_KEY {
			name bench
			rpm 1000000000
			tpm 1000000000000
			concurrency 100000
			session 5h 1000000000000000
			budget 1000000000
		}
		$store
	}
EOF
		;;
	esac
	echo "}"
}

# Caddy keeps its data and config under HOME/XDG dirs: keep them in TMP.
export HOME=$TMP/home XDG_DATA_HOME=$TMP/data XDG_CONFIG_HOME=$TMP/config
mkdir -p "$HOME"

# start_caddy SCENARIO [ADMIN]: sets STARTED_PID.
start_caddy() {
	local conf=$TMP/$1${2:+-admin}.Caddyfile
	caddyfile "$@" >"$conf"
	"$CADDY_BIN" validate --config "$conf" --adapter caddyfile >"$TMP/validate-$1.log" 2>&1 ||
		{
			cat "$TMP/validate-$1.log" >&2
			die "invalid config for $1: $conf"
		}
	start "caddy $1" "$OUT/caddy-$1.log" "$CADDY_BIN" run --config "$conf" --adapter caddyfile
	wait_port "${PORT[$1]}" "$STARTED_PID" "caddy $1" "$OUT/caddy-$1.log"
}

# ---- start ----------------------------------------------------------------

if [[ " ${SCENARIOS[*]} " == *" gateway-redis "* ]]; then
	start redis "$OUT/redis.log" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no
	wait_port "$REDIS_PORT" "$STARTED_PID" redis "$OUT/redis.log"
	REDIS_PID=$STARTED_PID
fi
start upstream "$OUT/upstream.log" "$OUT/bin/upstream" -port "$UP_PORT"
UP_PID=$STARTED_PID
wait_port "$UP_PORT" "$UP_PID" upstream "$OUT/upstream.log"
declare -A CADDY_PID
for s in "${SCENARIOS[@]}"; do
	start_caddy "$s"
	CADDY_PID[$s]=$STARTED_PID
done

# Every server must give the right answer before it is timed.
for s in "${SCENARIOS[@]}"; do
	url="http://127.0.0.1:${PORT[$s]}/v1/chat/completions"
	auth=(-H "Authorization: Bearer $BENCH_CLIENT_KEY")
	got=$(curl -sS -o "$TMP/check.json" -w '%{http_code}' "${auth[@]}" -H 'Content-Type: application/json' --data-binary "@${BODY[json]}" "$url") ||
		die "$s: request failed"
	if [[ $got != 200 ]] || ! grep -q '"object":"chat.completion"' "$TMP/check.json"; then
		die "$s: JSON answer is not a chat.completion (status $got): $(head -c 300 "$TMP/check.json")"
	fi
	curl -sS -N -o "$TMP/check.sse" "${auth[@]}" -H 'Content-Type: application/json' --data-binary "@${BODY[sse]}" "$url" ||
		die "$s: stream request failed"
	if [[ $(grep -c '^data: ' "$TMP/check.sse") -lt 20 ]] || ! tail -n 2 "$TMP/check.sse" | grep -q '^data: \[DONE\]'; then
		die "$s: stream answer is not an SSE chat stream: $(head -c 300 "$TMP/check.sse")"
	fi
done
log "all servers answer JSON and SSE correctly"

# ---- measure --------------------------------------------------------------

# wrk_run SCENARIO MODE SECONDS CONNS: prints wrk's RESULT line.
wrk_run() {
	local url="http://127.0.0.1:${PORT[$1]}/v1/chat/completions"
	local key=""
	[[ $1 == gateway-keys || $1 == gateway-redis ]] && key=$BENCH_CLIENT_KEY
	BENCH_BODY_FILE=${BODY[$2]} BENCH_KEY=$key taskset -c "$LOAD_CPU" \
		wrk -t1 -c"$4" -d"$3s" --timeout 10s -s "$BENCH/wrk.lua" "$url" </dev/null >"$TMP/wrk.out" 2>&1 ||
		{
			cat "$TMP/wrk.out" >&2
			die "wrk failed against $1"
		}
	grep '^RESULT ' "$TMP/wrk.out" || {
		cat "$TMP/wrk.out" >&2
		die "wrk printed no result against $1"
	}
}

# field NAME LINE: the value of NAME=value in a RESULT line.
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

STAMP=$(date +%Y%m%d-%H%M%S)
RAW=$OUT/raw-$STAMP.tsv
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
TICK_US=$((1000000 / $(getconf CLK_TCK)))
printf 'kind\tround\tmode\tscenario\tconns\trequests\trps\tp50_us\tp99_us\terrors\tnon2xx\tcaddy_cpu_us\tupstream_cpu_us\n' >"$RAW"

# cpu_ticks PID: user plus system CPU time the process has used, in ticks.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
# per_request TICKS REQUESTS: CPU µs per request.
per_request() { awk -v t="$1" -v n="$2" -v us="$TICK_US" 'BEGIN { printf "%.1f", (n > 0 ? t * us / n : 0) }'; }

# measure KIND ROUND MODE SCENARIO SECONDS CONNS: one warm-up, one timed
# run; appends a row to RAW. Besides what wrk sees, it records the CPU
# time the caddy process and the upstream spent per request: unlike
# req/s, that hardly moves when other processes compete for the CPU.
measure() {
	local line c0 u0 c1 u1 n caddy_cpu up_cpu
	if [[ $WARMUP -gt 0 ]]; then
		wrk_run "$4" "$3" "$WARMUP" "$6" >/dev/null
	fi
	c0=$(cpu_ticks "${CADDY_PID[$4]}")
	u0=$(cpu_ticks "$UP_PID")
	line=$(wrk_run "$4" "$3" "$5" "$6")
	c1=$(cpu_ticks "${CADDY_PID[$4]}")
	u1=$(cpu_ticks "$UP_PID")
	n=$(field requests "$line")
	caddy_cpu=$(per_request $((c1 - c0)) "$n")
	up_cpu=$(per_request $((u1 - u0)) "$n")
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$6" "$n" \
		"$(field rps "$line")" "$(field p50_us "$line")" "$(field p99_us "$line")" \
		"$(field errors "$line")" "$(field non2xx "$line")" "$caddy_cpu" "$up_cpu" >>"$RAW"
	log "$1 round $2 $3 $4: $(field rps "$line") req/s, p50 $(field p50_us "$line") µs," \
		"p99 $(field p99_us "$line") µs, caddy CPU $caddy_cpu µs/req, upstream CPU $up_cpu µs/req," \
		"errors $(field errors "$line"), non-2xx $(field non2xx "$line")"
}

# rotated ROUND NAMES...: NAMES rotated by ROUND, so no scenario always
# runs first (or right after the same neighbour).
rotated() {
	local r=$1
	shift
	local n=$# i
	local names=("$@")
	for ((i = 0; i < n; i++)); do
		echo "${names[$(((i + r) % n))]}"
	done
}

per_run=$((WARMUP + DURATION))
total=$((ROUNDS * ${#MODES[@]} * ${#SCENARIOS[@]} * per_run))
[[ $LATENCY == 1 ]] && total=$((total + ROUNDS * ${#MODES[@]} * 3 * (WARMUP + LAT_DURATION)))
log "measuring: $ROUNDS rounds, ${DURATION}s runs after ${WARMUP}s warm-up, $CONNS connections (about $((total / 60)) min $((total % 60)) s)"

for ((r = 1; r <= ROUNDS; r++)); do
	for m in "${MODES[@]}"; do
		mapfile -t order < <(rotated "$r" "${SCENARIOS[@]}")
		for s in "${order[@]}"; do
			measure load "$r" "$m" "$s" "$DURATION" "$CONNS"
		done
	done
done
if [[ $LATENCY == 1 ]]; then
	# One connection at a time: what the gateway adds to a request's
	# latency when nothing queues.
	for ((r = 1; r <= ROUNDS; r++)); do
		for m in "${MODES[@]}"; do
			mapfile -t order < <(rotated "$r" plain-pool gateway gateway-keys)
			for s in "${order[@]}"; do
				measure latency "$r" "$m" "$s" "$LAT_DURATION" "$LAT_CONNS"
			done
		done
	done
fi
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- report ---------------------------------------------------------------

# Columns of RAW.
C_RPS=7 C_P50=8 C_P99=9 C_CADDY=12 C_UP=13

# median KIND MODE SCENARIO COLUMN: the median of a column over rounds.
median() {
	awk -F'\t' -v k="$1" -v m="$2" -v s="$3" -v c="$4" \
		'NR > 1 && $1 == k && $3 == m && $4 == s { print $c }' "$RAW" |
		sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# calc EXPR ARGS...: evaluates an awk expression over a, b, c, d.
calc() { awk -v a="$2" -v b="${3:-0}" -v c="${4:-0}" -v d="${5:-0}" "BEGIN { $1 }"; }
ms() { calc 'printf "%.2f", a / 1000' "$1"; }
# round_ratios MODE SCENARIO: SCENARIO/plain-pool req/s in each round.
round_ratios() {
	awk -F'\t' -v m="$1" -v s="$2" 'NR > 1 && $1 == "load" && $3 == m { rps[$2 "," $4] = $7; rounds[$2] = 1 }
		END { for (r = 1; r in rounds; r++) printf "%s%.3f", (r > 1 ? ", " : ""), rps[r "," s] / rps[r ",plain-pool"] }' "$RAW"
}
errors_total=$(awk -F'\t' 'NR > 1 { n += $10 + $11 } END { print n + 0 }' "$RAW")

REPORT=$OUT/results-$STAMP.md
{
	echo "# Gateway vs plain Caddy ($STAMP)"
	echo
	echo "Machine: $(nproc) CPUs, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1), $(uname -sr);" \
		"$("$CADDY_BIN" version | cut -d' ' -f1), $(go version | cut -d' ' -f3), $(wrk --version 2>&1 | head -n 1 | cut -d' ' -f1,2)."
	echo "Gateway: $BUILT_FROM."
	echo "Servers (caddy, fake upstream) on CPU $SERVER_CPU, wrk (1 thread) on CPU $LOAD_CPU; $ROUNDS rounds of ${DURATION}s after ${WARMUP}s warm-up each, scenarios alternating."
	echo "Load average before/after: $LOAD_BEFORE / $LOAD_AFTER."
	echo
	echo "Throughput, $CONNS connections (medians over rounds). *req/s ratio* is against plain-pool;"
	echo "*CPU ratio* is plain-pool's caddy CPU per request over this scenario's (1.000: same cost)."
	echo
	echo "| scenario | mode | req/s | p50 ms | p99 ms | caddy CPU µs/req | upstream CPU µs/req | req/s ratio | CPU ratio |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
	for m in "${MODES[@]}"; do
		base=$(median load "$m" plain-pool $C_RPS)
		base_cpu=$(median load "$m" plain-pool $C_CADDY)
		for s in "${SCENARIOS[@]}"; do
			rps=$(median load "$m" "$s" $C_RPS)
			cpu=$(median load "$m" "$s" $C_CADDY)
			printf '| %s | %s | %.0f | %s | %s | %s | %s | %s | %s |\n' "$s" "$m" "$rps" \
				"$(ms "$(median load "$m" "$s" $C_P50)")" "$(ms "$(median load "$m" "$s" $C_P99)")" \
				"$cpu" "$(median load "$m" "$s" $C_UP)" \
				"$(calc 'printf "%.3f", a / b' "$rps" "$base")" "$(calc 'printf "%.3f", b / a' "$cpu" "$base_cpu")"
		done
	done
	if [[ $LATENCY == 1 ]]; then
		echo
		echo "Unloaded latency, $LAT_CONNS connection(s), ${LAT_DURATION}s per round (medians over rounds):"
		echo
		echo "| scenario | mode | req/s | p50 ms | p99 ms | caddy CPU µs/req | p50 added vs plain-pool, ms |"
		echo "|---|---|---:|---:|---:|---:|---:|"
		for m in "${MODES[@]}"; do
			base50=$(median latency "$m" plain-pool $C_P50)
			for s in plain-pool gateway gateway-keys; do
				p50=$(median latency "$m" "$s" $C_P50)
				printf '| %s | %s | %.0f | %s | %s | %s | %s |\n' "$s" "$m" "$(median latency "$m" "$s" $C_RPS)" \
					"$(ms "$p50")" "$(ms "$(median latency "$m" "$s" $C_P99)")" "$(median latency "$m" "$s" $C_CADDY)" \
					"$(calc 'printf "%+.3f", (a - b) / 1000' "$p50" "$base50")"
			done
		done
	fi
	echo
	for m in "${MODES[@]}"; do
	for gw in "${SCENARIOS[@]:2}"; do
		r=$(calc 'printf "%.3f", a / b' "$(median load "$m" "$gw" $C_RPS)" "$(median load "$m" plain-pool $C_RPS)")
		gw_cpu=$(median load "$m" "$gw" $C_CADDY)
		pl_cpu=$(median load "$m" plain-pool $C_CADDY)
		up_cpu=$(median load "$m" plain-pool $C_UP)
		echo "- $m, $gw: $gw/plain-pool req/s = $r ($(calc 'print (a >= 0.95 ? "meets" : "misses")' "$r") the 0.95 target);" \
			"per round: $(round_ratios "$m" "$gw"). Its caddy spends $(calc 'printf "%+.1f", a - b' "$gw_cpu" "$pl_cpu") µs CPU" \
			"per request ($(calc 'printf "%+.0f%%", (a / b - 1) * 100' "$gw_cpu" "$pl_cpu")); with the upstream's" \
			"$up_cpu µs on the same core, that predicts a ratio of $(calc 'printf "%.3f", (b + c) / (a + c)' "$gw_cpu" "$pl_cpu" "$up_cpu") on an otherwise idle machine."
	done
	done
	if calc 'exit !(a > 1.5)' "${LOAD_BEFORE%% *}"; then
		echo "- Other processes were busy when the run started (load average ${LOAD_BEFORE%% *}): req/s and latencies are noisy; the CPU-per-request figures hold better."
	fi
	if [[ -n ${REDIS_PID:-} ]] && command -v redis-cli >/dev/null; then
		stats=$(redis-cli -p "$REDIS_PORT" info commandstats | tr -d '\r' | grep -E '^cmdstat_(evalsha|eval):' | sed 's/^cmdstat_//' | tr '\n' ' ')
		echo "- Redis (gateway-redis, same core as caddy): per script call, calls and µs: $stats"
	fi
	[[ $errors_total -eq 0 ]] || echo "- WARNING: $errors_total socket errors or non-2xx answers; see the raw figures."
	echo
	echo "Raw figures: \`bench/out/$(basename "$RAW")\`."
} >"$REPORT"
cp "$REPORT" "$OUT/results.md"
echo
cat "$REPORT"

# ---- optional profiles ----------------------------------------------------

if [[ $PROFILE == 1 ]]; then
	# A second instance of each server, with the admin API on for pprof.
	for s in gateway gateway-keys plain-pool; do
		stop "${CADDY_PID[$s]}"
		start_caddy "$s" "$ADMIN_PORT"
		wait_port "$ADMIN_PORT" "$STARTED_PID" "caddy $s admin" "$OUT/caddy-$s.log"
		for m in "${MODES[@]}"; do
			wrk_run "$s" "$m" "$WARMUP" "$CONNS" >/dev/null
			curl -sS -o "$OUT/cpu-$s-$m.pprof" "http://127.0.0.1:$ADMIN_PORT/debug/pprof/profile?seconds=$DURATION" &
			curl_pid=$!
			line=$(wrk_run "$s" "$m" "$((DURATION + 1))" "$CONNS")
			wait "$curl_pid" || die "fetching the $s $m profile failed"
			log "profile of $s $m: $OUT/cpu-$s-$m.pprof, taken at $(field rps "$line") req/s"
		done
		stop "$STARTED_PID"
	done
	log "summarising the profiles (go tool pprof)"
	for f in "$OUT"/cpu-*.pprof; do
		go tool pprof -top -nodecount=60 "$f" >"${f%.pprof}.top.txt" 2>/dev/null || true
		go tool pprof -top -cum -nodecount=60 "$f" >"${f%.pprof}.cum.txt" 2>/dev/null || true
	done
	log "profiles in $OUT: cpu-<scenario>-<mode>.pprof, with -top in *.top.txt and -top -cum in *.cum.txt"
fi
