#!/bin/bash
# `make bench`, IPC and scheduler part (issue 10's bounds), against the daemon on Docker:
#   1. IPC: from a message file's arrival in a group's ipc/messages (its rename in, as agents
#      write them) to the message being in the outbox, over IPC_RUNS (default 200) files: the
#      daemon logs each latency, measured from the file's ctime. Bound: p50 5 ms (NanoClaw v1
#      polls every 1000 ms).
#   2. Scheduler: the firing error of TASKS (default 30) once tasks, each in a group of its own
#      (so a slot is always free), due 300 ms apart: from the due time to the turn's start.
#      Bound: p99 100 ms (NanoClaw v1 polls every 60 s).
set -eu
cd "$(dirname "$0")/.."
nc=$PWD/${NANOCELL_BIN:-./nanocell}
runs=${IPC_RUNS:-200}
ntasks=${TASKS:-30}
tmp=$(mktemp -d /tmp/nanocell-bench-ipc.XXXXXX)
chmod 755 "$tmp"
install="benchi$$"
export NANOCELL_CONFIG="$tmp/config.toml" NANOCELL_API="$tmp/api/api.sock"
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
printf '[install]\nid = "%s"\ndata_dir = "%s/data"\n[engine]\nhost = "unix:///var/run/docker.sock"\n' \
	"$install" "$tmp" >"$NANOCELL_CONFIG"
printf '[agent]\nidle_timeout = "2s"\n[orch]\nmax_concurrent = %s\ntimezone = "UTC"\n' \
	"$((ntasks + 1))" >>"$NANOCELL_CONFIG"
printf '[ipc]\nmax_files_per_minute = %s\n' "$((runs + 10))" >>"$NANOCELL_CONFIG"
"$nc" serve >>"$tmp/serve.log" 2>&1 &
DPID=$!
for _ in $(seq 1 100); do "$nc" status >/dev/null 2>&1 && break; sleep 0.05; done
# pct FILE P: the P-th percentile of the numbers in FILE.
pct() { sort -g "$1" | awk -v p="$2" '{v[NR]=$1} END {i=int(NR*p/100+0.999); if (i<1) i=1; print v[i]}'; }

# --- 1. file arrival to outbox ---
"$nc" groups add ipcbench --no-trigger >/dev/null
dir=$tmp/data/groups/ipcbench/ipc/messages
for _ in $(seq 1 50); do [ -d "$dir" ] && break; sleep 0.1; done
owner=$(stat -c %u:%g "$dir")
for i in $(seq 1 "$runs"); do
	f=$dir/$i.json.tmp
	printf '{"type":"message","chatJid":"local:ipcbench","text":"bench %s"}' "$i" >"$f"
	chown "$owner" "$f"
	mv "$f" "$dir/$i.json"
	sleep 0.02
done
for _ in $(seq 1 100); do
	[ "$(grep -c 'ipc message .* after its file arrived' "$tmp/serve.log")" -ge "$runs" ] && break
	sleep 0.1
done
grep -oE '\(([0-9.]+) ms after its file arrived\)' "$tmp/serve.log" | grep -oE '[0-9.]+' >"$tmp/ipc"
n=$(wc -l <"$tmp/ipc")
printf '%-52s %8s ms p50, %s ms p99 over %s files  (bound p50 5 ms)\n' \
	"IPC file arrival -> message in the outbox" "$(pct "$tmp/ipc" 50)" "$(pct "$tmp/ipc" 99)" "$n"

# --- 2. task firing error ---
for i in $(seq 1 "$ntasks"); do "$nc" groups add "t$i" --no-trigger >/dev/null; done
start=$(($(date +%s) + 5))
for i in $(seq 1 "$ntasks"); do
	ms=$((start * 1000 + i * 300))
	when=$(date -u -d "@$((ms / 1000)).$(printf '%03d' $((ms % 1000)))" +%Y-%m-%dT%H:%M:%S.%3N)
	"$nc" tasks add --group "t$i" --id "bench$i" --once "$when" "echo fired" >/dev/null
done
for _ in $(seq 1 300); do
	[ "$(grep -c 'started for task bench' "$tmp/serve.log")" -ge "$ntasks" ] && break
	sleep 0.1
done
grep -oE 'started for task bench[0-9]+ \(due -?[0-9]+ ms ago\)' "$tmp/serve.log" |
	grep -oE '\(due -?[0-9]+' | grep -oE -- '-?[0-9]+' >"$tmp/fire"
n=$(wc -l <"$tmp/fire")
early=$(awk '$1 < 0' "$tmp/fire" | wc -l)
printf '%-52s %8s ms p50, %s ms p99, %s ms max over %s tasks, %s early  (bound p99 100 ms)\n' \
	"task firing error (due -> turn start)" "$(pct "$tmp/fire" 50)" "$(pct "$tmp/fire" 99)" \
	"$(pct "$tmp/fire" 100)" "$n" "$early"
