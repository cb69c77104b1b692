#!/bin/bash
# ps, gc and doctor against a real engine (NANOCELL_TEST_SOCKET, NANOCELL_TEST_ENGINE). The
# containers are made with curl on the API, labelled as this install's with a live owner, a
# dead owner, and as another install's.
. "$(dirname "$0")/lib.sh"
sock=$NANOCELL_TEST_SOCKET
install="clitest$$"
other="other$$"
export NANOCELL_CONFIG="$TMP/config.toml"
printf '[install]\nid = "%s"\ndata_dir = "%s/data"\n[engine]\nhost = "unix://%s"\n' \
	"$install" "$TMP" "$sock" >"$NANOCELL_CONFIG"

api() { curl -sf --unix-socket "$sock" -H 'Content-Type: application/json' "$@"; }
boot=$(cat /proc/sys/kernel/random/boot_id)
sleep 300 &
live_pid=$!
live_start=$(sed 's/.*) //' /proc/$live_pid/stat | cut -d' ' -f20)
# mk NAME INSTALL OWNER: creates a container, prints its id.
mk() {
	api -X POST "http://localhost/v1.41/containers/create?name=$1" -d "{\"Image\":\"nanocell-test:latest\",\"Cmd\":[\"true\"],\"Labels\":{\"nanocell.install\":\"$2\",\"nanocell.group\":\"g1\",\"nanocell.run\":\"r-$1\",\"nanocell.owner\":\"$3\"},\"HostConfig\":{\"NetworkMode\":\"none\"}}" | sed 's/.*"Id":"\([0-9a-f]*\)".*/\1/'
}
live=$(mk "nc-cli-live-$$" "$install" "$boot/$live_pid/$live_start")
dead=$(mk "nc-cli-dead-$$" "$install" "$boot/999999/1")
stale=$(mk "nc-cli-stale-$$" "$install" "00000000-0000-0000-0000-000000000000/$live_pid/$live_start")
foreign=$(mk "nc-cli-foreign-$$" "$other" "$boot/999999/1")
[ -n "$live" ] && [ -n "$dead" ] && [ -n "$foreign" ] && ok "test containers created" || not_ok "test containers created"

run "$NC" doctor
case $NANOCELL_TEST_ENGINE in
rootless-podman)
	expect_rc "doctor reports rootless Podman's ignored limits as a problem" 1
	expect_match "doctor names the problem" "$OUT" "rootless Podman on cgroup v1 cannot enforce memory"
	expect_match "and what would make the limits work" "$OUT" "cgroup v2 with the memory, pids and cpu controllers delegated"
	waivers='"memory", "pids", "cpu"'
	;;
*)
	expect_rc "doctor is happy with the engine" 0
	waivers=
	;;
esac
if [ -n "$waivers" ]; then
	printf '[sandbox]\nallow_unenforced = [%s]\n' "$waivers" >>"$NANOCELL_CONFIG"
	run "$NC" doctor
	expect_rc "with the waivers, doctor is happy" 0
	expect_match "and lists each waiver as a loosening" "$OUT" "loosened  allow_unenforced 'memory'"
fi
expect_match "doctor names the engine" "$OUT" "engine +(Docker|Podman) "
expect_match "doctor reports the API version in use" "$OUT" "api +1\.[0-9]+ in use"
expect_match "doctor reports the install id" "$OUT" "install id +$install"

run "$NC" ps
expect_rc "ps exits 0" 0
expect_match "ps lists the live-owned container" "$OUT" "${live:0:12} .*live pid $live_pid"
expect_match "ps lists the dead-owned container" "$OUT" "${dead:0:12} .*gone"
expect_match "ps shows the group and run" "$OUT" "${dead:0:12} +g1 +r-nc-cli-dead"
expect_no_match "ps leaves out another install's container" "$OUT" "${foreign:0:12}"
expect_match "ps has IMAGE and CREATED columns" "$OUT" "^CONTAINER .* IMAGE +STATE +CREATED +OWNER"
expect_match "ps shows the image and the age" "$OUT" "${dead:0:12} .*nanocell-test:latest +[a-z]+ +[0-9]+ (second|minute|hour|day)s? ago"
run "$NC" ps --json
expect_match "ps --json gives the owner as an object" "$OUT" "\"id\":\"$dead\".*\"owner\":\\{\"boot_id\":\"$boot\",\"pid\":999999,\"start_time\":1,\"alive\":false\\}"
expect_match "a live owner is alive" "$OUT" "\"id\":\"$live\".*\"owner\":\\{\"boot_id\":\"$boot\",\"pid\":$live_pid,\"start_time\":$live_start,\"alive\":true\\}"
run "$NC" ps -q
expect_rc "ps -q exits 0" 0
expect_match "ps -q lists the ids" "$OUT" "^${dead:0:12}$"
expect_no_match "ps -q prints nothing but ids" "$OUT" "[^0-9a-f]"
[ "$(echo "$OUT" | wc -l)" -eq 3 ] && ok "ps -q lists this install's three containers" || not_ok "ps -q lists three" "$OUT"

run "$NC" gc --dry-run
expect_rc "gc --dry-run exits 0" 0
expect_match "gc --dry-run names what it would remove" "$OUT" "would remove ${dead:0:12}"
expect_match "and what it would keep" "$OUT" "would keep +${live:0:12}"
expect_match "and counts" "$OUT" "dry run: would remove 2 containers"
run "$NC" ps -q
expect_match "gc --dry-run removed nothing" "$OUT" "${dead:0:12}"
run "$NC" --config "$NANOCELL_CONFIG" gc -n --all
expect_match "gc -n --all would remove the live one too" "$OUT" "would remove ${live:0:12}"

run "$NC" gc
expect_rc "gc exits 0" 0
expect_match "gc removes the dead owner's container" "$OUT" "removed ${dead:0:12}"
expect_match "gc removes a container from before a reboot" "$OUT" "removed ${stale:0:12}"
expect_match "gc keeps the live owner's container" "$OUT" "kept +${live:0:12}"
run "$NC" ps
expect_no_match "the orphans are gone" "$OUT" "${dead:0:12}|${stale:0:12}"
expect_match "the live one stays" "$OUT" "${live:0:12}"

kill $live_pid
wait $live_pid 2>/dev/null
run "$NC" gc
expect_match "once its owner dies, gc removes it" "$OUT" "removed ${live:0:12}"
run "$NC" ps
expect_rc "ps still works" 0
[ "$(echo "$OUT" | wc -l)" -eq 1 ] && ok "ps is empty but for its header" || not_ok "ps is empty" "$OUT"

if api "http://localhost/v1.41/containers/$foreign/json" >/dev/null; then
	ok "another install's container was never touched"
else
	not_ok "another install's container was never touched"
fi
run "$NC" gc --all
expect_match "gc --all reports nothing of another install" "$OUT" "removed 0 containers"
api -X DELETE "http://localhost/v1.41/containers/$foreign?force=1" >/dev/null
done_testing
