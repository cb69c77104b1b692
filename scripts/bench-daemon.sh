#!/bin/bash
# `make bench`, daemon part: nanocell serve against `docker run -i --rm` on the same image, in
# the same run.
#   1. RSS of the daemon with 50 registered groups, idle (the issue's bound: 20 MiB).
#   2. Dispatch: from a message stored by the API to its turn's container create call, over
#      DISPATCH_RUNS (default 30) messages each starting a new turn (the daemon's debug log).
#   3. One message's round trip through `nanocell send`: cold (a new container) and a follow-up
#      into the group's running agent, each against `docker run -i --rm` with the same input.
#   4. Throughput: 200 messages to 20 groups posted at once; every one answered, never more
#      containers than orch.max_concurrent, never two for a group.
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
	printf '[agent]\nidle_timeout = "%s"\n[orch]\nmax_concurrent = %s\n' "$1" "$2"
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
config 30m 50 >"$NANOCELL_CONFIG"
echo "nanocell daemon bench: image $image, engine $("$nc" doctor 2>/dev/null | awk '/^engine +(Docker|Podman)/{$1=""; print substr($0,2)}')"
start
for i in $(seq -w 1 50); do "$nc" groups add "g$i" --no-trigger >/dev/null; done
"$nc" groups ls >/dev/null
sleep 1
rss=$(awk '/^VmRSS/{print $2}' "/proc/$DPID/status")
awk -v k="$rss" 'BEGIN {printf "%-44s %8.1f MiB  (bound 20 MiB)\n", "daemon RSS, 50 groups registered, idle", k / 1024}'

# --- 2. dispatch: each message a new turn (a group each, so no follow-up) ---
: >"$tmp/dispatch"
"$docker" run -i --rm "$image" </dev/null >/dev/null 2>&1 || true # warm the image
for i in $(seq -w 1 "$runs"); do
	g="g$(printf '%02d' $(( (10#$i - 1) % 50 + 1 )))"
	"$nc" send --group "$g" "echo dispatch $i" >/dev/null
done
grep -o "dispatch [0-9.]* ms" "$tmp/serve.log" | awk '{print $2}' >"$tmp/dispatch"
read -r dm dp < <(stats "$tmp/dispatch")
printf '%-44s %8s ms  p90 %s ms  (%s turns; bound p50 5 ms)\n' "dispatch, message accepted -> create call" "$dm" "$dp" "$(wc -l <"$tmp/dispatch")"
stop

# --- 3. round trip of one message, against docker run -i --rm ---
config 30m 5 >"$NANOCELL_CONFIG"
start
: >"$tmp/cold" && : >"$tmp/follow" && : >"$tmp/docker"
payload='{"prompt":"echo bench","groupFolder":"bench","chatJid":"cli","isMain":false}'
for i in $(seq 1 9); do
	g="c$i"
	"$nc" groups add "$g" --no-trigger >/dev/null
	t0=$(now_ns); echo "$payload" | "$docker" run -i --rm "$image" >/dev/null; t1=$(now_ns)
	echo $(((t1 - t0) / 1000000)) >>"$tmp/docker"
	t0=$(now_ns); "$nc" send --group "$g" "echo cold" >/dev/null; t1=$(now_ns)
	echo $(((t1 - t0) / 1000000)) >>"$tmp/cold"
	t0=$(now_ns); "$nc" send --group "$g" "echo follow-up" >/dev/null; t1=$(now_ns)
	echo $(((t1 - t0) / 1000000)) >>"$tmp/follow"
	# Idle agents hold slots: close them so the next cold turn has one.
	if [ $((i % 4)) -eq 0 ]; then stop; start; fi
done
read -r docm docp < <(stats "$tmp/docker")
read -r colm colp < <(stats "$tmp/cold")
read -r folm folp < <(stats "$tmp/follow")
printf '%-44s %8s ms  p90 %s ms\n' "docker run -i --rm" "$docm" "$docp"
printf '%-44s %8s ms  p90 %s ms\n' "nanocell send, cold (new hardened container)" "$colm" "$colp"
printf '%-44s %8s ms  p90 %s ms\n' "nanocell send, follow-up (running agent)" "$folm" "$folp"
awk -v c="$colm" -v f="$folm" -v d="$docm" 'BEGIN {printf "%-44s %8.2fx\n%-44s %8.3fx\n", "ratio send cold / docker run", c / d, "ratio send follow-up / docker run", f / d}'
stop

# --- 4. throughput: 200 messages, 20 groups, posted at once ---
config 2s 5 >"$NANOCELL_CONFIG"
start
for i in $(seq -w 1 20); do "$nc" groups add "t$i" --no-trigger >/dev/null; done
( while [ -e "$tmp/sampling" ] || [ ! -e "$tmp/sampled" ]; do
	ours | grep -o '"nanocell.group":"[a-z0-9]*"' | sort | uniq -c | awk '{t += $1; if ($1 > m) m = $1} END {print t + 0, m + 0}' >>"$tmp/samples"
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
printf '%-44s %5s new containers, %s follow-up batches; max %s at once (cap 5), max %s per group\n' "" "$turns" "$follow" "$maxc" "$maxg"
stop
