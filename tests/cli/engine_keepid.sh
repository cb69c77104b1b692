#!/bin/bash
# Rootless Podman driven by root (NANOCELL_TEST_ENGINE=rootless-podman; other engines skip):
# nanocell runs the container user with userns keep-id, so inside the container it is the
# service's own host user. The group's folders must then belong to that user, not to
# sandbox.user's ids (which keep-id leaves to nobody the container can be): a turn writes into
# /workspace/group, its state dir and, as the main group, /workspace/global, and what it wrote
# is the service user's on the host.
. "$(dirname "$0")/lib.sh"
sock=$NANOCELL_TEST_SOCKET
[ "$NANOCELL_TEST_ENGINE" = rootless-podman ] || { echo "1..0 # SKIP only rootless Podman maps the container user with keep-id"; exit 0; }
[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP nanocell must run as root, another user than the service"; exit 0; }
install="keepid$$"
chmod 755 "$TMP" # the service's user must reach the group folders
export NANOCELL_CONFIG="$TMP/config.toml"
{
	printf '[install]\nid = "%s"\ndata_dir = "%s/data"\n[engine]\nhost = "unix://%s"\n' \
		"$install" "$TMP" "$sock"
	# cgroup v1 rootless: the limits cannot be enforced (refused without these waivers)
	printf '[sandbox]\nallow_unenforced = ["memory", "pids", "cpu"]\n'
	printf '[[group]]\nname = "main"\nmain = true\n'
} >"$NANOCELL_CONFIG"
api() { curl -sf --unix-socket "$sock" "$@"; }
svc=$(stat -c %u:%g "$sock")
[ "${svc%%:*}" != 0 ] && ok "the service runs as $svc" || not_ok "the service is rootless" "$svc"

run "$NC" run -q -g main -- "$(printf 'write /workspace/group/made-here hi\nwrite /workspace/global/memory.md remember\nwrite /home/agent/.claude/state-probe probe')"
expect_rc "a turn on rootless Podman run by root writes its folders" 0
expect_match "into the group folder" "$OUT" "wrote /workspace/group/made-here"
expect_match "into global memory" "$OUT" "wrote /workspace/global/memory.md"
expect_match "into its state dir" "$OUT" "wrote /home/agent/.claude/state-probe"
log=$(ls -t "$TMP"/data/groups/main/logs/run-*.log 2>/dev/null | head -n 1)
expect_match "the runtime's spec in the service's bundle holds nanocell's profile" \
	"$(cat "$log")" "ok bundle.seccomp"
g="$TMP/data/groups/main"
for d in workspace ipc ipc/input state; do
	got=$(stat -c %u:%g "$g/$d" 2>&1)
	[ "$got" = "$svc" ] && ok "$d/ belongs to the service's user" || not_ok "$d/ belongs to the service's user ($svc)" "$got"
done
got=$(stat -c %u:%g "$TMP/data/groups/global" 2>&1)
[ "$got" = "$svc" ] && ok "global/ belongs to the service's user" || not_ok "global/ belongs to the service's user ($svc)" "$got"
got=$(stat -c %u:%g "$g/workspace/made-here" 2>&1)
[ "$got" = "$svc" ] && ok "the file the agent wrote is the service user's on the host" || not_ok "the agent's file is the service user's ($svc)" "$got"
got=$(stat -c %u:%g "$g/logs" 2>&1)
[ "$got" = 0:0 ] && ok "logs/ stays nanocell's" || not_ok "logs/ stays nanocell's" "$got"

left=$(api "http://localhost/v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22nanocell.install%3D$install%22%5D%7D" | grep -o '"Id"' | wc -l)
[ "$left" -eq 0 ] && ok "no container is left" || not_ok "no container is left" "$left left"
done_testing
