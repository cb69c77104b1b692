#!/bin/bash
# nanocell serve over two engines ([[engines]]): the machine's dockerd and a second one
# (tests/cli/lib_dockerd.sh). Groups spread over both, each engine's max_containers is never
# exceeded, a group's engine_labels pin it, and a dockerd killed mid-turn: the engine is marked
# down, the turn is retried on the other and answered, and when the dockerd is back its
# leftover container is removed and it is used again. Docker only.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_dockerd.sh"
[ "$NANOCELL_TEST_ENGINE" = docker ] || { echo "1..0 # SKIP the second engine is a dockerd (docker run only)"; exit 0; }
[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP a second dockerd needs root"; exit 0; }
for c in dockerd ip ss jq; do
	command -v $c >/dev/null || { echo "1..0 # SKIP $c is not installed"; exit 0; }
done
install="engines$$"
chmod 755 "$TMP"
export NANOCELL_API="$TMP/api/api.sock"
export NANOCELL_CONFIG="$TMP/config.toml"
DPID=""
ours_on() { # SOCKET: this install's containers there
	curl -sf --unix-socket "$1" "http://localhost/v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22nanocell.install%3D$install%22%5D%7D" |
		grep -o '"Id":"[0-9a-f]*"' | cut -d'"' -f4
}
cleanup() {
	[ -n "$DPID" ] && kill -9 "$DPID" 2>/dev/null
	for id in $(ours_on /var/run/docker.sock); do
		curl -sf --unix-socket /var/run/docker.sock -X DELETE "http://localhost/v1.41/containers/$id?force=1" >/dev/null
	done
	dockerd2_stop
	rm -rf "$TMP"
}
trap cleanup EXIT
if ! dockerd2_start two -; then
	not_ok "a second dockerd starts"
	done_testing
	exit 1
fi
ok "a second dockerd answers on $D2_SOCK"
two="unix://$D2_SOCK"
one="unix:///var/run/docker.sock"
cat >"$NANOCELL_CONFIG" <<EOT
[install]
id = "$install"
data_dir = "$TMP/data"
[agent]
idle_timeout = "1s"
[orch]
max_concurrent = 4
retry_base = "200ms"
[[engines]]
host = "$two"
max_containers = 1
labels = ["second"]
[[engines]]
host = "$one"
max_containers = 1
labels = ["first"]
[[group]]
name = "pinned"
engine_labels = ["first"]
EOT
"$NC" serve >>"$TMP/serve.log" 2>&1 &
DPID=$!
# engine HOST FIELD: a field of an engine in `status --json`.
engine() { "$NC" status --json 2>/dev/null | jq -r ".engines[] | select(.host == \"$1\") | .$2"; }
up_both() {
	for _ in $(seq 1 150); do
		[ "$(engine "$one" up)" = true ] && [ "$(engine "$two" up)" = true ] && return 0
		sleep 0.2
	done
	return 1
}
up_both && ok "serve brings both engines up" || not_ok "serve brings both engines up" "$(cat "$TMP/serve.log")"
for g in a b c d pinned victim victim2; do "$NC" groups add "$g" --no-trigger >/dev/null; done
# wait_turns HOST N: until the engine counts N ended turns (a turn counts once its container is
# gone, 1 s after its answer: agent.idle_timeout).
wait_turns() {
	for _ in $(seq 1 100); do
		[ "$(engine "$1" turns)" -ge "$2" ] && return 0
		sleep 0.2
	done
	return 1
}
msgs() { "$NC" messages --group "$1" --json; }
answered() { # GROUP TEXT [TRIES]
	for _ in $(seq 1 "${3:-200}"); do
		msgs "$1" 2>/dev/null | jq -e -s "any(.[]; .direction == \"out\" and .text == \"$2\")" >/dev/null && return 0
		sleep 0.2
	done
	return 1
}

# --- four groups, two engines of one container each ---
for g in a b c d; do
	"$NC" send --group "$g" --no-wait "sleep 1 ; echo done $g" >/dev/null
done
max1=0 max2=0
for _ in $(seq 1 100); do
	s=$("$NC" status --json 2>/dev/null) || continue
	r1=$(echo "$s" | jq ".engines[] | select(.host == \"$one\") | .running")
	r2=$(echo "$s" | jq ".engines[] | select(.host == \"$two\") | .running")
	[ "${r1:-0}" -gt "$max1" ] && max1=$r1
	[ "${r2:-0}" -gt "$max2" ] && max2=$r2
	n=$(for g in a b c d; do msgs "$g" | jq -r 'select(.direction == "out") | .text'; done | grep -c '^done ')
	[ "$n" -eq 4 ] && break
	sleep 0.1
done
all=1
for g in a b c d; do answered "$g" "done $g" 50 || all=0; done
[ $all = 1 ] && ok "every group's message is answered" || not_ok "every group's message is answered" "$(tail -n 30 "$TMP/serve.log")"
[ "$max1" -le 1 ] && [ "$max2" -le 1 ] && ok "no engine ever ran more than its max_containers (1)" ||
	not_ok "no engine ever ran more than its max_containers" "first $max1, second $max2"
# A turn counts once its container is gone (the agent closes 1 s after its answer).
for _ in $(seq 1 100); do
	t1=$(engine "$one" turns) t2=$(engine "$two" turns)
	[ $((t1 + t2)) -ge 4 ] && break
	sleep 0.2
done
[ "$t1" -ge 1 ] && [ "$t2" -ge 1 ] && [ $((t1 + t2)) -eq 4 ] && ok "the groups were spread over both engines ($t1 and $t2)" ||
	not_ok "the groups were spread over both engines" "first $t1, second $t2"

# --- engine_labels pin a group ---
"$NC" send --group pinned "echo pinned" >/dev/null 2>&1
answered pinned pinned 50 && wait_turns "$one" $((t1 + 1)) && [ "$(engine "$two" turns)" -eq "$t2" ] &&
	ok "a group with engine_labels runs on the engine that has them" ||
	not_ok "a group with engine_labels runs on the engine that has them" "$(engine "$one" turns) $(engine "$two" turns)"

# --- the second dockerd killed mid-turn ---
# A fresh group goes to the least loaded engine, the first listed on a tie: the second dockerd.
"$NC" send --group victim --no-wait "sleep 4 ; echo survived" >/dev/null
for _ in $(seq 1 100); do
	[ "$(engine "$two" running)" = 1 ] && break
	sleep 0.1
done
if [ "$(engine "$two" running)" = 1 ]; then
	ok "the turn runs on the second dockerd"
	sleep 1
	dockerd2_kill
	answered victim survived 250 && ok "killed mid-turn: the turn is retried on the other engine and answered" ||
		not_ok "killed mid-turn: retried and answered" "$(tail -n 30 "$TMP/serve.log")"
	[ "$(engine "$two" up)" = false ] && ok "the dead engine is marked down" || not_ok "the dead engine is marked down"
	expect_match "status says why" "$(engine "$two" last_error)" "."
	n=$(msgs victim | jq -r 'select(.direction == "out") | .text' | grep -c survived)
	[ "$n" -eq 1 ] && ok "answered once" || not_ok "answered once" "$n replies"
	# --- it comes back ---
	dockerd2_restart
	for _ in $(seq 1 200); do
		[ "$(engine "$two" up)" = true ] && break
		sleep 0.2
	done
	[ "$(engine "$two" up)" = true ] && ok "the engine is used again once it answers" || not_ok "the engine is up again" "$(tail -n 20 "$TMP/serve.log")"
	[ -z "$(ours_on "$D2_SOCK")" ] && ok "the container the failed turn left there is removed" ||
		not_ok "the failed turn's container is removed" "$(ours_on "$D2_SOCK")"
	before=$(engine "$two" turns)
	"$NC" send --group victim2 "echo back" >/dev/null 2>&1
	answered victim2 back 50 && wait_turns "$two" $((before + 1)) && ok "a new group lands on it again" ||
		not_ok "a new group lands on it again" "$(engine "$two" turns) vs $before"
else
	not_ok "the turn runs on the second dockerd" "$("$NC" status --json)"
fi

kill -TERM "$DPID"
wait "$DPID"
DPID=""
[ -z "$(ours_on /var/run/docker.sock)" ] && ok "no container is left on the first engine" || not_ok "no container is left on the first engine"
dockerd2_stop
done_testing
