#!/bin/bash
# Channels against a real engine (NANOCELL_TEST_SOCKET, NANOCELL_TEST_ENGINE): the Telegram
# channel with a fake Bot API (tests/support/fake_telegram.py) at telegram.api_base. A message
# into the fake reaches the agent and its reply comes back; unregistered chats, bots, senders
# off the allowlist and non-text messages; /chatid; the daemon kill -9'd between receiving and
# replying gives exactly one reply; a 429 storm, a 409 and 502s are ridden out; long replies are
# split; the token appears in no log, status or error. Webhooks: a signed request is stored, bad
# signatures, stale times, replays, oversized bodies and unknown hooks are refused, and the reply
# is POSTed signed to a receiver (tests/support/fake_webhook_receiver.py) that fails twice; the
# api.tcp_listen listener serves the hooks and nothing else. Refusals for good (Telegram 403, a
# hook's 410) and channels.max_attempts end a reply as failed while the chat goes on; a group
# upgraded to a supergroup keeps its chat (the 400's and the update's migrate_to_chat_id); one
# hook's Retry-After holds no other hook.
. "$(dirname "$0")/lib.sh"
sock=$NANOCELL_TEST_SOCKET
[ "$NANOCELL_TEST_ENGINE" = rootless-podman ] && { echo "1..0 # SKIP rootless Podman refuses turns by default"; exit 0; }
command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is missing (scripts/install-deps.sh)"; exit 0; }
install="chantest$$"
chmod 755 "$TMP"
export NANOCELL_API="$TMP/api/api.sock"
export NANOCELL_CONFIG="$TMP/config.toml"
TOKEN="123456:AAH-fake_token_${RANDOM}x"
printf '%s\n' "$TOKEN" >"$TMP/token"
chmod 600 "$TMP/token"
python3 tests/support/fake_telegram.py "$TOKEN" "$TMP/port" >"$TMP/fake.log" 2>&1 &
FPID=$!
for _ in $(seq 1 50); do [ -s "$TMP/port" ] && break; sleep 0.1; done
PORT=$(cat "$TMP/port")
FAKE="http://127.0.0.1:$PORT"
# The webhook receiver: it fails the first two deliveries.
HOOK_SECRET="hook-secret-${RANDOM}-0123456789"
printf '%s\n' "$HOOK_SECRET" >"$TMP/hook.secret"
chmod 600 "$TMP/hook.secret"
python3 tests/support/fake_webhook_receiver.py "$HOOK_SECRET" 2 "$TMP/rport" >"$TMP/receiver.log" 2>&1 &
RPID=$!
for _ in $(seq 1 50); do [ -s "$TMP/rport" ] && break; sleep 0.1; done
RECEIVER="http://127.0.0.1:$(cat "$TMP/rport")"
TCP_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
config() {
	printf '[install]\nid = "%s"\ndata_dir = "%s/data"\n[engine]\nhost = "unix://%s"\n' \
		"$install" "$TMP" "$sock"
	printf '[agent]\nidle_timeout = "5s"\n'
	printf '[orch]\nmax_concurrent = 2\nshutdown_grace = "2s"\nretry_base = "1s"\n'
	printf '[api]\ntcp_listen = "127.0.0.1:%s"\n' "$TCP_PORT"
	printf '[telegram]\ntoken_file = "%s/token"\napi_base = "%s"\n' "$TMP" "$FAKE"
	printf '[channels]\nmax_attempts = 5\n'
	printf '[sandbox]\n'
	[ "$NANOCELL_TEST_ENGINE" = podman ] && printf 'allow_unenforced = ["cgroupns"]\n'
	printf '[[hook]]\nname = "ci"\ngroup = "builds"\nsecret_file = "%s/hook.secret"\nurl = "%s/in"\n' "$TMP" "$RECEIVER"
	printf '[[hook]]\nname = "quiet"\ngroup = "builds"\nsecret = "another-secret-0123456789"\n'
	for h in slow gone down; do
		printf '[[hook]]\nname = "%s"\ngroup = "side"\nsecret = "%s"\nurl = "%s/%s"\n' "$h" "$HOOK_SECRET" "$RECEIVER" "$h"
	done
	true
}
config >"$NANOCELL_CONFIG"
api() { curl -sf --unix-socket "$sock" "$@"; }
ours() { api "http://localhost/v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22nanocell.install%3D$install%22%5D%7D"; }
DPID=""
cleanup() {
	[ -n "$DPID" ] && kill -9 "$DPID" 2>/dev/null
	kill "$FPID" "$RPID" 2>/dev/null
	wait "$FPID" "$RPID" 2>/dev/null
	for id in $(ours | grep -o '"Id":"[0-9a-f]*"' | cut -d'"' -f4); do
		api -X DELETE "http://localhost/v1.41/containers/$id?force=1" >/dev/null
	done
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
kill9_daemon() {
	kill -9 "$DPID"
	wait "$DPID" 2>/dev/null
	DPID=""
}
# tg_msg CHAT TEXT [JSON...]: a message into the fake, as from a user of chat CHAT.
tg_msg() {
	local extra=${3:-}
	curl -sf -X POST "$FAKE/control/message" -d "{\"chat_id\":$1,\"text\":$(jq -Rn --arg t "$2" '$t')${extra:+,$extra}}" >/dev/null
}
tg_fail() { curl -sf -X POST "$FAKE/control/fail" -d "$1" >/dev/null; }
state() { curl -sf "$FAKE/control/state"; }
# sent_to CHAT: the texts the bot sent to CHAT, one a line (newlines in a text as \n).
sent_to() { state | jq -r ".sent[] | select(.chat_id == $1) | .text | gsub(\"\\n\"; \"\\\\n\")"; }
# wait_sent CHAT REGEX [TRIES]: until a text sent to CHAT matches (0.2 s apart; 30 s by default).
wait_sent() {
	for _ in $(seq 1 "${3:-150}"); do
		sent_to "$1" | grep -qE -- "$2" && return 0
		sleep 0.2
	done
	return 1
}
# wait_offset N: until getUpdates was called with an offset past update N (it was committed).
wait_offset() {
	for _ in $(seq 1 150); do
		state | jq -e "any(.offsets[]; . > $1)" >/dev/null && return 0
		sleep 0.2
	done
	return 1
}
msgs() { "$NC" messages --group "$1" --json; }

# --- start ---
start_daemon && ok "the daemon starts with the telegram channel" || not_ok "the daemon starts with the telegram channel" "$(cat "$TMP/serve.log")"
"$NC" groups add boss --main --telegram 100 >/dev/null
"$NC" groups add fam --telegram -200 --allow 7 >/dev/null
run "$NC" groups chats --json
expect_match "groups chats lists the registered chat with its group" "$OUT" '"jid":"tg:100","name":"","kind":"","group":"boss"'

# --- a message reaches the agent, its reply comes back ---
tg_msg 100 "echo hello from telegram ; sleep 1"
wait_sent 100 '^hello from telegram$' && ok "a message from telegram is answered in its chat" || not_ok "a message from telegram is answered in its chat" "$(state)" "$(tail -20 "$TMP/serve.log")"
wait_for_delivered() {
	for _ in $(seq 1 50); do
		msgs boss | jq -e -s "any(.[]; .direction == \"out\" and .text == \"$1\" and .state == \"delivered\")" >/dev/null && return 0
		sleep 0.2
	done
	return 1
}
wait_for_delivered "hello from telegram" && ok "the reply is marked delivered in the store" || not_ok "the reply is marked delivered in the store" "$(msgs boss)"
msgs boss | jq -e -s 'any(.[]; .direction == "in" and .chat == "tg:100" and .sender == "Tess")' >/dev/null && ok "the message is stored with chat tg:100 and its sender's name" || not_ok "the message is stored with chat tg:100 and its sender's name" "$(msgs boss)"
state | jq -e 'any(.actions[]; .chat_id == 100 and .action == "typing")' >/dev/null && ok "typing is shown while the turn runs" || not_ok "typing is shown while the turn runs" "$(state | jq -c .actions)"

# --- unregistered chats, non-text, bots, the allowlist, /chatid ---
tg_msg 999 "echo should not run"
tg_msg 100 "hi" '"kind":"photo"'
tg_msg 100 "echo from a bot" '"is_bot":true,"from_id":55'
tg_msg -200 "@Andy echo not allowed" '"from_id":8'
tg_msg 999 "/chatid"
tg_msg -200 "@nanocell_test_bot echo mention works" '"from_id":7'
wait_sent -200 '^mention works$' && ok "a mention of the bot's @username is the group's trigger" || not_ok "a mention of the bot's @username is the group's trigger" "$(state)" "$(tail -20 "$TMP/serve.log")"
wait_sent 100 '^only text is supported$' 5 && ok "a photo gets 'only text is supported'" || not_ok "a photo gets 'only text is supported'" "$(state | jq -c .sent)"
wait_sent 999 '^tg:999$' 5 && ok "/chatid answers with the chat's jid" || not_ok "/chatid answers with the chat's jid" "$(state | jq -c .sent)"
[ "$(sent_to 999)" = "tg:999" ] && ok "an unregistered chat gets nothing else" || not_ok "an unregistered chat gets nothing else" "$(sent_to 999)"
expect_match "its message is logged at debug" "$(cat "$TMP/serve.log")" "unregistered chat tg:999 ignored"
run "$NC" groups chats
expect_match "groups chats lists the unregistered chat" "$OUT" 'tg:999 +\(unregistered\) +private +Tester'
msgs boss | jq -e -s 'all(.[]; .text != "echo from a bot")' >/dev/null && ok "a bot's message is not stored" || not_ok "a bot's message is not stored" "$(msgs boss)"
msgs fam | jq -e -s 'all(.[]; (.text | test("not allowed")) | not)' >/dev/null && ok "a sender off the group's allowlist is not stored" || not_ok "a sender off the group's allowlist is not stored" "$(msgs fam)"
[ -z "$(sent_to 100 | grep 'from a bot')" ] && ok "and gets no answer" || not_ok "and gets no answer" "$(sent_to 100)"

# --- registering: a bad chat id is refused before anything is added; /register from the main chat ---
run "$NC" groups add typo --telegram abc
expect_rc "groups add --telegram refuses a chat id that is not a number" 2
run "$NC" groups show typo
[ "$RC" -ne 0 ] && ok "and adds no group" || not_ok "and adds no group" "$OUT"
tg_msg 100 "/register 555 newgrp"
wait_sent 100 '^tg:555 now talks to group newgrp$' && ok "/register from the main chat maps a chat to a new group" || not_ok "/register from the main chat maps a chat to a new group" "$(sent_to 100)"
tg_msg 555 "@Andy echo registered from the main chat" '"chat_type":"group","title":"New"'
wait_sent 555 '^registered from the main chat$' && ok "and that chat is answered" || not_ok "and that chat is answered" "$(sent_to 555)" "$(tail -10 "$TMP/serve.log")"
tg_msg -200 "/register 556 other" '"from_id":7'
wait_sent -200 'usage|now talks' 10 && not_ok "/register is refused outside the main chat" "$(sent_to -200)" || ok "/register is refused outside the main chat"
"$NC" groups show other >/dev/null 2>&1 && not_ok "and adds nothing" || ok "and adds nothing"

# --- a long reply is split at 4096 characters, on line boundaries ---
long=$(for i in $(seq 1 700); do printf 'line%04d.\n' "$i"; done)
tg_msg 100 "echo $(printf '%s' "$long" | tr '\n' ' ')"
# The agent echoes one line; a reply of 700 x 10 chars = 7000 chars comes in two parts.
for _ in $(seq 1 150); do [ "$(sent_to 100 | grep -c 'line0700')" -ge 1 ] && break; sleep 0.2; done
parts=$(state | jq '[.sent[] | select(.chat_id == 100 and (.text | test("line0[0-9]{3}")))] | length')
maxlen=$(state | jq '[.sent[] | select(.chat_id == 100) | .text | length] | max')
[ "$parts" -ge 2 ] && [ "$maxlen" -le 4096 ] && ok "a 7000-character reply goes out in parts of at most 4096 ($parts parts)" || not_ok "a 7000-character reply goes out in parts of at most 4096" "parts $parts max $maxlen"
state | jq -r '[.sent[] | select(.chat_id == 100 and (.text | test("line0[0-9]{3}"))) | .text] | join(" ")' | tr -s ' ' | grep -q 'line0001\. line0002\..*line0699\. line0700\.' && ok "the parts together are the whole reply, in order" || not_ok "the parts together are the whole reply, in order" "$(sent_to 100 | cut -c1-200)"

# --- kill -9 between receiving and replying: exactly one reply ---
tg_msg 100 "echo crash test ; sleep 2 ; echo after crash"
for _ in $(seq 1 150); do
	msgs boss | jq -e -s 'any(.[]; .direction == "in" and (.text | test("crash test")) and .state == "running")' >/dev/null && break
	sleep 0.1
done
kill9_daemon
[ -z "$(sent_to 100 | grep 'after crash')" ] && ok "the daemon died before its reply" || not_ok "the daemon died before its reply"
start_daemon && ok "the daemon restarts" || not_ok "the daemon restarts" "$(tail -5 "$TMP/serve.log")"
wait_sent 100 '^after crash$' && ok "the message is answered after the restart" || not_ok "the message is answered after the restart" "$(state | jq -c .sent)" "$(tail -20 "$TMP/serve.log")"
sleep 2
[ "$(sent_to 100 | grep -c '^after crash$')" -eq 1 ] && ok "exactly one reply" || not_ok "exactly one reply" "$(sent_to 100)"
[ "$(msgs boss | jq -s '[.[] | select(.direction == "in" and (.text | test("crash test")))] | length')" -eq 1 ] && ok "the message was stored once (the offset was committed with it)" || not_ok "the message was stored once" "$(msgs boss)"

# --- kill -9 after the message is committed, before its turn: not received twice ---
# (It sleeps first: the kill comes before any reply, even from an agent still up for follow-ups.)
tg_msg 100 "sleep 3 ; echo once only"
for _ in $(seq 1 150); do msgs boss | jq -e -s 'any(.[]; .text == "sleep 3 ; echo once only")' >/dev/null && break; sleep 0.05; done
kill9_daemon
start_daemon
wait_sent 100 '^once only$' && ok "a message committed before a crash is answered" || not_ok "a message committed before a crash is answered" "$(state | jq -c .sent)"
sleep 1
[ "$(sent_to 100 | grep -c '^once only$')" -eq 1 ] && [ "$(msgs boss | jq -s '[.[] | select(.text == "sleep 3 ; echo once only")] | length')" -eq 1 ] && ok "and stored and answered once" || not_ok "and stored and answered once" "$(sent_to 100)"

# --- a 429 storm, a 409 and 502s are ridden out ---
tg_fail '{"method":"sendMessage","status":429,"count":3,"retry_after":1}'
tg_msg 100 "echo through the storm"
wait_sent 100 '^through the storm$' && ok "a reply goes out after three 429s" || not_ok "a reply goes out after three 429s" "$(state | jq -c .failed)" "$(tail -20 "$TMP/serve.log")"
[ "$(state | jq '.failed.sendMessage')" -ge 3 ] && ok "the 429s were served" || not_ok "the 429s were served" "$(state | jq -c .failed)"
[ "$(sent_to 100 | grep -c '^through the storm$')" -eq 1 ] && ok "once" || not_ok "once" "$(sent_to 100)"
expect_match "the wait follows retry_after" "$(cat "$TMP/serve.log")" "HTTP 429: Too Many Requests: retry after 1 \(retry_after given\) \(next try in 1000 ms\)"
tg_fail '{"method":"getUpdates","status":502,"count":2}'
sleep 0.5
tg_msg 100 "echo past the gateway"
wait_sent 100 '^past the gateway$' && ok "polling goes on after 502s" || not_ok "polling goes on after 502s" "$(state | jq -c .failed)" "$(tail -20 "$TMP/serve.log")"
tg_fail '{"method":"getUpdates","status":409,"count":1}'
sleep 0.5
tg_msg 100 "echo after a conflict"
wait_sent 100 '^after a conflict$' && ok "and after a 409 conflict" || not_ok "and after a 409 conflict" "$(state | jq -c .failed)"
expect_match "the failures are logged" "$(cat "$TMP/serve.log")" "channel telegram: receive: telegram: getUpdates: HTTP 502 and no Bot API reply"

run "$NC" status --json
expect_match "status shows the channel's last error" "$OUT" '"last_error":"telegram: getUpdates: HTTP 409: Conflict'

# --- a refusal for good (403: the bot was blocked) ends the reply; the chat's next one goes out ---
# Every try of that reply is refused, for as long as the test runs.
refused_before=$(state | jq '.failed.sendMessage // 0')
tg_fail '{"method":"sendMessage","status":403,"count":1000,"chat_id":100,"match":"blocked reply"}'
tg_msg 100 "echo blocked reply"
failed_reply() { msgs "$1" | jq -c -s "[.[] | select(.direction == \"out\" and .text == \"$2\")][0]"; }
for _ in $(seq 1 150); do failed_reply boss "blocked reply" | jq -e '.state == "failed"' >/dev/null && break; sleep 0.2; done
failed_reply boss "blocked reply" | jq -e '.state == "failed" and .attempts == 1 and (.error | test("HTTP 403: Forbidden: bot was blocked by the user"))' >/dev/null && ok "a reply refused with 403 is failed at once, with the reason" || not_ok "a reply refused with 403 is failed at once, with the reason" "$(failed_reply boss "blocked reply")" "$(grep 'channel telegram' "$TMP/serve.log" | tail -5)"
[ "$(state | jq '.failed.sendMessage')" -eq $((refused_before + 1)) ] && ok "and not tried again" || not_ok "and not tried again" "$(state | jq -c .failed)"
expect_match "it is logged" "$(cat "$TMP/serve.log")" "channel telegram: reply [0-9]+ to tg:100 not delivered, given up after 1 try \(refused for good\)"
run "$NC" messages --group boss
expect_match "nanocell messages shows it failed, and why" "$OUT" "out failed \(reply to #[0-9]+\): blocked reply \[not delivered: telegram: sendMessage: HTTP 403: Forbidden: bot was blocked by the user\]"
tg_msg 100 "echo the next reply"
wait_sent 100 '^the next reply$' && ok "the chat's next reply is delivered" || not_ok "the chat's next reply is delivered" "$(sent_to 100)" "$(tail -10 "$TMP/serve.log")"

# --- a group upgraded to a supergroup: the 400 with migrate_to_chat_id moves the chat ---
"$NC" groups add upg --telegram -300 >/dev/null
tg_fail '{"method":"sendMessage","status":400,"count":1000,"chat_id":-300,"migrate_to":-1000000000300}'
tg_msg -300 "@Andy echo before the upgrade"
wait_sent -1000000000300 '^before the upgrade$' && ok "a reply to a group that became a supergroup goes to its new id" || not_ok "a reply to a group that became a supergroup goes to its new id" "$(state | jq -c .sent)" "$(grep 'channel telegram' "$TMP/serve.log" | tail -5)"
run "$NC" groups chats --json
expect_match "the group's chat is now tg:NEW" "$OUT" '"jid":"tg:-1000000000300",[^}]*"group":"upg"'
expect_no_match "and no longer the old id" "$OUT" '"jid":"tg:-300",[^}]*"group":"upg"'
tg_msg -1000000000300 "@Andy echo in the supergroup" '"chat_type":"supergroup"'
wait_sent -1000000000300 '^in the supergroup$' && ok "and the supergroup's messages reach the group" || not_ok "and the supergroup's messages reach the group" "$(state | jq -c .sent)"
msgs upg | jq -e -s 'all(.[]; .state != "failed")' >/dev/null && ok "no reply was given up" || not_ok "no reply was given up" "$(msgs upg)"
# ... and so does the update that says so (migrate_to_chat_id).
"$NC" groups add upg2 --telegram -400 >/dev/null
tg_msg -400 "" '"kind":"migrate_to","to":-1000000000400'
tg_msg -1000000000400 "@Andy echo after the migrate update" '"chat_type":"supergroup"'
wait_sent -1000000000400 '^after the migrate update$' && ok "an update with migrate_to_chat_id moves the registered chat" || not_ok "an update with migrate_to_chat_id moves the registered chat" "$(state | jq -c .sent)" "$(grep 'channel telegram' "$TMP/serve.log" | tail -5)"
expect_match "the move is logged" "$(cat "$TMP/serve.log")" "chat tg:-400 became tg:-1000000000400"

# --- webhooks ---
# sign SECRET TS BODY: the X-Nanocell-Signature value.
sign() { python3 -c 'import hmac,hashlib,sys; print("sha256=" + hmac.new(sys.argv[1].encode(), (sys.argv[2] + "." + sys.argv[3]).encode(), hashlib.sha256).hexdigest())' "$1" "$2" "$3"; }
# hook_post NAME BODY [TS [SIG]]: POST /hooks/NAME on the API; the status in $CODE, the body in $OUT.
hook_post() {
	local ts=${3:-$(date +%s)}
	local sig=${4:-$(sign "$HOOK_SECRET" "$ts" "$2")}
	local where=(--unix-socket "$NANOCELL_API" "http://localhost/hooks/$1")
	[ -n "${VIA_TCP:-}" ] && where=("http://127.0.0.1:$TCP_PORT/hooks/$1")
	CODE=$(curl -s -o "$TMP/hook.out" -w '%{http_code}' -X POST \
		-H "X-Nanocell-Timestamp: $ts" -H "X-Nanocell-Signature: $sig" \
		--data-binary "$2" "${where[@]}")
	OUT=$(cat "$TMP/hook.out")
}
receiver() { curl -sf "$RECEIVER/state"; }
"$NC" groups add builds --no-trigger >/dev/null
ts=$(date +%s)
body='{"text":"echo built ok","sender":"ci-bot"}'
sig=$(sign "$HOOK_SECRET" "$ts" "$body")
hook_post ci "$body" "$ts" "$sig"
[ "$CODE" = 202 ] && ok "a signed webhook request is accepted (202)" || not_ok "a signed webhook request is accepted (202)" "$CODE $OUT"
msgs builds | jq -e -s 'any(.[]; .direction == "in" and .chat == "hook:ci" and .sender == "ci-bot" and .text == "echo built ok")' >/dev/null && ok "it is stored for the hook's group, chat hook:ci" || not_ok "it is stored for the hook's group, chat hook:ci" "$(msgs builds)"
hook_post ci "$body" "$ts" "$sig"
[ "$CODE" = 409 ] && ok "the same request again is a replay (409)" || not_ok "the same request again is a replay (409)" "$CODE $OUT"
hook_post ci '{"text":"echo forged"}' "" "sha256=0000000000000000000000000000000000000000000000000000000000000000"
[ "$CODE" = 401 ] && ok "a bad signature is refused (401)" || not_ok "a bad signature is refused (401)" "$CODE $OUT"
old_ts=$(($(date +%s) - 400))
hook_post ci '{"text":"echo stale"}' "$old_ts"
[ "$CODE" = 401 ] && ok "a stale timestamp is refused (401), though signed" || not_ok "a stale timestamp is refused (401)" "$CODE $OUT"
expect_match "it says why" "$OUT" "more than 300 seconds from now"
hook_post ci "$body" "$((ts + 1))" "$sig"
[ "$CODE" = 401 ] && ok "a new time on an old signature is refused (the time is signed)" || not_ok "a new time on an old signature is refused" "$CODE $OUT"
big="{\"text\":\"$(head -c 70000 /dev/zero | tr '\0' a)\"}"
hook_post ci "$big"
[ "$CODE" = 413 ] && ok "a body over 64 KiB is refused (413)" || not_ok "a body over 64 KiB is refused (413)" "$CODE $(printf '%s' "$OUT" | cut -c1-200)"
hook_post nosuch '{"text":"echo x"}'
[ "$CODE" = 404 ] && ok "an unknown hook is 404" || not_ok "an unknown hook is 404" "$CODE $OUT"
hook_post quiet '{"text":"echo x"}'
[ "$CODE" = 401 ] && ok "another hook's secret does not sign for it" || not_ok "another hook's secret does not sign for it" "$CODE $OUT"
msgs builds | jq -e -s 'all(.[]; (.text | test("forged|stale|aaaa")) | not)' >/dev/null && ok "no refused request was stored" || not_ok "no refused request was stored" "$(msgs builds)"
for _ in $(seq 1 150); do receiver | jq -e '.deliveries | length > 0' >/dev/null && break; sleep 0.2; done
receiver | jq -e 'any(.deliveries[]; .text == "built ok" and .hook == "ci" and (.id | tostring) == .delivery_header)' >/dev/null && ok "the reply is POSTed to the hook's url, signed" || not_ok "the reply is POSTed to the hook's url, signed" "$(receiver)" "$(grep webhook "$TMP/serve.log" | tail -5)"
[ "$(receiver | jq .attempts)" -ge 3 ] && ok "after the receiver failed twice" || not_ok "after the receiver failed twice" "$(receiver)"
[ "$(receiver | jq '.deliveries | length')" -eq 1 ] && ok "delivered once" || not_ok "delivered once" "$(receiver)"
[ "$(receiver | jq .bad_signatures)" -eq 0 ] && ok "every delivery's signature checked out" || not_ok "every delivery's signature checked out" "$(receiver)"
for _ in $(seq 1 50); do msgs builds | jq -e -s 'any(.[]; .direction == "out" and .state == "delivered")' >/dev/null && break; sleep 0.2; done
msgs builds | jq -e -s 'any(.[]; .direction == "out" and .text == "built ok" and .state == "delivered")' >/dev/null && ok "the reply is marked delivered on the 2xx" || not_ok "the reply is marked delivered on the 2xx" "$(msgs builds)"
expect_match "the failed tries are logged" "$(cat "$TMP/serve.log")" "channel webhook: deliver reply [0-9]+: hook 'ci': the receiver answered HTTP 500"
# api.tcp_listen: the same hooks on 127.0.0.1, and nothing else of the API.
VIA_TCP=1 hook_post ci '{"text":"echo over tcp"}'
[ "$CODE" = 202 ] && ok "a signed request on api.tcp_listen is accepted" || not_ok "a signed request on api.tcp_listen is accepted" "$CODE $OUT"
VIA_TCP=1 hook_post ci '{"text":"echo forged"}' "" "sha256=00"
[ "$CODE" = 401 ] && ok "and a bad signature refused there" || not_ok "and a bad signature refused there" "$CODE $OUT"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$TCP_PORT/v1/status")
[ "$code" = 404 ] && ok "the rest of the API is not served on TCP" || not_ok "the rest of the API is not served on TCP" "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{"folder":"x"}' "http://127.0.0.1:$TCP_PORT/v1/groups")
[ "$code" = 404 ] && ok "nor can groups be added there" || not_ok "nor can groups be added there" "$code"
# A Retry-After from one receiver holds that hook alone; a 4xx ends a reply; so do max_attempts.
"$NC" groups add side --no-trigger >/dev/null
rcontrol() { curl -sf -X POST "$RECEIVER/control" -d "$1" >/dev/null; }
rcontrol '{"path":"/slow","status":429,"retry_after":600}'
rcontrol '{"path":"/gone","status":410}'
rcontrol '{"path":"/down","status":503}'
signed_post() { # signed_post HOOK BODY: signed with HOOK_SECRET, on the API socket
	local ts
	ts=$(date +%s)
	CODE=$(curl -s -o "$TMP/hook.out" -w '%{http_code}' -X POST -H "X-Nanocell-Timestamp: $ts" \
		-H "X-Nanocell-Signature: $(sign "$HOOK_SECRET" "$ts" "$2")" --data-binary "$2" \
		--unix-socket "$NANOCELL_API" "http://localhost/hooks/$1")
}
signed_post slow '{"text":"echo to the slow one"}'
for _ in $(seq 1 150); do receiver | jq -e '.paths["/slow"] >= 1' >/dev/null && break; sleep 0.2; done
receiver | jq -e '.paths["/slow"] >= 1' >/dev/null && ok "the slow receiver answered 429 with Retry-After: 600" || not_ok "the slow receiver answered 429 with Retry-After: 600" "$(receiver)" "$(tail -10 "$TMP/serve.log")"
signed_post ci '{"text":"echo while the other one waits"}'
for _ in $(seq 1 150); do receiver | jq -e 'any(.deliveries[]; .text == "while the other one waits")' >/dev/null && break; sleep 0.2; done
receiver | jq -e 'any(.deliveries[]; .text == "while the other one waits" and .path == "/in")' >/dev/null && ok "another hook's reply is delivered meanwhile (the hold is per hook)" || not_ok "another hook's reply is delivered meanwhile (the hold is per hook)" "$(receiver)" "$(grep webhook "$TMP/serve.log" | tail -5)"
[ "$(receiver | jq '.paths["/slow"]')" -eq 1 ] && ok "and the slow hook is not asked again before its time" || not_ok "and the slow hook is not asked again before its time" "$(receiver)"
signed_post gone '{"text":"echo to the gone one"}'
for _ in $(seq 1 150); do failed_reply side "to the gone one" | jq -e '.state == "failed"' >/dev/null && break; sleep 0.2; done
failed_reply side "to the gone one" | jq -e '.state == "failed" and .attempts == 1 and (.error | test("HTTP 410"))' >/dev/null && ok "a receiver's 410 fails the reply at once" || not_ok "a receiver's 410 fails the reply at once" "$(failed_reply side "to the gone one")" "$(receiver)"
[ "$(receiver | jq '.paths["/gone"]')" -eq 1 ] && ok "with one request" || not_ok "with one request" "$(receiver)"
signed_post down '{"text":"echo to the one that is down"}'
for _ in $(seq 1 200); do failed_reply side "to the one that is down" | jq -e '.state == "failed"' >/dev/null && break; sleep 0.2; done
failed_reply side "to the one that is down" | jq -e '.state == "failed" and .attempts == 5 and (.error | test("HTTP 503"))' >/dev/null && ok "a receiver answering 503 is given up after channels.max_attempts (5) tries" || not_ok "a receiver answering 503 is given up after channels.max_attempts (5) tries" "$(failed_reply side "to the one that is down")" "$(receiver)"
[ "$(receiver | jq '.paths["/down"]')" -eq 5 ] && ok "five requests" || not_ok "five requests" "$(receiver)"
expect_match "it is logged" "$(cat "$TMP/serve.log")" "channel webhook: reply [0-9]+ to hook:down not delivered, given up after 5 tries \(channels.max_attempts reached\)"
grep -qF "$HOOK_SECRET" "$TMP/serve.log" && not_ok "the hook's secret is not in the log" || ok "the hook's secret is not in the log"

# --- status and metrics ---
run "$NC" status --json
expect_match "status shows the telegram channel connected" "$OUT" '"name":"telegram","connected":true'
expect_match "with its last error" "$OUT" '"last_error":"telegram: sendMessage: HTTP 403: Forbidden'
expect_match "and the local channel" "$OUT" '"name":"local","connected":true'
run curl -sf --unix-socket "$NANOCELL_API" http://localhost/metrics
expect_match "metrics count what the channel sent" "$OUT" 'nanocell_channel_sent_total\{channel="telegram"\} [1-9]'
expect_match "and its errors" "$OUT" 'nanocell_channel_errors_total\{channel="telegram"\} [1-9]'
expect_match "and the replies it gave up on" "$OUT" 'nanocell_channel_undeliverable_total\{channel="telegram"\} 1'
expect_match "per channel" "$OUT" 'nanocell_channel_undeliverable_total\{channel="webhook"\} 2'
run "$NC" status --json
expect_match "status counts them per channel" "$OUT" '"name":"webhook",[^}]*"undeliverable":2'
expect_match "and per group" "$OUT" '"group":"side",[^}]*"undeliverable":2'

# --- the token is nowhere ---
for f in "$TMP/serve.log"; do
	grep -qF "$TOKEN" "$f" && not_ok "the token is not in $f" || ok "the token is not in the daemon's log"
done
grep -rqF "$TOKEN" "$TMP/data" && not_ok "the token is not in data_dir" "$(grep -rlF "$TOKEN" "$TMP/data")" || ok "the token is not in data_dir (store, run logs, group folders)"
[ "$(state | jq .bad_token)" -eq 0 ] && ok "every request carried the right token" || not_ok "every request carried the right token"

# --- a token file that others can read is refused ---
kill -TERM "$DPID"; wait "$DPID"; DPID=""
chmod 644 "$TMP/token"
run "$NC" serve
expect_rc "serve refuses a token file others can read" 1
expect_match "and says what to run" "$ERR" "chmod 600"
expect_no_match "without the token" "$ERR" "$TOKEN"
chmod 600 "$TMP/token"

# --- a token file that is a FIFO is refused at once (the open does not wait for a writer) ---
mv "$TMP/token" "$TMP/token.real"
mkfifo -m 600 "$TMP/token"
run timeout 60 "$NC" serve
expect_rc "serve refuses a token file that is a FIFO, without blocking" 1
expect_match "and says what it is" "$ERR" "telegram.token_file: '$TMP/token' is a fifo"
rm -f "$TMP/token"
mv "$TMP/token.real" "$TMP/token"

# --- a token Telegram refuses (401) holds the replies without spinning and without losing them ---
# A reply left pending: the first try fails (502), and the daemon stops before the next.
tg_fail '{"method":"sendMessage","status":502,"count":1000}'
failed_before=$(state | jq '.failed.sendMessage // 0')
start_daemon || not_ok "the daemon starts again" "$(tail -20 "$TMP/serve.log")"
tg_msg 100 "echo held by a refused token"
for _ in $(seq 1 300); do [ "$(state | jq '.failed.sendMessage // 0')" -gt "$failed_before" ] && break; sleep 0.2; done
kill -TERM "$DPID"; wait "$DPID"; DPID=""
tg_fail '{"method":"sendMessage","status":502,"count":0}'
held() { msgs boss | jq -c -s '[.[] | select(.direction == "out" and .text == "held by a refused token")][0]'; }
printf '123456:AAH-wrong_token_%s\n' "$RANDOM" >"$TMP/token"
log_before=$(wc -l <"$TMP/serve.log")
start_daemon || not_ok "the daemon starts with a token Telegram refuses" "$(tail -20 "$TMP/serve.log")"
for _ in $(seq 1 150); do
	"$NC" status --json | jq -e '.channels[] | select(.name == "telegram") | .unauthorized' >/dev/null && break
	sleep 0.2
done
run "$NC" status --json
tgstatus=$(printf '%s' "$OUT" | jq -c '.channels[] | select(.name == "telegram")')
printf '%s' "$tgstatus" | jq -e '.unauthorized == true and .connected == false and (.last_error | test("HTTP 401"))' >/dev/null && ok "status shows the telegram channel unauthorized, with the 401" || not_ok "status shows the telegram channel unauthorized, with the 401" "$tgstatus"
# The next receive waits CHANNEL_UNAUTHORIZED_RETRY_MS (10 min), far past the 60 s backoff cap.
printf '%s' "$tgstatus" | jq -e '.retry_in_ms > 60000' >/dev/null && ok "and waits longer than any backoff before the next try" || not_ok "and waits longer than any backoff before the next try" "$tgstatus"
run curl -sf --unix-socket "$NANOCELL_API" http://localhost/metrics
expect_match "metrics show it" "$OUT" 'nanocell_channel_unauthorized\{channel="telegram"\} 1'
for _ in $(seq 1 150); do [ "$(state | jq .bad_token)" -ge 2 ] && break; sleep 0.2; done
[ "$(state | jq .bad_token)" -eq 2 ] && ok "one refused request to receive, one to deliver: no spinning" || not_ok "one refused request to receive, one to deliver: no spinning" "$(state | jq -c '{bad_token, failed}')"
newlog=$(tail -n +"$((log_before + 1))" "$TMP/serve.log")
[ "$(printf '%s\n' "$newlog" | grep -c 'the credentials were refused')" -eq 1 ] && ok "it is logged once" || not_ok "it is logged once" "$newlog"
expect_match "as an error" "$newlog" "error: channel telegram: .*HTTP 401: Unauthorized: the credentials were refused"
# Its last counted try is still the 502 of the first daemon: the 401 counted none.
held | jq -e '.state == "pending" and (.error | test("HTTP 502"))' >/dev/null && ok "the reply still waits, with no try counted for the 401" || not_ok "the reply still waits, with no try counted for the 401" "$(held)"
kill -TERM "$DPID"; wait "$DPID"; DPID=""
printf '%s\n' "$TOKEN" >"$TMP/token"
start_daemon || not_ok "the daemon starts with the right token again" "$(tail -20 "$TMP/serve.log")"
wait_sent 100 '^held by a refused token$' && ok "with the right token, the held reply goes out" || not_ok "with the right token, the held reply goes out" "$(state | jq -c .sent)" "$(tail -20 "$TMP/serve.log")"
kill -TERM "$DPID"; wait "$DPID"; DPID=""

done_testing
