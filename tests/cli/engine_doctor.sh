#!/bin/bash
# doctor predicts what run will refuse, against a real engine (NANOCELL_TEST_SOCKET,
# NANOCELL_TEST_ENGINE): a missing image, an unknown runtime (globally and per group), mounts
# without an allowlist; a runtime pinned on Podman that its service does not run; the channels'
# token file, plain-http destinations and hook secrets; --json; and one exit status per kind of
# problem (2 for configuration, wherever it comes from).
. "$(dirname "$0")/lib.sh"
sock=$NANOCELL_TEST_SOCKET
install="doctest$$"
chmod 755 "$TMP"
export NANOCELL_CONFIG="$TMP/config.toml"
waivers=
case $NANOCELL_TEST_ENGINE in
rootless-podman) waivers='"memory", "pids", "cpu"' ;;
esac
# base [EXTRA-SANDBOX-LINES]: a config for this engine, happy with it as it stands.
base() {
	printf '[install]\nid = "%s"\ndata_dir = "%s/data"\n[engine]\nhost = "unix://%s"\n' \
		"$install" "$TMP" "$sock"
	printf '[sandbox]\nallow_unenforced = [%s]\nmount_allowlist = "%s/allow.toml"\n' "$waivers" "$TMP"
	printf '%s\n' "$@"
}

base >"$NANOCELL_CONFIG"
run "$NC" doctor
expect_rc "doctor is happy with a working configuration" 0
expect_match "doctor checks the image" "$OUT" "ok +agent.image 'nanocell-agent:latest' is on the engine"

# Everything at once: each is named, and doctor exits 1.
{
	base 'runtime = "no-such-runtime"' 'mounts = ["/srv:srv"]'
	printf '[agent]\nimage = "nanocell-agent:no-such-tag"\n'
	printf '[[group]]\nname = "other"\nsandbox.runtime = "other-runtime"\n'
} >"$NANOCELL_CONFIG"
# [agent] after [sandbox]: TOML tables may come in any order, but keys after [[group]] belong to
# it, so the group comes last.
run "$NC" doctor
expect_rc "doctor exits 1 when every run would fail" 1
expect_match "a missing image is a problem" "$OUT" "problem +image 'nanocell-agent:no-such-tag' is not on the engine"
expect_match "and doctor says how to get it" "$OUT" "(docker|podman) pull nanocell-agent:no-such-tag"
expect_match "an unknown runtime is a problem" "$OUT" "problem +sandbox.runtime 'no-such-runtime' is not known to the engine"
expect_match "a group's runtime is checked too" "$OUT" "problem +group 'other': sandbox.runtime 'other-runtime' is not known"
expect_match "mounts without an allowlist are a problem" "$OUT" "problem +sandbox.mounts is set but mount allowlist '$TMP/allow.toml' does not exist"
expect_no_match "doctor does not say all is well" "$OUT" "no problems found"
run "$NC" doctor --json
expect_rc "doctor --json keeps the exit status" 1
if printf '%s' "$OUT" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["engine"]["kind"] in ("Docker", "Podman")
assert any(c["chosen"] for c in d["candidates"])
texts = [c["text"] for c in d["checks"] if c["status"] == "problem"]
for want in ("nanocell-agent:no-such-tag", "no-such-runtime", "other-runtime", "sandbox.mounts"):
    assert any(want in t for t in texts), (want, texts)
assert d["problems"] == len(texts)
' 2>"$TMP/py"; then ok "doctor --json names every problem"; else not_ok "doctor --json names every problem" "$(cat "$TMP/py")" "$OUT"; fi

# on_rejected_mount = "skip": run goes on without the mounts, so it is a warning.
base 'mounts = ["/srv:srv"]' 'on_rejected_mount = "skip"' >"$NANOCELL_CONFIG"
run "$NC" doctor
expect_rc "skipped mounts are not a problem" 0
expect_match "but a warning" "$OUT" "warn +sandbox.mounts is set but .*run skips the mounts"

# A runtime the engine has is fine.
base 'runtime = "runc"' >"$NANOCELL_CONFIG"
run "$NC" doctor
expect_rc "a known runtime passes" 0
expect_match "and is reported" "$OUT" "ok +sandbox.runtime 'runc' is known to the engine"

# On Podman a pinned runtime passes only when it is the one the service runs: Podman 4.3 runs
# its own whatever is asked, and run refuses a container that is not on the pinned runtime.
case $NANOCELL_TEST_ENGINE in
*podman)
	svc=$(curl -sf --unix-socket "$sock" http://d/v4.0.0/libpod/info | jq -r .host.ociRuntime.name)
	other=crun
	[ "$svc" = crun ] && other=runc
	base "runtime = \"$svc\"" >"$NANOCELL_CONFIG"
	run "$NC" doctor
	expect_rc "the Podman service's own runtime, pinned, passes" 0
	expect_match "and is reported so" "$OUT" "ok +sandbox.runtime '$svc' is known to the engine, and is the runtime the Podman service runs"
	base "runtime = \"$other\"" >"$NANOCELL_CONFIG"
	run "$NC" doctor
	expect_rc "another runtime the engine lists is a problem on Podman" 1
	expect_match "doctor says it is refused, and why" "$OUT" "problem +sandbox.runtime '$other' is refused on Podman: the service runs its containers on '$svc' whatever runtime is asked for"
	;;
esac

# The channels: the token file, where the token and the replies go, the hooks' secrets.
printf '123456:abc\n' >"$TMP/token"
chmod 644 "$TMP/token"
{
	base
	printf '[telegram]\ntoken_file = "%s/token"\n' "$TMP"
	printf '[[hook]]\nname = "ci"\ngroup = "g"\nsecret = "0123456789abcdef"\nurl = "https://ci.example.com/in"\n'
	printf '[[hook]]\nname = "local"\ngroup = "g"\nsecret = "0123456789abcdef0123456789abcdef"\nurl = "http://127.0.0.1:9/in"\n'
} >"$NANOCELL_CONFIG"
run "$NC" doctor
expect_rc "unsafe channel settings are problems" 1
expect_match "a token file others can read" "$OUT" "problem +telegram.token_file '$TMP/token' has mode 0644: others can read the secret, and the daemon refuses it; run chmod 600"
expect_match "a short hook secret" "$OUT" "warn +hook 'ci': the secret is only 16 bytes"
expect_match "plain http to this host is fine" "$OUT" "ok +hook 'local': url 'http://127.0.0.1:9/in' is plain http, but to this host"
expect_no_match "the token is never shown" "$OUT" "123456:abc"
# Plain http to another host would carry the token (in every URL) or the replies in the clear:
# a configuration error, not a warning.
{
	base
	printf '[telegram]\ntoken_file = "%s/token"\napi_base = "http://api.example.com"\n' "$TMP"
} >"$NANOCELL_CONFIG"
run "$NC" doctor
expect_rc "the Bot API over plain http is refused" 2
expect_match "and why" "$ERR" "'http://api.example.com' is plain http to another host: the bot token"
{
	base
	printf '[[hook]]\nname = "ci"\ngroup = "g"\nsecret = "0123456789abcdef"\nurl = "http://ci.example.com/in"\n'
} >"$NANOCELL_CONFIG"
run "$NC" doctor
expect_rc "a hook url over plain http is refused" 2
expect_match "and why" "$ERR" "plain http to another host would send every reply in the clear"
chmod 600 "$TMP/token"
{
	base
	printf '[telegram]\ntoken_file = "%s/token"\n' "$TMP"
} >"$NANOCELL_CONFIG"
run "$NC" doctor
expect_rc "a 0600 token file and the https Bot API pass" 0
expect_match "and are reported" "$OUT" "ok +telegram.token_file '$TMP/token': mode 0600, owned by this user"

# --- one problem, one exit status: configuration is 2 wherever it comes from ---
base >"$NANOCELL_CONFIG"
run "$NC" run -q --image nanocell-agent:no-such-tag -- "echo x"
expect_rc "a missing image is a configuration error" 2
run "$NC" run -q --image "bad ref" -- "echo x"
expect_rc "an invalid image reference is a configuration error too" 2
expect_match "and is named" "$ERR" "image reference 'bad ref'"
run "$NC" run -q --image "UPPER/x" -- "echo x"
expect_rc "a reference the engine would refuse is caught the same way" 2
base 'mounts = ["/srv:srv"]' >"$NANOCELL_CONFIG"
run "$NC" run -q -- "echo x"
expect_rc "mounts with a missing allowlist are a configuration error" 2
expect_match "the missing allowlist is named" "$ERR" "allow.toml' does not exist"
printf '[[root]]\npath = "/srv"\n' >"$TMP/allow.toml"
chmod 664 "$TMP/allow.toml"
run "$NC" run -q -- "echo x"
expect_rc "a group-writable allowlist is a configuration error as well" 2
expect_match "the unsafe allowlist is named" "$ERR" "is writable by group or others"
run "$NC" doctor
expect_rc "doctor finds the unsafe allowlist" 1
expect_match "and names it" "$OUT" "problem +sandbox.mounts is set but mount allowlist '$TMP/allow.toml' is writable by group or others"
chmod 644 "$TMP/allow.toml"
mkdir -p "$TMP/srv"
base "mounts = [\"$TMP/srv:srv\"]" >"$NANOCELL_CONFIG"
printf '[[root]]\npath = "%s/srv"\n' "$TMP" >"$TMP/allow.toml"
run "$NC" doctor
expect_rc "with an allowlist that allows the mount, doctor is happy" 0
expect_match "and shows where it goes" "$OUT" "ok +mount '$TMP/srv:srv' -> /workspace/extra/srv \(read-only\)"

api() { curl -sf --unix-socket "$sock" "$@"; }
left=$(api "http://localhost/v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22nanocell.install%3D$install%22%5D%7D" | grep -o '"Id"' | wc -l)
[ "$left" -eq 0 ] && ok "no container is left" || not_ok "no container is left" "$left left"
done_testing
