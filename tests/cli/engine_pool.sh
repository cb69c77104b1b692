#!/bin/bash
# The warm pool of nanocell serve against a real engine (NANOCELL_TEST_SOCKET,
# NANOCELL_TEST_ENGINE): after a group's turn a pooled container is made and the next turn
# uses it, checked again first; it is never given to another group; it is discarded, and the
# turn runs cold, when its process died, when the group's image changed, or when a policy
# changed; a reload (config change) drains the pool, SIGTERM removes it, and after kill -9 the
# next start reaps it; the escape probe reports the same in a pooled container as in a cold one;
# pool.enabled = false turns it off.
. "$(dirname "$0")/lib.sh"
sock=$NANOCELL_TEST_SOCKET
[ "$NANOCELL_TEST_ENGINE" = rootless-podman ] && { echo "1..0 # SKIP rootless Podman refuses turns by default"; exit 0; }
install="pooltest$$"
chmod 755 "$TMP"
export NANOCELL_API="$TMP/api/api.sock"
export NANOCELL_CONFIG="$TMP/config.toml"
img="nanocell-pooltest$$:latest"
config() {
	printf '[install]\nid = "%s"\ndata_dir = "%s/data"\n[engine]\nhost = "unix://%s"\n' \
		"$install" "$TMP" "$sock"
	printf '[agent]\nidle_timeout = "1s"\n'
	printf '[pool]\nenabled = %s\nper_group = 1\nmax = %s\n' "${ENABLED:-true}" "${MAX:-10}"
	printf '[sandbox]\nseccomp_profile = "%s/seccomp.json"\n' "$TMP"
	[ "$NANOCELL_TEST_ENGINE" = podman ] && printf 'allow_unenforced = ["cgroupns"]\n'
	true
}
config >"$NANOCELL_CONFIG"
cp policies/seccomp/agent.json "$TMP/seccomp.json"
api() { curl -sf --unix-socket "$sock" "$@"; }
ours() { api "http://localhost/v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22nanocell.install%3D$install%22%5D%7D"; }
count_ours() { ours | grep -o '"Id"' | wc -l; }
# ids_of GROUP: the ids of this install's containers for one group.
ids_of() { ours | jq -r ".[] | select(.Labels[\"nanocell.group\"] == \"$1\") | .Id" | sort; }
DPID=""
cleanup() {
	[ -n "$DPID" ] && kill -9 "$DPID" 2>/dev/null
	for id in $(ours | grep -o '"Id":"[0-9a-f]*"' | cut -d'"' -f4); do
		api -X DELETE "http://localhost/v1.41/containers/$id?force=1" >/dev/null
	done
	api -X DELETE "http://localhost/v1.41/images/$img?force=1" >/dev/null 2>&1
	rm -rf "$TMP"
}
trap cleanup EXIT

start_daemon() {
	NANOCELL_LOG=debug "$NC" serve >>"$TMP/serve.log" 2>&1 &
	DPID=$!
	for _ in $(seq 1 100); do
		"$NC" status >/dev/null 2>&1 && return 0
		kill -0 "$DPID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
stop_daemon() {
	kill -TERM "$DPID" 2>/dev/null
	wait "$DPID"
	DRC=$?
	DPID=""
}
pool() { "$NC" status --json | jq -r ".pool.$1"; }
# ready GROUP: pooled containers ready for the group (0 when none).
ready() { "$NC" status --json | jq -r "[.pool.groups[] | select(.group == \"$1\") | .ready] | add // 0"; }
# wait_ready GROUP N: until the group has N pooled containers (30 s at most).
wait_ready() {
	for _ in $(seq 1 150); do
		[ "$(ready "$1")" = "$2" ] && return 0
		sleep 0.2
	done
	return 1
}
# wait_gone ID: until the engine no longer lists the container (30 s at most).
wait_gone() {
	for _ in $(seq 1 150); do
		ours | grep -q "\"$1\"" || return 0
		sleep 0.2
	done
	return 1
}
# the newest run log of a group
lastlog() { ls -t "$TMP/data/groups/$1/logs/"run-*.log | head -1; }
nlogs() { ls "$TMP/data/groups/$1/logs/" 2>/dev/null | grep -c '^run-'; }
# send GROUP TEXT: sends and, once the reply is in, waits for the turn to end (its run log; the
# agent is closed 1 s after its last result).
send() {
	local before rc
	before=$(nlogs "$1")
	"$NC" send --group "$1" "$2"
	rc=$?
	for _ in $(seq 1 150); do
		[ "$(nlogs "$1")" -gt "$before" ] && break
		sleep 0.1
	done
	return $rc
}

# A copy of the agent image under a name of this test's own, so that changing it disturbs
# nothing else. build_image TAG LABEL: an image FROM the agent's with one label more.
build_image() {
	mkdir -p "$TMP/ctx"
	printf 'FROM %s\nLABEL nanocell.pooltest=%s\n' "${NANOCELL_TEST_IMAGE:-nanocell-agent:latest}" "$2" >"$TMP/ctx/Dockerfile"
	tar -C "$TMP/ctx" -cf - Dockerfile |
		curl -sf --unix-socket "$sock" -X POST -H 'Content-Type: application/x-tar' \
			--data-binary @- "http://localhost/v1.41/build?t=$1&q=1" >/dev/null
}
build_image "$img" one || { not_ok "build a test image" "the engine refused to build $img"; done_testing; exit 1; }

start_daemon || { not_ok "the daemon starts" "$(cat "$TMP/serve.log")"; done_testing; exit 1; }
"$NC" groups add g1 --no-trigger >/dev/null
"$NC" groups add g2 --no-trigger >/dev/null
"$NC" groups add gi --no-trigger --image "$img" >/dev/null

# --- a pooled container is made after a turn and used, checked again, by the next one ---
run send g1 "probe"
expect_rc "the first turn of a group runs (cold)" 0
# The probe's report with its environment names sorted (Podman lists them in any order).
norm() { awk '/^environment names:/ {n = split(substr($0, 20), w, " "); asort(w); s = "environment names:"; for (i = 1; i <= n; i++) s = s " " w[i]; print s; next} {print}' <<<"$1"; }
cold_probe=$(norm "$OUT")
expect_match "a cold turn has no pooled container to use" "$(cat "$(lastlog g1)")" "phases_ms: create="
wait_ready g1 1 && ok "after the turn a pooled container is ready for the group" ||
	not_ok "after the turn a pooled container is ready for the group" "$("$NC" status)"
pooled=$(ids_of g1)
[ "$(echo "$pooled" | wc -w)" = 1 ] && ok "the group's pooled container is the only one it has" ||
	not_ok "the group's pooled container is the only one it has" "$pooled"
state=$(api "http://localhost/v1.41/containers/$pooled/json" | jq -r '.State.Status')
[ "$state" = running ] && ok "the pooled container is started (blocked on its stdin)" ||
	not_ok "the pooled container is started (blocked on its stdin)" "state $state"

# --- never given to another group ---
run send g2 "echo for g2"
expect_rc "another group's turn runs" 0
log2=$(cat "$(lastlog g2)")
expect_no_match "another group's turn does not get the pooled container" "$log2" "container: $pooled"
expect_match "it runs cold" "$log2" "phases_ms: create="
[ "$(ids_of g1)" = "$pooled" ] && ok "the first group's pooled container is still there, unused" ||
	not_ok "the first group's pooled container is still there, unused" "$(ids_of g1)"

# --- the escape probe: the same in a pooled container as in a cold one ---
run send g1 "probe"
expect_rc "the group's next turn runs" 0
log=$(cat "$(lastlog g1)")
expect_match "it runs in the pooled container" "$log" "container: $pooled"
expect_match "which was checked again before use" "$log" "ok pooled: made [0-9]+ ms before the turn, checked again"
expect_match "its timeline starts at the take" "$log" "phases_ms: pooled="
[ "$(norm "$OUT")" = "$cold_probe" ] && ok "the escape probe reports the same in a pooled container as in a cold one" ||
	not_ok "the escape probe reports the same in a pooled container as in a cold one" "cold: $cold_probe" "pooled: $OUT"
expect_match "the probe: no capabilities" "$OUT" "CapEff: 0000000000000000"
expect_match "the probe: seccomp filter" "$OUT" "Seccomp: 2"
expect_match "the probe: the root is read-only" "$OUT" "cannot write /: Read-only file system"
expect_match "the probe: no network" "$OUT" "network interfaces: lo only"
expect_match "status counts the hit" "$("$NC" status)" "hits: 1"
wait_ready g1 1
wait_gone "$pooled" && ok "the used container is removed after its turn" || not_ok "the used container is removed after its turn"
metrics=$(curl -sf --unix-socket "$NANOCELL_API" http://localhost/metrics)
expect_match "/metrics shows the pool's size (g1 and g2)" "$metrics" "nanocell_pool_size 2"
expect_match "/metrics shows the hit" "$metrics" "nanocell_pool_hits_total 1"

# --- a dead pooled container is discarded: the turn runs cold ---
pooled=$(ids_of g1)
api -X POST "http://localhost/v1.41/containers/$pooled/kill?signal=KILL" >/dev/null
run send g1 "echo after a kill"
expect_rc "a turn after its pooled container died runs" 0
expect_match "and answers" "$OUT" "after a kill"
log=$(cat "$(lastlog g1)")
expect_no_match "not in the dead container" "$log" "container: $pooled"
expect_match "but cold" "$log" "phases_ms: create="
expect_match "the daemon says why the pooled container was not used" "$(cat "$TMP/serve.log")" \
	"pooled container was not used: .*(gone|exited|not quiet|another process)"
expect_match "status counts the discard" "$("$NC" status)" "discards: 1"

# --- a policy changed on disk (the seccomp profile), with no reload: seen at the take ---
wait_ready g1 1
pooled=$(ids_of g1)
sed -i 's/"defaultErrnoRet": 38/"defaultErrnoRet": 1/' "$TMP/seccomp.json"
run send g1 "echo new profile"
expect_rc "the turn after the profile changed runs" 0
log=$(cat "$(lastlog g1)")
expect_no_match "not in the container made under the old profile" "$log" "container: $pooled"
expect_match "but cold" "$log" "phases_ms: create="
expect_match "the daemon says a policy changed" "$(cat "$TMP/serve.log")" \
	"pooled container was not used: the configuration, a policy or the group changed"

# --- a reload (a configuration change) drains the pool ---
wait_ready g1 1
pooled=$(ids_of g1)
kill -HUP "$DPID"
wait_gone "$pooled" && ok "a reload drains the pool" || not_ok "a reload drains the pool" "$(ids_of g1)"
expect_match "the daemon says so" "$(cat "$TMP/serve.log")" "warm pool drained \(configuration reloaded\)"
wait_ready g1 1 && ok "and makes a new one under the new configuration" ||
	not_ok "and makes a new one under the new configuration" "$("$NC" status)"
run send g1 "echo after reload"
expect_match "which the next turn uses" "$(cat "$(lastlog g1)")" "phases_ms: pooled="

# --- an image change: the pooled container of the old image is not used ---
run send gi "echo image one"
expect_rc "a group with its own image runs" 0
wait_ready gi 1
pooled=$(ids_of gi)
old_image=$(api "http://localhost/v1.41/containers/$pooled/json" | jq -r .Image)
build_image "$img" two
run send gi "echo image two"
expect_rc "the turn after the image changed runs" 0
log=$(cat "$(lastlog gi)")
expect_no_match "not in the container of the old image" "$log" "container: $pooled"
expect_no_match "it runs the new image" "$log" "image_id: $old_image"
expect_match "the daemon says the image changed" "$(cat "$TMP/serve.log")" "pooled container was not used: the image '$img' changed"

# --- a group removed: its pooled container goes ---
wait_ready g2 1
pooled=$(ids_of g2)
"$NC" groups rm g2 >/dev/null
wait_gone "$pooled" && ok "removing a group removes its pooled container" ||
	not_ok "removing a group removes its pooled container" "$(ids_of g2)"

# --- SIGTERM removes the pool ---
wait_ready g1 1
wait_ready gi 1
[ "$(count_ours)" -ge 2 ] && ok "pooled containers wait while the daemon runs" || not_ok "pooled containers wait while the daemon runs" "$(count_ours)"
stop_daemon
[ "$DRC" = 0 ] && ok "SIGTERM: the daemon exits 0" || not_ok "SIGTERM: the daemon exits 0" "status $DRC"
[ "$(count_ours)" = 0 ] && ok "SIGTERM removes every pooled container" || not_ok "SIGTERM removes every pooled container" "$(ours)"

# --- kill -9: the next start reaps them ---
start_daemon
run send g1 "echo before the crash"
wait_ready g1 1
left=$(ids_of g1)
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
DPID=""
[ -n "$left" ] && [ "$(ids_of g1)" = "$left" ] && ok "after kill -9 the pooled container is left" ||
	not_ok "after kill -9 the pooled container is left" "$(ours)"
start_daemon
[ "$(ids_of g1)" != "$left" ] && ! ours | grep -q "\"$left\"" && ok "the next start reaps it by label" ||
	not_ok "the next start reaps it by label" "$(ours)"
expect_match "and says so" "$(cat "$TMP/serve.log")" "removed container ${left:0:12} left by a nanocell that is gone"
stop_daemon

# --- pool.enabled = false ---
ENABLED=false config >"$NANOCELL_CONFIG"
start_daemon
run send g1 "echo no pool 1"
run send g1 "echo no pool 2"
expect_rc "with the pool off, turns run" 0
expect_match "cold" "$(cat "$(lastlog g1)")" "phases_ms: create="
# The turn's own container ends with the idle close; nothing is made after it.
for _ in $(seq 1 50); do [ "$(count_ours)" = 0 ] && break; sleep 0.2; done
sleep 1
[ "$(count_ours)" = 0 ] && ok "and no container waits" || not_ok "and no container waits" "$(ours)"
expect_match "status says the pool is off" "$("$NC" status)" "enabled: no"
stop_daemon

done_testing
