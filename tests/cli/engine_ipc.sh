#!/bin/bash
# IPC and the scheduler against a real engine and the daemon (NANOCELL_TEST_SOCKET,
# NANOCELL_TEST_ENGINE), driven by the reference agent's scripted IPC commands: a message to
# the agent's own chat (delivered once), to another group's chat (denied, logged, counted), main
# writing anywhere, tasks scheduled by the CLI and by an agent that fire at their second in
# orch.timezone and whose results reach the chat, pause, resume and cancel (own tasks only),
# main registering a group (never as main), the snapshots agents read, and a file the agent's
# user does not own moved to ipc/errors. NANOCELL_AGENT_IMAGE overrides the agent image.
. "$(dirname "$0")/lib.sh"
sock=$NANOCELL_TEST_SOCKET
[ "$NANOCELL_TEST_ENGINE" = rootless-podman ] && { echo "1..0 # SKIP rootless Podman refuses turns by default"; exit 0; }
install="ipctest$$"
zone=Asia/Kolkata # +05:30 all year: no DST, and an offset no host is likely to have
chmod 755 "$TMP"
export NANOCELL_API="$TMP/api/api.sock"
export NANOCELL_CONFIG="$TMP/config.toml"
{
	printf '[install]\nid = "%s"\ndata_dir = "%s/data"\n[engine]\nhost = "unix://%s"\n' \
		"$install" "$TMP" "$sock"
	printf '[agent]\nidle_timeout = "3s"\nimage = "%s"\n' "${NANOCELL_AGENT_IMAGE:-nanocell-agent:latest}"
	printf '[orch]\nmax_concurrent = 3\nshutdown_grace = "2s"\ntimezone = "%s"\n' "$zone"
	printf '[sandbox]\n'
	[ "$NANOCELL_TEST_ENGINE" = podman ] && printf 'allow_unenforced = ["cgroupns"]\n'
	true
} >"$NANOCELL_CONFIG"
api() { curl -sf --unix-socket "$sock" "$@"; }
ours() { api "http://localhost/v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22nanocell.install%3D$install%22%5D%7D"; }
DPID=""
cleanup() {
	[ -n "$DPID" ] && kill -9 "$DPID" 2>/dev/null
	for id in $(ours | grep -o '"Id":"[0-9a-f]*"' | cut -d'"' -f4); do
		api -X DELETE "http://localhost/v1.41/containers/$id?force=1" >/dev/null
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
msgs() { "$NC" messages --group "$1" --json; }
wait_for() {
	for _ in $(seq 1 "${3:-150}"); do
		msgs "$1" 2>/dev/null | jq -e -s "any(.[]; $2)" >/dev/null && return 0
		sleep 0.2
	done
	return 1
}
count_out() { msgs "$1" | jq -s "[.[] | select(.direction == \"out\" and .text == \"$2\")] | length"; }
log_has() { grep -qE -- "$1" "$TMP/serve.log"; }
# wait_log REGEX: until the daemon's log has a line matching it (20 s): the watcher acts on a
# file once it is written, which a loaded machine may delay past the agent's answer.
wait_log() {
	for _ in $(seq 1 100); do log_has "$1" && return 0; sleep 0.2; done
	return 1
}
metric() { curl -sf --unix-socket "$NANOCELL_API" http://localhost/metrics | grep -F "$1" | awk '{print $2}'; }
task_json() { "$NC" tasks show "$1" --json; }
# wait_task ID JQ: until the task satisfies the jq condition (30 s).
wait_task() {
	for _ in $(seq 1 150); do
		task_json "$1" 2>/dev/null | jq -e "$2" >/dev/null && return 0
		sleep 0.2
	done
	return 1
}
# local time in the zone, SECS from now
at() { TZ=$zone date -d "+$1 sec" +%Y-%m-%dT%H:%M:%S; }

"$NC" serve >>"$TMP/serve.log" 2>&1 &
DPID=$!
for _ in $(seq 1 100); do "$NC" status >/dev/null 2>&1 && break; sleep 0.1; done
"$NC" groups add main --main >/dev/null && "$NC" groups add fam --no-trigger >/dev/null &&
	"$NC" groups add work --no-trigger >/dev/null && ok "the daemon runs with three groups" ||
	not_ok "the daemon runs with three groups" "$(cat "$TMP/serve.log")"

# --- messages ---
run "$NC" send --group fam "ipc-send hello from fam"
expect_match "an IPC message to the agent's own chat reaches the chat's stream" "$OUT" "^hello from fam$"
wait_for fam '.direction == "out" and .text == "hello from fam" and .state == "delivered"' &&
	ok "it is stored in the outbox and delivered" || not_ok "it is stored in the outbox and delivered" "$(msgs fam)"
[ "$(count_out fam "hello from fam")" = 1 ] && ok "once" || not_ok "once" "$(msgs fam)"

run "$NC" send --group fam "ipc-send-to local:work sneaky"
wait_log "group fam: ipc message denied"
[ "$(msgs work | jq -s '[.[] | select(.text == "sneaky")] | length')" = 0 ] &&
	[ "$(msgs fam | jq -s '[.[] | select(.text == "sneaky")] | length')" = 0 ] &&
	ok "a message to another group's chat is not stored" || not_ok "a message to another group's chat is not stored" "$(msgs work)"
log_has "group fam: ipc message denied .*: the chat belongs to another group" &&
	ok "the denial is logged with group, type and reason" || not_ok "the denial is logged with group, type and reason" "$(tail -5 "$TMP/serve.log")"
[ "$(metric 'nanocell_ipc_denied_total{group="fam",type="message"}')" = 1 ] &&
	ok "and counted in /metrics" || not_ok "and counted in /metrics" "$(curl -sf --unix-socket "$NANOCELL_API" http://localhost/metrics | grep ipc)"

run "$NC" send --group main "ipc-send-to local:work from main"
wait_for work '.direction == "out" and .text == "from main" and .state == "pending"' &&
	ok "main writes to another group's chat (pending in its outbox)" || not_ok "main writes to another group's chat" "$(msgs work)"

# --- the snapshots agents read ---
ipc=$TMP/data/groups
jq -e '.groups | length >= 3' "$ipc/main/ipc/available_groups.json" >/dev/null &&
	ok "main's available_groups.json lists the chats" || not_ok "main's available_groups.json lists the chats" "$(cat "$ipc/main/ipc/available_groups.json")"
jq -e '.groups == [] and (.lastSync | type) == "string"' "$ipc/fam/ipc/available_groups.json" >/dev/null &&
	ok "another group's lists none" || not_ok "another group's lists none" "$(cat "$ipc/fam/ipc/available_groups.json")"

# --- tasks from the CLI: once, at its second, in orch.timezone ---
when=$(at 4)
run "$NC" tasks add --group fam --id cli-once --once "$when" "echo tick from the cli"
expect_rc "tasks add --once" 0
expect_match "it shows the next run in the zone with its offset" "$OUT" "\+05:30"
wait_for fam '.direction == "out" and .text == "tick from the cli"' &&
	ok "the task fires and its result reaches the group's chat" || not_ok "the task fires and its result reaches the group's chat" "$(msgs fam)" "$(tail -20 "$TMP/serve.log")"
wait_task cli-once '.runs | length == 1' || not_ok "the run is logged" "$(task_json cli-once)"
due=$(task_json cli-once | jq -r '.runs[0].due')
ran=$(task_json cli-once | jq -r '.runs[0].ran')
due_s=$(TZ=$zone date -d "$when" +%s)
[ "$(date -d "$due" +%s)" = "$due_s" ] && ok "it was due at the local time given, read in orch.timezone" ||
	not_ok "it was due at the local time given, read in orch.timezone" "due $due, asked $when $zone"
[ "$(date -d "$ran" +%s)" -ge "$due_s" ] && [ "$(date -d "$ran" +%s)" -le $((due_s + 5)) ] &&
	ok "it ran at its second, never before (ran $ran)" || not_ok "it ran at its second, never before" "due $due ran $ran"
wait_task cli-once '.status == "completed" and .next_run == null' &&
	ok "a once task is completed after its run" || not_ok "a once task is completed after its run" "$(task_json cli-once)"
run "$NC" tasks ls --json
[ "$(printf '%s\n' "$OUT" | grep -c '^{')" -ge 1 ] && printf '%s\n' "$OUT" | jq -e -s 'all(.[]; .id and .group)' >/dev/null &&
	ok "tasks ls --json prints one object per line" || not_ok "tasks ls --json prints one object per line" "$OUT"

# --- the pre-check script gate: the agent runs the task's script first ---
run "$NC" tasks add --group work --id gate-no --once "$(at 1)" --script 'echo starting; echo "{\"wakeAgent\": false}"' "echo gate closed"
run "$NC" tasks add --group work --id gate-yes --once "$(at 1)" --script 'echo "{\"wakeAgent\": true, \"data\": {\"n\": 1}}"' "echo gate open"
wait_for work '.direction == "out" and .text == "gate open"' &&
	ok "a task whose script says wakeAgent true runs" || not_ok "a task whose script says wakeAgent true runs" "$(msgs work)"
wait_task gate-no '.status == "completed" and (.runs | length) == 1' &&
	[ "$(count_out work "gate closed")" = 0 ] && ok "one whose script says false runs no query, and is logged" ||
	not_ok "one whose script says false runs no query, and is logged" "$(task_json gate-no)" "$(msgs work)"

# --- tasks from an agent, through IPC ---
when=$(at 5)
run "$NC" send --group fam "schedule --id agent-once once $when echo tick from the agent"
expect_match "the agent writes a schedule_task file" "$OUT" "scheduled once"
wait_task agent-once '.group == "fam" and .created_by == "ipc:fam" and .context_mode == "group"' &&
	ok "the host stores it for the agent's own group" || not_ok "the host stores it for the agent's own group" "$(task_json agent-once)" "$(tail -5 "$TMP/serve.log")"
jq -e 'map(.id) | index("agent-once") != null and index("cli-once") != null' "$ipc/fam/ipc/current_tasks.json" >/dev/null &&
	ok "current_tasks.json lists the group's tasks" || not_ok "current_tasks.json lists the group's tasks" "$(cat "$ipc/fam/ipc/current_tasks.json")"
wait_for fam '.direction == "out" and .text == "tick from the agent"' &&
	ok "the agent's task fires and its result reaches the chat" || not_ok "the agent's task fires and its result reaches the chat" "$(msgs fam)"

run "$NC" send --group fam "schedule --target local:work once $(at 3600) echo for work"
wait_log "group fam: ipc schedule_task denied .*: only the main group schedules tasks for another group" &&
	ok "a group cannot schedule for another group" || not_ok "a group cannot schedule for another group" "$(tail -5 "$TMP/serve.log")"
run "$NC" send --group main "schedule --id main-for-work --target local:work once $(at 3600) echo for work"
wait_task main-for-work '.group == "work"' && ok "main schedules for another group" || not_ok "main schedules for another group" "$(tail -5 "$TMP/serve.log")"
jq -e 'map(.id) | index("main-for-work") == null' "$ipc/fam/ipc/current_tasks.json" >/dev/null &&
	jq -e 'map(.id) | index("main-for-work") != null' "$ipc/main/ipc/current_tasks.json" >/dev/null &&
	ok "current_tasks.json is filtered per group (main sees all)" || not_ok "current_tasks.json is filtered per group" "$(cat "$ipc/fam/ipc/current_tasks.json")"

# --- pause, resume, cancel ---
run "$NC" send --group fam "schedule --id tick2 interval 2000 echo every two seconds"
wait_for fam '.direction == "out" and .text == "every two seconds"' &&
	ok "an interval task fires" || not_ok "an interval task fires" "$(msgs fam)"
run "$NC" send --group fam "pause-task tick2"
wait_task tick2 '.status == "paused"' && ok "the agent pauses its own task" || not_ok "the agent pauses its own task" "$(task_json tick2)"
# A run that had started before the pause still answers, within a few seconds of it; none after.
paused_at=$(date +%s)
sleep 8
late=$(msgs fam | jq -s --argjson t "$((paused_at + 4))" '[.[] | select(.text == "every two seconds" and (.time | sub("\\.[0-9]+Z$"; "Z") | fromdateiso8601) > $t)] | length')
[ "$late" = 0 ] && ok "a paused task does not run" || not_ok "a paused task does not run" "$(msgs fam | grep 'every two')"
run "$NC" send --group work "pause-task agent-once ; cancel-task tick2"
wait_log "group work: ipc pause_task denied .*: the task belongs to another group" &&
	wait_log "group work: ipc cancel_task denied .*: the task belongs to another group" &&
	task_json tick2 >/dev/null && ok "a group cannot pause or cancel another group's task" ||
	not_ok "a group cannot pause or cancel another group's task" "$(tail -5 "$TMP/serve.log")"
run "$NC" send --group fam "list-tasks"
expect_match "the agent reads its current_tasks.json through its mount" "$OUT" "\[tick2\] .* - paused, next: "
run "$NC" send --group fam "update-task tick2 echo updated prompt"
wait_task tick2 '.prompt == "echo updated prompt"' && ok "the agent updates its own task" || not_ok "the agent updates its own task" "$(task_json tick2)"
run "$NC" send --group fam "resume-task tick2"
wait_task tick2 '.status == "active"' && ok "the agent resumes it" || not_ok "the agent resumes it" "$(task_json tick2)"
run "$NC" send --group fam "cancel-task tick2"
for _ in $(seq 1 50); do task_json tick2 >/dev/null 2>&1 || break; sleep 0.2; done
run "$NC" tasks show tick2
expect_rc "the agent cancels it: the task is gone" 2
run "$NC" tasks add --group work --id w1 --every 1h "echo hourly"
expect_rc "tasks add --every" 0
run "$NC" tasks pause w1
[ "$(task_json w1 | jq -r .status)" = paused ] && ok "tasks pause" || not_ok "tasks pause" "$(task_json w1)"
run "$NC" tasks resume w1
[ "$(task_json w1 | jq -r .status)" = active ] && ok "tasks resume" || not_ok "tasks resume" "$(task_json w1)"
run "$NC" tasks rm w1
expect_rc "tasks rm" 0
run "$NC" tasks add --group work --id c1 --cron "*/30 * * * *" "echo half-hourly"
expect_match "a cron task's next run is on the half hour, in the zone" "$(task_json c1 | jq -r .next_run_local)" ':(00|30):00\+05:30$'
"$NC" tasks rm c1 >/dev/null
run "$NC" tasks add --group fam --cron "61 * * * *" "echo never"
expect_rc "a bad cron expression is refused" 2
expect_match "with the reason" "$ERR" "61"

# --- registering groups ---
run "$NC" send --group fam "register-group local:sneak Sneak sneak @Andy"
wait_log "group fam: ipc register_group denied"
run "$NC" groups show sneak
expect_rc "a group other than main cannot register a group" 2
log_has "group fam: ipc register_group denied .*: only the main group registers groups" &&
	ok "the denial is logged" || not_ok "the denial is logged" "$(tail -5 "$TMP/serve.log")"
run "$NC" send --group main "register-group local:evil Evil evil @Andy --main"
wait_log "group main: ipc register_group denied"
run "$NC" groups show evil
expect_rc "nobody sets is_main through IPC" 2
log_has "group main: ipc register_group denied .*: is_main cannot be set through IPC" &&
	ok "that denial is logged" || not_ok "that denial is logged" "$(tail -5 "$TMP/serve.log")"
run "$NC" send --group main "register-group tg:12345 Newcomers newg @Andy"
for _ in $(seq 1 50); do "$NC" groups show newg >/dev/null 2>&1 && break; sleep 0.2; done
run "$NC" groups show newg --json
expect_match "main registers a new group through IPC" "$OUT" '"folder":"newg"'
expect_match "not as main" "$OUT" '"is_main":false'
run "$NC" send --group newg "echo hello newcomer"
[ "$OUT" = "hello newcomer" ] && ok "the new group's agent answers" || not_ok "the new group's agent answers" "$OUT" "$ERR"

# --- files the host refuses ---
dir=$TMP/data/groups/fam/ipc/messages
printf '{"type":"message","chatJid":"local:fam","text":"from root"}' >"$dir/root.json"
ln -s /etc/shadow "$dir/shadow.json"
wait_log "shadow.json moved to ipc/errors"
wait_log "root.json moved to ipc/errors"
[ -e "$TMP/data/groups/fam/ipc/errors/messages-root.json" ] && [ -L "$TMP/data/groups/fam/ipc/errors/messages-shadow.json" ] &&
	ok "a file of another owner and a symlink are moved to ipc/errors" || not_ok "a file of another owner and a symlink are moved to ipc/errors" "$(ls -la "$TMP/data/groups/fam/ipc/" "$TMP/data/groups/fam/ipc/errors" 2>&1)"
log_has "ipc/messages/shadow.json moved to ipc/errors: 'shadow.json' is a symbolic link" &&
	ok "with the reason logged" || not_ok "with the reason logged" "$(tail -5 "$TMP/serve.log")"
[ "$(count_out fam "from root")" = 0 ] && ok "and neither is acted on" || not_ok "and neither is acted on"

# --- a missed run fires once at start, not once per missed period ---
run "$NC" tasks add --group work --id missed --every 2s "echo missed run"
wait_for work '.direction == "out" and .text == "missed run"' && ok "an every-2s task runs" || not_ok "an every-2s task runs" "$(msgs work)"
kill -TERM "$DPID"
wait "$DPID"
DPID=""
mark=$(wc -l <"$TMP/serve.log")
sleep 7 # three periods pass while the daemon is down: the first missed run is 5 s late or more,
# and a run per missed period would make the next ones more than 4 s late as well
"$NC" serve >>"$TMP/serve.log" 2>&1 &
DPID=$!
for _ in $(seq 1 100); do "$NC" status >/dev/null 2>&1 && break; sleep 0.1; done
sleep 6 # the catch-up run, then a few on time
"$NC" tasks rm missed >/dev/null
late=$(tail -n +"$mark" "$TMP/serve.log" | grep -oE 'task missed due \([0-9]+ ms ago\)' | grep -oE '[0-9]+' |
	awk '$1 > 4000' | wc -l)
[ "$late" = 1 ] && ok "after a restart a missed task runs once late, then on its schedule" ||
	not_ok "after a restart a missed task runs once late, then on its schedule" "$(tail -n +"$mark" "$TMP/serve.log" | grep 'task missed')"

kill -TERM "$DPID"
wait "$DPID"
DRC=$?
DPID=""
[ "$DRC" = 0 ] && ok "the daemon stops cleanly" || not_ok "the daemon stops cleanly" "exit $DRC"
[ "$(ours | grep -c '"Id"')" = 0 ] && ok "no container is left behind" || not_ok "no container is left behind" "$(ours)"
done_testing
