#!/bin/bash
# nanocell serve against a real engine (NANOCELL_TEST_SOCKET, NANOCELL_TEST_ENGINE): groups
# through the API, replies streamed to send, several groups at once under the cap (never two
# containers for one group), follow-ups into a running agent, trigger rules, retries, kill -9 of
# the daemon at several points of a turn (every message answered, no reply delivered twice, the
# dead daemon's containers reaped), SIGTERM, SIGHUP, and an engine that is down then returns.
. "$(dirname "$0")/lib.sh"
sock=$NANOCELL_TEST_SOCKET
[ "$NANOCELL_TEST_ENGINE" = rootless-podman ] && { echo "1..0 # SKIP rootless Podman refuses turns by default"; exit 0; }
install="servetest$$"
chmod 755 "$TMP"
export NANOCELL_API="$TMP/api/api.sock"
export NANOCELL_CONFIG="$TMP/config.toml"
config() {
	printf '[install]\nid = "%s"\ndata_dir = "%s/data"\n[engine]\nhost = "%s"\n' \
		"$install" "$TMP" "${HOST:-unix://$sock}"
	printf '[agent]\nidle_timeout = "%s"\n' "${IDLE:-20s}"
	printf '[orch]\nmax_concurrent = %s\nshutdown_grace = "%s"\nretry_base = "%s"\n' "${CAP:-2}" \
		"${GRACE:-2s}" "${RETRY:-5s}"
	# The cold daemon: counting containers below counts turns. engine_pool.sh tests the pool.
	printf '[pool]\nenabled = false\n'
	printf '[sandbox]\n'
	true
}
config >"$NANOCELL_CONFIG"
api() { curl -sf --unix-socket "$sock" "$@"; }
ours() { api "http://localhost/v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22nanocell.install%3D$install%22%5D%7D"; }
count_ours() { ours | grep -o '"Id"' | wc -l; }
# ids_of GROUP: the ids of this install's containers for one group.
ids_of() { ours | grep -o "\"Id\":\"[0-9a-f]*\"[^}]*\"nanocell.group\":\"$1\"" | cut -d'"' -f4 | sort; }
DPID=""
cleanup() {
	[ -n "$DPID" ] && kill -9 "$DPID" 2>/dev/null
	for id in $(ours | grep -o '"Id":"[0-9a-f]*"' | cut -d'"' -f4); do
		api -X DELETE "http://localhost/v1.41/containers/$id?force=1" >/dev/null
	done
	rm -rf "$TMP"
}
trap cleanup EXIT

start_daemon() {
	"$NC" serve >>"$TMP/serve.log" 2>&1 &
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
kill9_daemon() {
	kill -9 "$DPID"
	wait "$DPID" 2>/dev/null
	DPID=""
}
# msgs GROUP: the group's stored messages, one JSON object a line.
msgs() { "$NC" messages --group "$1" --json; }
# wait_for GROUP JQ [TRIES]: until some stored message of the group satisfies the jq
# condition (0.2 s apart; 30 s by default).
wait_for() {
	for _ in $(seq 1 "${3:-150}"); do
		msgs "$1" 2>/dev/null | jq -e -s "any(.[]; $2)" >/dev/null && return 0
		sleep 0.2
	done
	return 1
}
# replies GROUP STATE: the texts of the group's replies in one delivery state, in order.
replies() { msgs "$1" | jq -r "select(.direction == \"out\" and .state == \"$2\") | .text"; }
# live_replies GROUP: replies that are or will be delivered (not superseded), in order.
live_replies() { msgs "$1" | jq -r 'select(.direction == "out" and .state != "superseded") | .text'; }
in_state() { msgs "$1" | jq -r "select(.direction == \"in\") | .state"; }

# --- no daemon ---
run "$NC" send --group x "echo hi"
expect_rc "a client with no daemon exits 3" 3
expect_match "it says how to start one" "$ERR" "nanocell serve"

# --- start, groups ---
start_daemon && ok "the daemon starts and answers" || not_ok "the daemon starts and answers" "$(cat "$TMP/serve.log")"
[ "$(stat -c %a "$NANOCELL_API")" = 600 ] && ok "the API socket is 0600" || not_ok "the API socket is 0600" "$(stat -c %a "$NANOCELL_API")"
[ "$(stat -c %a "$TMP/data/nanocell.db")" = 600 ] && ok "the database is 0600" || not_ok "the database is 0600"
run "$NC" groups add boss --main
expect_rc "groups add --main" 0
run "$NC" groups add other --main
expect_rc "a second main group is refused" 2
expect_match "the refusal names the main group" "$ERR" "boss"
run "$NC" groups add ../x
expect_rc "a bad folder name is refused" 2
for g in a b c; do "$NC" groups add "$g" --no-trigger >/dev/null; done
"$NC" groups add trig >/dev/null
run "$NC" groups ls --json
expect_match "groups ls lists them" "$OUT" '"folder":"trig"'

# --- one message ---
run "$NC" send --group boss "echo hello from serve"
expect_rc "send exits 0 once answered" 0
[ "$OUT" = "hello from serve" ] && ok "send prints the reply" || not_ok "send prints the reply" "$OUT" "$ERR"
[ "$(in_state boss)" = done ] && ok "the inbound message is stored done" || not_ok "the inbound message is stored done" "$(msgs boss)"
wait_for boss '.direction == "out" and .text == "hello from serve" and .state == "delivered" and (.reply_to | type) == "number"' 1 && ok "the reply is stored, delivered, with reply_to" || not_ok "the reply is stored, delivered, with reply_to" "$(msgs boss)"
wait_for boss '(.id | type) == "number" and .group == "boss" and (.time | test("^[0-9-]+T[0-9:.]+Z$"))' 1 && ok "messages --json has id, group and an ISO time" || not_ok "messages --json has id, group and an ISO time" "$(msgs boss)"

# --- follow-ups go into the running agent ---
before=$(ids_of boss)
[ -n "$before" ] && ok "the agent stays up after its answer, for follow-ups" || not_ok "the agent stays up after its answer, for follow-ups"
run "$NC" send --group boss "echo second message"
[ "$OUT" = "second message" ] && ok "a follow-up is answered" || not_ok "a follow-up is answered" "$OUT" "$ERR"
[ "$(ids_of boss)" = "$before" ] && ok "by the same container" || not_ok "by the same container" "$before" "$(ids_of boss)"

# --- several groups at once: the cap, one container per group ---
"$NC" groups rm boss >/dev/null # its idle agent would hold a slot
max_total=0
max_group=0
( while :; do
	n=$(count_ours)
	m=$(ours | grep -o '"nanocell.group":"[a-z]*"' | sort | uniq -c | awk '{print $1}' | sort -n | tail -1)
	echo "$n ${m:-0}" >>"$TMP/samples"
	sleep 0.1
done ) &
sampler=$!
pids=""
for i in 1 2 3; do
	for g in a b c; do
		"$NC" send --group "$g" "echo $g$i ; sleep 0.5" >"$TMP/send.$g$i" 2>&1 &
		pids="$pids $!"
	done
done
fails=0
for p in $pids; do wait "$p" || fails=$((fails + 1)); done
kill "$sampler" 2>/dev/null
wait "$sampler" 2>/dev/null
[ "$fails" -eq 0 ] && ok "nine parallel sends all exit 0" || not_ok "nine parallel sends all exit 0" "$(cat "$TMP"/send.*)"
answered=0
for i in 1 2 3; do for g in a b c; do grep -qx "$g$i" "$TMP/send.$g$i" && answered=$((answered + 1)); done; done
[ "$answered" -eq 9 ] && ok "every message got its own answer" || not_ok "every message got its own answer" "$answered of 9"
max_total=$(awk '{print $1}' "$TMP/samples" | sort -n | tail -1)
max_group=$(awk '{print $2}' "$TMP/samples" | sort -n | tail -1)
[ "$max_total" -le 2 ] && ok "never more containers than orch.max_concurrent (max seen $max_total)" || not_ok "never more containers than orch.max_concurrent" "max seen $max_total"
[ "$max_group" -le 1 ] && ok "never two containers for one group" || not_ok "never two containers for one group" "max seen $max_group"

# --- trigger rules ---
"$NC" send --group trig --no-wait "echo context only" >/dev/null
"$NC" send --group trig "@Andy echo triggered" >"$TMP/trig.out" 2>&1
run cat "$TMP/trig.out"
expect_match "a non-main group answers its trigger, with the context before it" "$OUT" "^context only$"
expect_match "and the triggered message" "$OUT" "^triggered$"

# --- kill -9 during streaming: the batch runs again, no reply delivered twice ---
"$NC" groups add k1 --no-trigger >/dev/null
"$NC" send --group k1 "echo one ; sleep 3 ; echo two" >/dev/null 2>&1 &
wait_for k1 '.text == "one" and .state == "delivered"' && ok "kill -9 test: the first reply is stored and streamed" || not_ok "kill -9 test: the first reply is stored and streamed" "$(msgs k1)"
kill9_daemon
[ "$(ids_of k1 | wc -l)" -eq 1 ] && ok "the dead daemon's container is still there" || not_ok "the dead daemon's container is still there"
start_daemon && ok "the daemon restarts after kill -9" || not_ok "the daemon restarts after kill -9" "$(tail -5 "$TMP/serve.log")"
expect_match "it reports the recovery" "$(cat "$TMP/serve.log")" "recovered from a crash: [0-9]+ runs? cut, 1 message to run again"
wait_for k1 '.text == "two"' && ok "the cut batch ran again to its end" || not_ok "the cut batch ran again to its end" "$(msgs k1)"
wait_for k1 '.direction == "in" and .state == "done"' && ok "its message is done" || not_ok "its message is done" "$(msgs k1)"
[ "$(live_replies k1 | tr '\n' ' ')" = "one one two " ] && ok "the whole answer is stored once more, the part already delivered kept" || not_ok "the whole answer is stored once more, the part already delivered kept" "$(msgs k1)"
[ "$(replies k1 delivered | grep -c .)" -le 1 ] && ok "no reply delivered twice" || not_ok "no reply delivered twice" "$(msgs k1)"

# --- kill -9 right after the message is accepted (before the container starts) ---
"$NC" groups add k2 --no-trigger >/dev/null
"$NC" send --group k2 --no-wait "echo early" >/dev/null
kill9_daemon
start_daemon
wait_for k2 '.text == "early"' && ok "a message accepted before the crash is answered after it" || not_ok "a message accepted before the crash is answered after it" "$(msgs k2)"
sleep 1
[ "$(live_replies k2 | grep -c '^early$')" -eq 1 ] && ok "exactly once" || not_ok "exactly once" "$(msgs k2)"

# --- kill -9 after the result: nothing runs again ---
"$NC" groups add k3 --no-trigger >/dev/null
"$NC" send --group k3 "echo after" >/dev/null
kill9_daemon
start_daemon
sleep 2
[ "$(live_replies k3 | grep -c '^after$')" -eq 1 ] && ok "an answered message is not run again after a crash" || not_ok "an answered message is not run again after a crash" "$(msgs k3)"
[ -z "$(ids_of k3)" ] && ok "the idle container of the dead daemon is reaped" || not_ok "the idle container of the dead daemon is reaped" "$(ids_of k3)"

# --- status and metrics ---
run "$NC" status --json
expect_match "status names the engine" "$OUT" '"engine"'
run curl -sf --unix-socket "$NANOCELL_API" http://localhost/metrics
expect_match "metrics count turns by outcome" "$OUT" 'nanocell_turns_total\{outcome="success"\} [0-9]+'

# --- SIGHUP: a bad configuration is refused, a good one taken ---
echo 'orch.nonsense = 1' >>"$NANOCELL_CONFIG"
kill -HUP "$DPID"
sleep 0.5
expect_match "a bad configuration is refused on SIGHUP" "$(cat "$TMP/serve.log")" "reload refused"
run "$NC" status
expect_rc "the daemon keeps serving" 0
CAP=3 config >"$NANOCELL_CONFIG"
kill -HUP "$DPID"
sleep 0.5
run "$NC" status --json
expect_match "a good configuration is taken" "$OUT" '"max_concurrent":3'

# --- a batch whose every try fails: backoff, then kept as failed; `retry` runs it again ---
RETRY=100ms CAP=3 config >"$NANOCELL_CONFIG"
kill -HUP "$DPID"
sleep 0.5
"$NC" groups add f1 --no-trigger >/dev/null
run timeout 120 "$NC" send --group f1 "fail it broke"
expect_rc "a message whose every try fails: send exits 1" 1
expect_match "send says it failed after its retries, with the agent's error" "$ERR" "failed after [0-9]+ tries.*it broke"
[ "$(in_state f1)" = failed ] && ok "the message is kept as failed" || not_ok "the message is kept as failed" "$(msgs f1)"
[ "$(grep -c 'group f1: run .* started' "$TMP/serve.log")" -eq 6 ] && ok "it ran once and was retried five times" || not_ok "it ran once and was retried five times" "$(grep 'group f1' "$TMP/serve.log")"
run "$NC" status --json
[ "$(echo "$OUT" | jq '.counts[] | select(.group == "f1") | .failed')" = 1 ] && ok "status counts the failed message" || not_ok "status counts the failed message" "$OUT"
run "$NC" retry f1
expect_rc "retry exits 0" 0
wait_for f1 '.direction == "in" and .state == "failed" and .attempts > 0' && [ "$(grep -c 'group f1: run .* started' "$TMP/serve.log")" -ge 7 ] && ok "retry ran it again" || not_ok "retry ran it again" "$(grep 'group f1' "$TMP/serve.log")"

# --- a session the agent says is gone: cleared, and the retry starts a fresh one ---
"$NC" groups add s1 --no-trigger >/dev/null
"$NC" send --group s1 "echo a session starts" >/dev/null
stop_daemon # the next message starts a new turn, with the stored session
start_daemon
run timeout 120 "$NC" send --group s1 "fail No conversation found with session id x"
expect_match "the stale session is cleared and the retry starts fresh" "$(cat "$TMP/serve.log")" "group s1: the agent's session [^ ]+ is gone: the retry starts a fresh one"
# Runs: the echo, then the six tries of any failing batch (NanoClaw counts this retry too).
[ "$(grep -c 'group s1: run .* started' "$TMP/serve.log")" -eq 7 ] && ok "the retries are counted and end" || not_ok "the retries are counted and end" "$(grep 'group s1' "$TMP/serve.log")"

# --- SIGTERM: running turns are stopped and removed; their messages run at the next start ---
"$NC" send --group a "echo slow ; sleep 30 ; echo never" >/dev/null 2>&1 &
wait_for a '.text == "slow"'
stop_daemon
[ "$DRC" -eq 0 ] && ok "SIGTERM: the daemon exits 0" || not_ok "SIGTERM: the daemon exits 0" "status $DRC"
[ "$(count_ours)" -eq 0 ] && ok "SIGTERM: no container is left" || not_ok "SIGTERM: no container is left" "$(ours)"
[ ! -e "$NANOCELL_API" ] && ok "SIGTERM: the socket is removed" || not_ok "SIGTERM: the socket is removed"

# --- an engine that is down: messages wait, and are answered when it returns ---
ln -s /nonexistent "$TMP/engine.sock"
HOST="unix://$TMP/engine.sock" config >"$NANOCELL_CONFIG"
start_daemon && ok "the daemon starts with its engine down" || not_ok "the daemon starts with its engine down" "$(tail -3 "$TMP/serve.log")"
"$NC" groups add down --no-trigger >/dev/null
"$NC" send --group down --no-wait "echo back again" >/dev/null
sleep 1
run "$NC" status --json
expect_match "status shows the group waiting to retry" "$OUT" '"group":"down","failures":[1-9]'
ln -sfn "$sock" "$TMP/engine.sock"
wait_for down '.text == "back again"' 150 && ok "the message is answered when the engine returns" || not_ok "the message is answered when the engine returns" "$(msgs down)" "$(tail -5 "$TMP/serve.log")"
stop_daemon
[ "$(count_ours)" -eq 0 ] && ok "nothing is left at the end" || not_ok "nothing is left at the end" "$(ours)"

done_testing
