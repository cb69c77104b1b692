#!/bin/bash
# `make bench`: the latency of one agent turn through nanocell against `docker run -i --rm` on
# the same image with the same input, in the same run, with runc and with crun. Runs are
# interleaved (A, B, A, B, ...) so that drift hits both sides alike; each side's median and
# 90th percentile are printed, with the ratio of medians. RUNS (default 15) sets the count.
#
# Both sides do the whole job: docker run creates, attaches, starts, feeds stdin, waits and
# removes (with default security settings); nanocell run also reaps orphans, builds and
# checks the hardened spec, verifies the container in inspect and in /proc, watches for OOM,
# writes a run log, and removes the container.
set -eu
cd "$(dirname "$0")/.."
runs=${RUNS:-15}
nc=${NANOCELL_BIN:-./nanocell}
docker=/usr/bin/docker
[ -x "$docker" ] || docker=docker
image=nanocell-agent:latest
payload='{"prompt":"echo bench","groupFolder":"bench","chatJid":"cli","isMain":false}'
tmp=$(mktemp -d /tmp/nanocell-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"

now_ns() { date +%s%N; }

# time_ms CMD...: runs CMD (stdin from /dev/null unless redirected), prints elapsed ms.
time_ms() {
	local t0 t1
	t0=$(now_ns)
	"$@" >/dev/null 2>&1 || { echo "bench: '$*' failed" >&2; return 1; }
	t1=$(now_ns)
	echo $(((t1 - t0) / 1000000))
}

docker_run() { echo "$payload" | "$docker" run -i --rm ${1:+--runtime "$1"} "$image" >/dev/null; }
nanocell_run() { "$nc" run --config "$tmp/$1.toml" -q --group bench -- "echo bench" >/dev/null; }

stats() { # prints "median p90" of the numbers in file $1
	sort -n "$1" | awk '{v[NR]=$1} END {m=v[int((NR+1)/2)]; p=v[int(NR*0.9+0.999)]; print m, p}'
}

for rt in runc crun; do
	printf '[install]\ndata_dir = "%s/data"\n[sandbox]\nruntime = "%s"\n' "$tmp" "$rt" >"$tmp/$rt.toml"
done
docker_run "" # warm the image and the engine
nanocell_run runc

echo "nanocell bench: $runs interleaved runs per side, image $image"
echo "engine: $("$nc" doctor 2>/dev/null | awk '/^engine +(Docker|Podman)/{$1=""; print substr($0,2)}')"
printf '%-34s %9s %9s\n' "" "median" "p90"
for rt in runc crun; do
	: >"$tmp/d.$rt" && : >"$tmp/n.$rt"
	for _ in $(seq 1 "$runs"); do
		time_ms docker_run "$rt" >>"$tmp/d.$rt"
		time_ms nanocell_run "$rt" >>"$tmp/n.$rt"
	done
	read -r dm dp < <(stats "$tmp/d.$rt")
	read -r nm np < <(stats "$tmp/n.$rt")
	printf '%-34s %7s ms %7s ms\n' "docker run -i --rm ($rt)" "$dm" "$dp"
	printf '%-34s %7s ms %7s ms\n' "nanocell run, hardened ($rt)" "$nm" "$np"
	awk -v n="$nm" -v d="$dm" -v rt="$rt" 'BEGIN {printf "%-34s %9.2fx\n", "ratio nanocell/docker (" rt ")", n / d}'
done
