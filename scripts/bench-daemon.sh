#!/bin/bash
# `make bench`, daemon part (part 1, scripts/bench.sh, times single turns):
#   1. RSS of the daemon with 50 registered groups, idle (the issue's bound: 20 MiB), and again
#      once each of them had a turn and the warm pool is full (pool.max containers).
#   2. Dispatch: from a message stored by the API to its turn's container create call (or its
#      pooled container passing its check), over DISPATCH_RUNS (default 30) messages each
#      starting a new turn (the daemon's debug log), with the pool off and on.
#   3. Throughput: 200 messages to 20 groups posted at once, pool on; every one answered, never
#      more turns than orch.max_concurrent, never two turns for a group.
set -eu
cd "$(dirname "$0")/.."
nc=$PWD/${NANOCELL_BIN:-./nanocell}
docker=/usr/bin/docker
[ -x "$docker" ] || docker=docker
image=nanocell-agent:latest
runs=${DISPATCH_RUNS:-30}
tmp=$(mktemp -d /tmp/nanocell-bench-daemon.XXXXXX)
chmod 755 "$tmp"
install="benchd$$"
export NANOCELL_CONFIG="$tmp/config.toml" NANOCELL_API="$tmp/api/api.sock" NANOCELL_LOG=debug
DPID=""
api() { curl -sf --unix-socket /var/run/docker.sock "$@"; }
ours() { api "http://localhost/v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22nanocell.install%3D$install%22%5D%7D"; }
cleanup() {
	[ -n "$DPID" ] && kill -TERM "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	for id in $(ours | grep -o '"Id":"[0-9a-f]*"' | cut -d'"' -f4); do
		api -X DELETE "http://localhost/v1.41/containers/$id?force=1" >/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
config() {
	printf '[install]\nid = "%s"\ndata_dir = "%s/data"\n[engine]\nhost = "unix:///var/run/docker.sock"\n' "$install" "$tmp"
	printf '[agent]\nidle_timeout = "%s"\n[orch]\nmax_concurrent = %s\n[pool]\nenabled = %s\n' "$1" "$2" "${3:-true}"
}
start() {
	"$nc" serve >>"$tmp/serve.log" 2>&1 &
	DPID=$!
	for _ in $(seq 1 100); do "$nc" status >/dev/null 2>&1 && return 0; sleep 0.05; done
	echo "bench: the daemon did not start" >&2
	cat "$tmp/serve.log" >&2
	exit 1
}
stop() { kill -TERM "$DPID"; wait "$DPID" || true; DPID=""; }
now_ns() { date +%s%N; }
stats() { sort -n "$1" | awk '{v[NR]=$1} END {m=v[int((NR+1)/2)]; p=v[int(NR*0.9+0.999)]; print m, p}'; }

# --- 1. RSS, 50 groups idle ---
config 30m 50 false >"$NANOCELL_CONFIG"
echo "nanocell daemon bench: image $image, engine $("$nc" doctor 2>/dev/null | awk '/^engine +(Docker|Podman)/{$1=""; print substr($0,2)}')"
start
for i in $(seq -w 1 50); do "$nc" groups add "g$i" --no-trigger >/dev/null; done
"$nc" groups ls >/dev/null
sleep 1
rss=$(awk '/^VmRSS/{print $2}' "/proc/$DPID/status")
awk -v k="$rss" 'BEGIN {printf "%-44s %8.1f MiB  (bound 20 MiB)\n", "daemon RSS, 50 groups registered, idle", k / 1024}'

# --- 2. dispatch: each message a new turn (a group each, so no follow-up), pool off ---
"$docker" run -i --rm "$image" </dev/null >/dev/null 2>&1 || true # warm the image
dispatch() { # runs messages to groups g01.. and prints the dispatch p50 and p90 of the log
	: >"$tmp/serve.log.$1"
	for i in $(seq -w 1 "$runs"); do
		# Pool off: a new group each time. On: the ten groups that hold the pool, in turn.
		n=50
		[ "$1" = on ] && n=10
		g="g$(printf '%02d' $(( (10#$i - 1) % n + 1 )))"
		"$nc" send --group "$g" "echo dispatch $i" >/dev/null
		[ "$1" = on ] && sleep 0.8 # the group's agent closes, its pooled container is made
	done
	grep -o "dispatch [0-9.]* ms" "$tmp/serve.log" | awk '{print $2}' | tail -n "$runs" >"$tmp/dispatch.$1"
	read -r dm dp < <(stats "$tmp/dispatch.$1")
	printf '%-44s %8s ms  p90 %s ms  (%s turns)\n' "dispatch, pool $1 (accepted -> create/take)" "$dm" "$dp" "$(wc -l <"$tmp/dispatch.$1")"

}
# A turn's CPU is logged when it ends: after the stop (its agents are closed).
cpu() {
	grep -o "used [0-9.]* ms of CPU ([a-z]*)" "$tmp/serve.log" | tail -n "$runs" |
		awk -v o="$1" '{s += $2; n++; k[$6]++} END {if (n) printf "%-44s %8.2f ms  (the turn thread, mean of %d turns, %d warm)\n", "CPU per turn, pool " o, s / n, n, k["(warm)"]}'
}
dispatch off
stop
cpu off

# --- 1b, 2b: every group had a turn, the pool is full; then dispatch with the pool on ---
config 200ms 5 true >"$NANOCELL_CONFIG"
start
for i in $(seq -w 1 50); do "$nc" send --group "g$i" --no-wait "echo fill" >/dev/null; done
for _ in $(seq 1 600); do
	[ "$("$nc" status --json | jq -r '.pool.size')" -ge 10 ] && [ "$("$nc" status --json | jq -r '.running | length')" = 0 ] && break
	sleep 0.2
done
sleep 1
rss=$(awk '/^VmRSS/{print $2}' "/proc/$DPID/status")
size=$("$nc" status --json | jq -r '.pool.size')
awk -v k="$rss" -v n="$size" 'BEGIN {printf "%-44s %8.1f MiB  (%d pooled containers)\n", "daemon RSS, 50 groups, the pool full", k / 1024, n}'
stop
# The last groups to run hold the pool: dispatch to them, so every turn can be warm.
config 200ms 5 true >"$NANOCELL_CONFIG"
start
for i in $(seq 1 10); do "$nc" send --group "g$(printf '%02d' "$i")" "echo fill" >/dev/null; done
sleep 2
h0=$("$nc" status --json | jq -r '.pool.hits')
dispatch on
printf '%-44s %s of %s turns warm\n' "" "$(($("$nc" status --json | jq -r '.pool.hits') - h0))" "$runs"
stop
cpu on

# --- 3. throughput: 200 messages, 20 groups, posted at once, pool on ---
config 2s 5 true >"$NANOCELL_CONFIG"
start
for i in $(seq -w 1 20); do "$nc" groups add "t$i" --no-trigger >/dev/null; done
( while [ -e "$tmp/sampling" ] || [ ! -e "$tmp/sampled" ]; do
	# Turns (the daemon's running list) and the engine's containers (turns and pooled ones).
	t=$("$nc" status --json | jq -r '[.running[].group] | "\(length) \(group_by(.) | map(length) | max // 0)"')
	echo "$t $(ours | grep -o '"Id"' | wc -l)" >>"$tmp/samples"
	[ -e "$tmp/sampled" ] && break
	sleep 0.1
done ) &
sampler=$!
t0=$(now_ns)
pids=""
for m in $(seq 1 10); do
	for i in $(seq -w 1 20); do
		"$nc" send --group "t$i" --no-wait "echo m$m" >/dev/null &
		pids="$pids $!"
	done
done
for p in $pids; do wait "$p"; done
posted=$(now_ns)
for _ in $(seq 1 1200); do
	done_n=$("$nc" messages --json --limit 1000 | jq -s '[.[] | select(.direction == "in" and .state == "done" and (.group | startswith("t")))] | length')
	[ "$done_n" -ge 200 ] && break
	sleep 0.25
done
t1=$(now_ns)
touch "$tmp/sampled"
wait "$sampler" 2>/dev/null || true
turns=$(grep -c 'started for batch' "$tmp/serve.log" || true)
follow=$(grep -c 'follow-up batch' "$tmp/serve.log" || true)
maxc=$(awk '{print $1}' "$tmp/samples" | sort -n | tail -1)
maxg=$(awk '{print $2}' "$tmp/samples" | sort -n | tail -1)
awk -v n="$done_n" -v p=$(((posted - t0) / 1000000)) -v a=$(((t1 - t0) / 1000000)) 'BEGIN {printf "%-44s %5d of 200 in %.1f s (%.1f msg/s; posting took %.1f s)\n", "throughput, 20 groups x 10 messages", n, a / 1000, n * 1000 / a, p / 1000}'
maxk=$(awk '{print $3}' "$tmp/samples" | sort -n | tail -1)
hits=$("$nc" status --json | jq -r '.pool.hits')
printf '%-44s %5s turns (%s warm), %s follow-up batches; max %s turns at once (cap 5), max %s per group, max %s containers with the pool\n' "" "$turns" "$hits" "$follow" "$maxc" "$maxg" "$maxk"
stop
