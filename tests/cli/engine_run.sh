#!/bin/bash
# nanocell run against a real engine (NANOCELL_TEST_SOCKET, NANOCELL_TEST_ENGINE), with the
# reference agent in scripted mode: plain and multi-result turns, stderr floods that must not
# hold the timeout off, hard timeouts with and without output, error results before a
# timeout, --timeout that cuts nothing short, the idle and quiet closes, the output caps, OOM,
# non-zero exits, a container killed from outside, SIGTERM, SIGHUP, a closed stdout, the
# session line and --json errors, and a kill -9 reaped later.
. "$(dirname "$0")/lib.sh"
sock=$NANOCELL_TEST_SOCKET
[ "$NANOCELL_TEST_ENGINE" = rootless-podman ] && { echo "1..0 # SKIP rootless Podman refuses turns by default"; exit 0; }
install="runtest$$"
cfgdir="$TMP/cfg"
mkdir -p "$cfgdir"
chmod 755 "$TMP"
base() {
	printf '[install]\nid = "%s"\ndata_dir = "%s/data"\n[engine]\nhost = "unix://%s"\n' \
		"$install" "$TMP" "$sock"
	printf '[agent]\nidle_timeout = "%s"\nmax_output_size = "%s"\n' "${IDLE:-30m}" "${CAP:-10m}"
	[ -n "${QUIET:-}" ] && printf 'quiet_close = "%s"\n' "$QUIET"
	printf '[sandbox]\nmemory = "%s"\n' "${MEM:-512m}"
	true
}
export NANOCELL_CONFIG="$cfgdir/config.toml"
base >"$NANOCELL_CONFIG"
api() { curl -sf --unix-socket "$sock" "$@"; }
ours() { api "http://localhost/v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22nanocell.install%3D$install%22%5D%7D"; }
count_ours() { ours | grep -o '"Id"' | wc -l; }
latest_log() { ls -t "$TMP"/data/groups/default/logs/run-*.log 2>/dev/null | head -n 1; }
# wait_verified FILE: until the run writing its stderr to FILE has a verified, started
# container (at most 20 s).
wait_verified() {
	for _ in $(seq 1 100); do
		grep -q "sandbox verified" "$1" 2>/dev/null && return 0
		sleep 0.2
	done
	return 1
}

# --- a plain turn ---
run "$NC" run -- "echo hello from the sandbox"
expect_rc "a plain turn exits 0" 0
expect_match "the result is printed on stdout" "$OUT" "^hello from the sandbox$"
expect_match "progress names the engine" "$ERR" "engine (Docker|Podman) "
expect_match "progress says the sandbox was verified" "$ERR" "sandbox verified: [0-9]+ checks passed"
log=$(latest_log)
[ -n "$log" ] && [ "$(stat -c %a "$log")" = 600 ] && ok "the run log is written, mode 0600" || not_ok "the run log is written, mode 0600" "$log"
expect_match "the run log records metadata" "$(cat "$log")" "prompt_bytes: 27"
expect_match "the run log records the seccomp digest" "$(cat "$log")" "seccomp: [0-9a-f]{64} "
expect_match "the run log records the verification" "$(cat "$log")" "ok runtime.Seccomp"
if [ "$NANOCELL_TEST_ENGINE" = podman ]; then
	expect_match "on Podman, the runtime's spec (bundle config.json) holds nanocell's profile" \
		"$(cat "$log")" "ok bundle.seccomp"
fi
expect_no_match "the run log never holds the prompt or the result" "$(cat "$log")" "hello from the sandbox"
[ "$(count_ours)" -eq 0 ] && ok "no container is left after a turn" || not_ok "no container is left after a turn"

run sh -c "echo 'echo from stdin' | $NC run -q -- -"
expect_match "a prompt can come from stdin" "$OUT" "^from stdin$"

# --- several results, in order ---
run "$NC" run -q -- "emit 5"
expect_rc "several results exit 0" 0
[ "$OUT" = "$(printf 'result %d of 5\n' 1 2 3 4 5)" ] && ok "five results, in order" || not_ok "five results, in order" "$OUT"
run "$NC" run -q --json -- "emit 2"
expect_match "--json prints one object per result" "$OUT" '^\{"status":"success","result":"result 1 of 2","newSessionId":"[^"]+"\}$'
[ "$(echo "$OUT" | wc -l)" -eq 3 ] && ok "--json includes the session update" || not_ok "--json includes the session update" "$OUT"
expect_no_match "--json prints no session line" "$ERR" "session:"

# --- the session id, for --session without --json ---
run "$NC" run -- "echo remember me"
expect_match "plain mode ends with the session id on stderr" "$(echo "$ERR" | tail -n 1)" '^nanocell: session: [0-9a-f-]{36}$'
expect_no_match "the session id is not on stdout" "$OUT" "session"
sid=$(printf '%s\n' "$ERR" | sed -n 's/^nanocell: session: //p')
run "$NC" run -q --json --session "$sid" -- "echo again"
expect_match "the printed id continues the session" "$OUT" "\"newSessionId\":\"$sid\""
run "$NC" run -q -- "echo quiet"
expect_no_match "--quiet prints no session line" "$ERR" "session"

# --- errors and exits ---
run "$NC" run -q -- "exit 7"
expect_rc "an agent exiting non-zero is an agent error" 1
expect_match "the exit status is reported" "$ERR" "the agent exited with status 7"
run "$NC" run -q -- "fail the tool broke"
expect_rc "an error result is an agent error" 1
expect_match "the error result is shown" "$ERR" "agent error: the tool broke"
run "$NC" run -q --json -- "exit 7"
expect_rc "--json: an agent exiting non-zero still exits 1" 1
expect_match "--json: the failure is the last line, as an object" "$(echo "$OUT" | tail -n 1)" '^\{"type":"error","error":"the agent exited with status 7[^"]*","exit":1\}$'
run "$NC" run -q --json -- "emit 1"
expect_no_match "--json: no error object after a success" "$OUT" '"type"'

# --- timeouts ---
start=$(date +%s)
run "$NC" run -q --timeout 3 -- "sleep 60"
took=$(( $(date +%s) - start ))
expect_rc "a timeout with no result is an agent error" 1
expect_match "the timeout is reported" "$ERR" "timed out after 3s with no result"
[ "$took" -lt 20 ] && ok "--timeout 3 returns within seconds ($took s)" || not_ok "--timeout 3 returns within seconds" "took $took s"
run "$NC" run -q --timeout 3 -- "echo early ; sleep 60"
expect_rc "a timeout after a result counts as success" 0
expect_match "the early result was printed" "$OUT" "^early$"
expect_match "the timeout says so" "$ERR" "no result for 3s: stopping the container \(the turn ends as timed out\)"
expect_match "the run log records the timeout" "$(cat "$(latest_log)")" "timed_out: yes"
run "$NC" run -q --timeout 0.5 -- "sleep 60"
expect_rc "--timeout 0.5 (a fraction of a second) times out" 1
expect_match "and says after how long" "$ERR" "timed out after 500ms with no result"
# An error result fails the turn, even when a timeout follows it.
run "$NC" run -q --timeout 3 -- "fail it broke ; hold"
expect_rc "an error result, then a timeout, is an agent error" 1
expect_match "the error result is shown before the timeout" "$ERR" "agent error: it broke"
expect_match "both are reported" "$ERR" "reported 1 error result, then timed out \(no result for 3s\)"
expect_match "the run log records it" "$(cat "$(latest_log)")" "outcome: timed out after error results"
# --timeout S closes nothing early: a turn still at work runs until S pass with no result.
run "$NC" run -q --json --timeout 8 -- "echo first ; sleep 5 ; echo second"
expect_rc "--timeout 8 with a 5 s pause between results succeeds" 0
expect_match "the first result arrived" "$OUT" '"result":"first"'
expect_match "the second result arrived too" "$OUT" '"result":"second"'
log=$(cat "$(latest_log)")
expect_match "the run log: no timeout" "$log" "timed_out: no"
expect_match "the run log: closed only when the query completed" "$log" "close: the query is complete"
run "$NC" run -q --timeout 3 -- "stderr 200000 ; sleep 1 ; stderr 200000 ; sleep 1 ; stderr 200000 ; sleep 1 ; stderr 200000 ; sleep 1 ; stderr 200000 ; sleep 60"
expect_rc "stderr does not hold the timeout off" 1
expect_match "the flood timed out like silence" "$ERR" "timed out after 3s with no result"
[ "$(count_ours)" -eq 0 ] && ok "no container is left after timeouts" || not_ok "no container is left after timeouts"

# --- the idle close ---
IDLE=2s base >"$NANOCELL_CONFIG"
start=$(date +%s)
run "$NC" run -q -- "echo waiting ; hold"
took=$(( $(date +%s) - start ))
expect_rc "the idle close ends a waiting agent cleanly" 0
[ "$took" -ge 2 ] && [ "$took" -lt 25 ] && ok "it came after the idle timeout ($took s)" || not_ok "it came after the idle timeout" "took $took s"

# --- the quiet close (agent.quiet_close), for one-shot runs ---
# An agent like NanoClaw's runner: a result, then it waits for _close without reporting the
# query complete. run returns soon after the answer instead of after the idle timeout.
QUIET=2s base >"$NANOCELL_CONFIG"
run timeout 120 "$NC" run -- "echo the answer ; hold"
expect_rc "a result then a silent wait ends cleanly" 0
expect_match "the answer was printed" "$OUT" "^the answer$"
expect_match "the close is shown" "$ERR" "telling the agent to finish \(_close\): no output and no IPC activity for 2s after a result \(agent.quiet_close\)"
expect_match "the run log says why it closed" "$(cat "$(latest_log)")" "close: no output and no IPC activity for 2s after a result \(agent.quiet_close\), [0-9]+ ms into the turn"
# --timeout says how long silence may last: a silent pause longer than the quiet period, within
# the timeout, is not cut (the issue's "--timeout 60 ... sleep 35" case, scaled down).
run "$NC" run -q --json --timeout 8 -- "echo first ; sleep 4 ; echo second"
expect_rc "--timeout turns the quiet close off" 0
expect_match "the result after the silent pause arrived" "$OUT" '"result":"second"'
# An agent that keeps writing stderr after a result, for longer than the quiet period, before
# its next result, is at work: it is not told to finish.
busy="echo first"
for _ in 1 2 3 4 5 6 7 8 9 10; do busy="$busy ; stderr 2000 ; sleep 0.5"; done
run "$NC" run -q --json -- "$busy ; echo second"
expect_rc "stderr after a result keeps the turn open" 0
expect_match "the result after the stderr arrived" "$OUT" '"result":"second"'
expect_match "the run log: closed only when the query completed" "$(cat "$(latest_log)")" "close: the query is complete"
# Files the agent writes into ipc/messages (here, written for it) keep the turn open too: the
# turn ends after the last of them, not while they still come.
ipcdir="$TMP/data/groups/default/ipc/messages"
"$NC" run -q -- "echo first ; hold" >"$TMP/oq" 2>"$TMP/eq" &
pid=$!
for _ in $(seq 1 100); do grep -q first "$TMP/oq" 2>/dev/null && break; sleep 0.2; done
for i in 1 2 3 4 5 6 7 8 9 10; do
	echo '{}' >"$ipcdir/.host-test-$i.tmp" && mv "$ipcdir/.host-test-$i.tmp" "$ipcdir/host-test-$i.json"
	sleep 0.5
done
wait $pid
rc=$?
[ $rc -eq 0 ] && ok "IPC activity after a result: the turn ends cleanly" || not_ok "IPC activity: exit $rc" "$(cat "$TMP/eq")"
log=$(latest_log)
[ "$log" -nt "$ipcdir/host-test-10.json" ] && ok "the turn ended after the last IPC file" || not_ok "the turn ended after the last IPC file" "$(ls -l --time-style=full-iso "$log" "$ipcdir")"
expect_match "and then closed for quiet" "$(cat "$log")" "close: no output and no IPC activity"
rm -f "$ipcdir"/host-test-*.json
base >"$NANOCELL_CONFIG"

# --- output caps ---
CAP=1m base >"$NANOCELL_CONFIG"
run "$NC" run -q -- "spew 3000000 ; echo after the spew"
expect_rc "output past the cap still ends well" 0
expect_match "results after the cap are still read" "$OUT" "^after the spew$"
expect_match "one warning about the cap, in human units" "$ERR" "stdout passed 1 MiB:"
expect_match "the run log flags the truncation" "$(cat "$(latest_log)")" "stdout_bytes: [0-9]+ \(truncated\)"
run "$NC" run -q -- "stderr 3000000 ; echo done"
expect_match "stderr past the cap is flagged" "$(cat "$(latest_log)")" "stderr_bytes: 3000000 \(truncated\)"
[ "$(echo "$ERR" | grep -c 'stderr passed')" -eq 1 ] && ok "the stderr warning comes once" || not_ok "the stderr warning comes once" "$ERR"
run "$NC" run -q -- "big 2000000"
expect_rc "a result over the result cap is an agent error" 1
expect_match "and says so" "$ERR" "more than the limit of 1 MiB"

# --- OOM ---
MEM=64m base >"$NANOCELL_CONFIG"
run "$NC" run -q -- "hog 400"
expect_rc "an OOM-killed agent is an agent error" 1
expect_match "OOM is reported as such, with the limit" "$ERR" "ran out of memory \(limit 64 MiB\)"
expect_match "the run log records oom_killed" "$(cat "$(latest_log)")" "oom_killed: yes"
base >"$NANOCELL_CONFIG"

# --- killed from outside ---
"$NC" run -- "sleep 60" >"$TMP/o1" 2>"$TMP/e1" &
pid=$!
if wait_verified "$TMP/e1"; then
	id=$(ours | sed 's/.*"Id":"\([0-9a-f]*\)".*/\1/')
	api -X POST "http://localhost/v1.41/containers/$id/kill?signal=SIGKILL" >/dev/null
	wait $pid
	rc=$?
	[ $rc -eq 1 ] && ok "a container killed from outside ends the turn as an agent error" || not_ok "killed from outside: exit $rc" "$(cat "$TMP/e1")"
	expect_match "the kill is reported" "$(cat "$TMP/e1")" "exited with status 137"
else
	not_ok "the container to kill appeared"
	kill $pid
fi
[ "$(count_ours)" -eq 0 ] && ok "no container left after an outside kill" || not_ok "no container left after an outside kill"

# --- SIGTERM to nanocell run ---
"$NC" run -- "sleep 60" >"$TMP/o2" 2>"$TMP/e2" &
pid=$!
if wait_verified "$TMP/e2"; then
	kill -TERM $pid
	wait $pid
	rc=$?
	[ $rc -eq 143 ] && ok "SIGTERM ends nanocell run with 143" || not_ok "SIGTERM: exit $rc" "$(cat "$TMP/e2")"
	[ "$(count_ours)" -eq 0 ] && ok "SIGTERM leaves no container" || not_ok "SIGTERM leaves no container" "$(ours)"
else
	not_ok "the container appeared before SIGTERM"
	kill $pid
fi

# --- SIGHUP (the terminal closed): like SIGTERM ---
"$NC" run -- "sleep 60" >"$TMP/o5" 2>"$TMP/e5" &
pid=$!
if wait_verified "$TMP/e5"; then
	kill -HUP $pid
	wait $pid
	rc=$?
	[ $rc -eq 129 ] && ok "SIGHUP ends nanocell run with 129" || not_ok "SIGHUP: exit $rc" "$(cat "$TMP/e5")"
	expect_match "SIGHUP is named" "$(cat "$TMP/e5")" "interrupted by SIGHUP: the container was stopped and removed"
	[ "$(count_ours)" -eq 0 ] && ok "SIGHUP leaves no container" || not_ok "SIGHUP leaves no container" "$(ours)"
	run "$NC" ps
	expect_no_match "nanocell ps lists none after SIGHUP" "$OUT" "main"
else
	not_ok "the container appeared before SIGHUP"
	kill $pid
fi

# --- stdout closed under a turn (| head -1): stopped like a signal, not left running ---
"$NC" run -- "echo one ; sleep 2 ; echo two ; sleep 60" 2>"$TMP/e6" | head -n 1 >"$TMP/o6"
rc=${PIPESTATUS[0]}
[ $rc -eq 141 ] && ok "a closed stdout ends nanocell run with 141" || not_ok "closed stdout: exit $rc" "$(cat "$TMP/e6")"
[ "$(cat "$TMP/o6")" = one ] && ok "the reader got the first result" || not_ok "the reader got the first result" "$(cat "$TMP/o6")"
expect_match "the closed stdout is reported" "$(cat "$TMP/e6")" "stdout was closed: the container was stopped and removed"
[ "$(count_ours)" -eq 0 ] && ok "a closed stdout leaves no container" || not_ok "a closed stdout leaves no container" "$(ours)"

# --- kill -9 of nanocell: the next start reaps the orphan ---
"$NC" run -- "sleep 60" >/dev/null 2>"$TMP/e3" &
pid=$!
if wait_verified "$TMP/e3"; then
	kill -9 $pid
	wait $pid 2>/dev/null
	[ "$(count_ours)" -eq 1 ] && ok "kill -9 leaves the container behind" || not_ok "kill -9 leaves the container behind"
	run "$NC" run -- "echo next turn"
	expect_rc "the next turn runs" 0
	expect_match "the next start reaps the orphan" "$ERR" "removed orphaned container [0-9a-f]{12} \(group default\)"
	[ "$(count_ours)" -eq 0 ] && ok "nothing is left after the reaping" || not_ok "nothing is left after the reaping"
else
	not_ok "the container appeared before kill -9"
	kill -9 $pid
fi

# --- refusals ---
run "$NC" run -q --image nanocell-agent:no-such-tag -- "echo x"
expect_rc "a missing image is a configuration error" 2
expect_match "and says what to do" "$ERR" "build it \(scripts/build-images.sh"
run "$NC" run -q --group "../etc" -- "echo x"
expect_rc "a bad group name is a usage error" 2
done_testing
