#!/bin/bash
# `make bench`, part 1: one agent turn, five ways, interleaved in one run (1, 2, 3, 4, 5, 1, 2,
# ...) on the same image (nanocell-agent:latest with this tree's reference agent, in scripted
# mode) with the same input, so that drift hits every side alike. RUNS (default 30) turns per side.
#   1. `docker run -i --rm` with nanocell's hardening flags and seccomp profile (how NanoClaw
#      spawns, made equal): read-only root, no capabilities, no-new-privileges, the agent
#      profile, no network, the user, memory/pids/cpu/ulimits, private IPC and cgroupns, the
#      same tmpfs mounts and the group's folders; the engine's default runtime.
#   2. `nanocell run`, cold, sandbox.runtime = "auto".
#   3. `nanocell run`, cold, the engine's default runtime (sandbox.runtime = "").
#   4. `nanocell send` to a daemon with the warm pool: a new turn in a pooled container.
#   5. `nanocell send` to a daemon whose agent for the group runs: a follow-up.
# For each: end-to-end latency (command started to command ended: request sent to result
# received) p50/p95/p99; nanocell's CPU per turn (2, 3: the process, user+sys; 4, 5: the
# daemon process over the run, divided by the turns, and for 4 the turn thread alone); for 4
# the dispatch latency, from the message accepted (committed) by the daemon to the agent having
# read its payload (the agent's `clock` command reports the shared monotonic clock). Ratios are
# against 1.
set -eu
cd "$(dirname "$0")/.."
runs=${RUNS:-30}
nc=$PWD/${NANOCELL_BIN:-./nanocell}
docker=/usr/bin/docker
[ -x "$docker" ] || docker=docker
tmp=$(mktemp -d /tmp/nanocell-bench.XXXXXX)
chmod 755 "$tmp"
install="bench$$"
# The image: nanocell-agent:latest with this tree's agent on top (its `clock` command), under a
# name of the bench's own, so that another build of nanocell-agent:latest meanwhile cannot
# change what is measured.
image="nanocell-bench-agent:$$"
WPID="" FPID=""
dapi() { curl -sf --unix-socket /var/run/docker.sock "$@"; }
ours() { dapi "http://localhost/v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22nanocell.install%3D$install%22%5D%7D"; }
cleanup() {
	[ -n "$WPID" ] && kill -TERM "$WPID" 2>/dev/null && wait "$WPID" 2>/dev/null
	[ -n "$FPID" ] && kill -TERM "$FPID" 2>/dev/null && wait "$FPID" 2>/dev/null
	for id in $(ours | grep -o '"Id":"[0-9a-f]*"' | cut -d'"' -f4); do
		dapi -X DELETE "http://localhost/v1.41/containers/$id?force=1" >/dev/null || true
	done
	dapi -X DELETE "http://localhost/v1.41/images/$image?force=1" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
make -s images >/dev/null
mkdir -p "$tmp/ctx"
cp "${NANOCELL_BUILD:-build}/static/images/agent/agent" "$tmp/ctx/agent"
printf 'FROM nanocell-agent:latest\nCOPY agent /usr/bin/nanocell-agent\n' >"$tmp/ctx/Dockerfile"
tar -C "$tmp/ctx" -cf - Dockerfile agent | curl -sf --unix-socket /var/run/docker.sock -X POST \
	-H 'Content-Type: application/x-tar' --data-binary @- "http://localhost/v1.41/build?t=$image&q=1" >/dev/null ||
	{ echo "bench: could not build $image (is nanocell-agent:latest there? scripts/build-images.sh)" >&2; exit 1; }
TIMEFORMAT='%3R %3U %3S'

# config NAME RUNTIME IDLE POOL: a configuration of this bench's install.
config() {
	printf '[install]\nid = "%s"\ndata_dir = "%s/data-%s"\n[engine]\nhost = "unix:///var/run/docker.sock"\n' \
		"$install" "$tmp" "$1" >"$tmp/$1.toml"
	printf '[agent]\nimage = "%s"\nidle_timeout = "%s"\n[pool]\nenabled = %s\n[sandbox]\nruntime = "%s"\n' \
		"$image" "$3" "$4" "$2" >>"$tmp/$1.toml"
}
config auto auto 30m false
config default "" 30m false
config warm auto 200ms true
config follow auto 30m false

# start NAME: a daemon with that configuration and its own API socket; sets DPID.
start() {
	NANOCELL_CONFIG="$tmp/$1.toml" NANOCELL_API="$tmp/$1.sock" NANOCELL_LOG=debug \
		"$nc" serve >>"$tmp/$1.log" 2>&1 &
	DPID=$!
	for _ in $(seq 1 100); do
		NANOCELL_API="$tmp/$1.sock" "$nc" status >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	echo "bench: the daemon did not start" >&2
	cat "$tmp/$1.log" >&2
	exit 1
}
ncd() { local n=$1; shift; NANOCELL_CONFIG="$tmp/$n.toml" NANOCELL_API="$tmp/$n.sock" "$nc" "$@"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
pool_ready() { ncd warm status --json | jq -r '[.pool.groups[] | select(.group == "w") | .ready] | add // 0'; }

stats() { # "p50 p95 p99" of the numbers in file $1
	sort -n "$1" | awk '{v[NR]=$1} END {print v[int(NR*0.50+0.999)], v[int(NR*0.95+0.999)], v[int(NR*0.99+0.999)]}'
}
mean() { awk '{s += $1} END {if (NR) printf "%.2f", s / NR; else print "-"}' "$1"; }

# The group's folders, as nanocell makes them, for docker run's mounts.
ncd auto run -q --group bench -- "echo warm-up" >/dev/null
ncd default run -q --group bench -- "echo warm-up" >/dev/null
g="$tmp/data-auto/groups"
payload='{"prompt":"echo bench","groupFolder":"bench","chatJid":"cli","isMain":false}'
tmpfs="rw,noexec,nosuid,nodev,size=67108864"
# No ipc mount: without ipc/input the agent exits after its answer, as docker run -i expects.
docker_flags=(--read-only --cap-drop ALL --security-opt no-new-privileges
	--security-opt "seccomp=$PWD/policies/seccomp/agent.json" --network none --user 1000:1000
	--memory 512m --memory-swap 512m --pids-limit 256 --cpus 1 --ulimit nofile=1024:1024
	--ulimit nproc=512:512 --ulimit core=0:0 --ipc private --cgroupns private --init
	--log-driver none --tmpfs "/tmp:$tmpfs" --tmpfs "/var/tmp:$tmpfs" --tmpfs "/run:$tmpfs"
	--tmpfs "/dev/shm:$tmpfs" --tmpfs "/home/agent:$tmpfs" -e HOME=/home/agent
	-e NANOCELL_WORKSPACE=/workspace -w /workspace/group
	-v "$g/bench/workspace:/workspace/group" -v "$g/global:/workspace/global:ro"
	-v "$g/bench/state:/home/agent/.claude")
docker_run() { echo "$payload" | "$docker" run -i --rm "${docker_flags[@]}" "$image" >/dev/null; }
docker_run || { echo "bench: docker run with the hardening flags failed" >&2; exit 1; }

start warm
WPID=$DPID
ncd warm groups add w --no-trigger >/dev/null
ncd warm send --group w "echo warm-up" >/dev/null
start follow
FPID=$DPID
ncd follow groups add f --no-trigger >/dev/null
ncd follow send --group f "echo warm-up" >/dev/null

for f in docker auto default warm follow; do : >"$tmp/t.$f"; : >"$tmp/c.$f"; done
: >"$tmp/clock"
wcpu=0 fcpu=0
echo "nanocell bench: $runs interleaved turns per side, image $image"
echo "engine: $("$nc" doctor 2>/dev/null | awk '/^engine +(Docker|Podman)/{$1=""; print substr($0,2)}'); machine: $(nproc) cores, $(uname -r)"
for i in $(seq 1 "$runs"); do
	{ time docker_run 2>/dev/null; } 2>>"$tmp/t.docker"
	for rt in auto default; do
		{ time ncd "$rt" run -q --group bench -- "echo bench" >/dev/null 2>&1; } 2>>"$tmp/t.$rt"
	done
	# A pooled container for w: made after its last turn ended (not timed).
	for _ in $(seq 1 200); do [ "$(pool_ready)" -ge 1 ] && break; sleep 0.05; done
	c0=$(cpu_ticks "$WPID")
	{ time ncd warm send --group w "clock" >>"$tmp/clock" 2>/dev/null; } 2>>"$tmp/t.warm"
	wcpu=$((wcpu + $(cpu_ticks "$WPID") - c0))
	c0=$(cpu_ticks "$FPID")
	{ time ncd follow send --group f "echo follow-up $i" >/dev/null 2>&1; } 2>>"$tmp/t.follow"
	fcpu=$((fcpu + $(cpu_ticks "$FPID") - c0))
done
# The replacement a warm turn leaves is made after it: its CPU counts too.
sleep 1
hz=$(getconf CLK_TCK)

for f in docker auto default warm follow; do
	awk '{print $1 * 1000}' "$tmp/t.$f" >"$tmp/ms.$f"
	awk '{print ($2 + $3) * 1000}' "$tmp/t.$f" >"$tmp/cli.$f"
done
grep -o 'used [0-9.]* ms of CPU (warm)' "$tmp/warm.log" | awk '{print $2}' >"$tmp/thread.warm" || true
grep -o 'ready in [0-9]* ms, [0-9.]* ms of CPU' "$tmp/warm.log" | awk '{print $5}' >"$tmp/prep.warm" || true
# Dispatch: the agent's clock minus the daemon's accept time, message by message (in order).
grep -o 'message [0-9]* accepted at [0-9]* us' "$tmp/warm.log" | awk '{print $5}' | tail -n "$runs" >"$tmp/acc"
grep -o 'clock [0-9]*' "$tmp/clock" | awk '{print $2}' >"$tmp/agent"
paste "$tmp/acc" "$tmp/agent" | awk 'NF == 2 {printf "%.3f\n", ($2 - $1) / 1000}' >"$tmp/dispatch"

read -r d50 d95 d99 < <(stats "$tmp/ms.docker")
row() { # NAME FILE CPU
	read -r p50 p95 p99 < <(stats "$2")
	printf '%-46s %7s %7s %7s %7.3fx  %s\n' "$1" "$p50" "$p95" "$p99" "$(awk -v a="$p50" -v b="$d50" 'BEGIN {print a / b}')" "$3"
}
printf '%-46s %7s %7s %7s %8s  %s\n' "end to end, ms" p50 p95 p99 "p50/(1)" "nanocell CPU per turn"
row "1. docker run -i --rm, hardened" "$tmp/ms.docker" "-"
row "2. nanocell run, cold, runtime auto" "$tmp/ms.auto" "$(mean "$tmp/cli.auto") ms (process)"
row "3. nanocell run, cold, engine default" "$tmp/ms.default" "$(mean "$tmp/cli.default") ms (process)"
row "4. nanocell send, warm (pooled container)" "$tmp/ms.warm" \
	"$(awk -v t="$wcpu" -v n="$runs" -v hz="$hz" 'BEGIN {printf "%.2f", t * 1000 / hz / n}') ms daemon, $(mean "$tmp/thread.warm") ms turn thread, $(mean "$tmp/prep.warm") ms replacement, $(mean "$tmp/cli.warm") ms client"
row "5. nanocell send, follow-up (running agent)" "$tmp/ms.follow" \
	"$(awk -v t="$fcpu" -v n="$runs" -v hz="$hz" 'BEGIN {printf "%.2f", t * 1000 / hz / n}') ms daemon, $(mean "$tmp/cli.follow") ms client"
if [ -s "$tmp/dispatch" ]; then
	read -r w50 w95 w99 < <(stats "$tmp/dispatch")
	printf '%-46s %7s %7s %7s ms  (%s turns)\n' "warm dispatch, accepted -> payload read" "$w50" "$w95" "$w99" "$(wc -l <"$tmp/dispatch")"
else
	echo "warm dispatch: not measured (no clock in the agent's replies)"
fi
hits=$(ncd warm status --json | jq -r '.pool.hits')
printf 'pool: %s of %s warm turns ran in a pooled container\n' "$hits" "$((runs + 1))"
