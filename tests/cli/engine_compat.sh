#!/bin/bash
# What NanoClaw v1 agent images expect from a turn, against a real engine (NANOCELL_TEST_SOCKET,
# NANOCELL_TEST_ENGINE), shown from inside the container by the reference agent's scripted
# `write`: HOME is writable and is not the workspace, the group's state dir persists on the
# host, /workspace/global is read-only for an ordinary group and writable for the main group,
# and the payload's chatJid is local:<group>. The group run uses by default is "default".
. "$(dirname "$0")/lib.sh"
sock=$NANOCELL_TEST_SOCKET
[ "$NANOCELL_TEST_ENGINE" = rootless-podman ] && { echo "1..0 # SKIP rootless Podman refuses turns by default"; exit 0; }
install="compat$$"
data="$TMP/data"
chmod 755 "$TMP"
config() {
	printf '[install]\nid = "%s"\ndata_dir = "%s"\n[engine]\nhost = "unix://%s"\n' \
		"$install" "$data" "$sock"
	printf '[agent]\n%s\n' "${AGENT:-}"
	printf '[[group]]\nname = "boss"\nmain = true\n'
}
export NANOCELL_CONFIG="$TMP/config.toml"
config >"$NANOCELL_CONFIG"
api() { curl -sf --unix-socket "$sock" "$@"; }
count_ours() {
	api "http://localhost/v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22nanocell.install%3D$install%22%5D%7D" |
		grep -o '"Id"' | wc -l
}

# --- HOME, the state dir and the chat, for the default group ---
run "$NC" run -q -- "write ~/in-home x ; write ~/.claude/kept from the agent ; ipc-send hello"
expect_rc "a turn of the default group exits 0" 0
expect_match "HOME is writable" "$OUT" "^wrote ~/in-home$"
[ -d "$data/groups/default/workspace" ] && ok "the default group is called 'default'" ||
	not_ok "the default group is called 'default'" "$(ls "$data/groups")"
[ -z "$(find "$data" -name in-home)" ] && ok "HOME is not the workspace (nor any host folder)" ||
	not_ok "HOME is not the workspace" "$(find "$data" -name in-home)"
expect_match "the state dir is writable at agent.state_dir" "$OUT" "^wrote ~/.claude/kept$"
[ "$(cat "$data/groups/default/state/kept" 2>/dev/null)" = "from the agent" ] &&
	ok "what the agent keeps in its state dir lands in groups/default/state" ||
	not_ok "the state dir lands in groups/default/state" "$(ls -la "$data/groups/default" 2>&1)"
[ ! -e "$data/groups/default/workspace/.claude" ] && ok "no .claude in the workspace" ||
	not_ok "no .claude in the workspace"
msg=$(cat "$data"/groups/default/ipc/messages/*.json 2>/dev/null)
expect_match "the payload's chatJid is local:<group>" "$msg" '"chatJid":"local:default"'
expect_match "and groupFolder the group" "$msg" '"groupFolder":"default"'

# --- global memory: read-only for an ordinary group, read-write for the main group ---
run "$NC" run -q -- "write /workspace/global/by-default x"
expect_rc "an ordinary group cannot write global memory" 1
expect_match "the write fails as read-only" "$ERR" "cannot create '/workspace/global/by-default': Read-only file system"
[ ! -e "$data/groups/global/by-default" ] && ok "nothing reached groups/global" || not_ok "nothing reached groups/global"
run "$NC" run -q --group boss -- "write /workspace/global/memory.md from main"
expect_rc "the main group writes global memory" 0
[ "$(cat "$data/groups/global/memory.md" 2>/dev/null)" = "from main" ] &&
	ok "global memory lands in groups/global" ||
	not_ok "global memory lands in groups/global" "$(ls -la "$data/groups/global" 2>&1)"
run "$NC" run -q --group boss -- "write ~/x y ; write /workspace/group/y z"
expect_rc "the main group's HOME and workspace are writable too" 0

# --- NanoClaw's layout: HOME /home/node, state in ~/.claude ---
AGENT='home = "/home/node"
state_dir = "/home/node/.claude"' config >"$NANOCELL_CONFIG"
run "$NC" run -q -- "write ~/.claude/settings.json {} ; write /home/node/.claude.json {}"
expect_rc "agent.home and agent.state_dir move HOME and the state dir" 0
[ "$(cat "$data/groups/default/state/settings.json" 2>/dev/null)" = "{}" ] &&
	ok "/home/node/.claude is the group's state dir" ||
	not_ok "/home/node/.claude is the group's state dir" "$(ls -la "$data/groups/default/state" 2>&1)"
[ -z "$(find "$data" -name .claude.json)" ] && ok "~/.claude.json stays in the HOME tmpfs" ||
	not_ok "~/.claude.json stays in the HOME tmpfs"

[ "$(count_ours)" -eq 0 ] && ok "no container is left" || not_ok "no container is left"
done_testing
