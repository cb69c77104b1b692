#!/bin/bash
# nanocell policy check: every policy shipped in policies/ is valid, every broken copy in
# tests/policies/bad/ is refused with its own reason, and the configured policies check out.
. "$(dirname "$0")/lib.sh"

export NANOCELL_CONFIG="$TMP/config.toml"
printf '[install]\ndata_dir = "%s/data"\n' "$TMP" >"$NANOCELL_CONFIG"
for f in $(find policies -name '*.json' -o -name '*.toml' | sort); do
	run "$NC" policy check "$f"
	expect_rc "policies/ ships a valid $(basename "$f")" 0
done
for f in tests/policies/bad/*.json; do
	run "$NC" policy check "$f"
	expect_rc "refuses $(basename "$f")" 1
	expect_match "names the file in the refusal of $(basename "$f")" "$OUT" "^BAD seccomp $f: policy '$f': "
done
run "$NC" policy check
expect_rc "the configured policies are valid" 0
expect_match "the built-in profile is checked" "$OUT" "ok  seccomp built-in agent profile.*sha256 [0-9a-f]{64}"
printf '[install]\ndata_dir = "%s/data"\n[sandbox]\nseccomp_profile = "%s/tests/policies/bad/unknown-syscall.json"\n' \
	"$TMP" "$PWD" >"$NANOCELL_CONFIG"
run "$NC" policy check
expect_rc "a configured broken profile is a problem" 1
expect_match "and is named" "$OUT" "BAD seccomp for the global settings: .*unknown syscall"
printf '[install]\ndata_dir = "%s/data"\n[sandbox]\nmounts = ["/srv:srv"]\nmount_allowlist = "%s/none.toml"\n' \
	"$TMP" "$TMP" >"$NANOCELL_CONFIG"
run "$NC" policy check
expect_rc "mounts without an allowlist are a problem" 1
expect_match "the missing allowlist is named" "$OUT" "none.toml' does not exist"
run "$NC" policy check "$TMP/x.yaml"
expect_rc "an unknown policy kind is a usage error" 2
run "$NC" policy frobnicate
expect_rc "an unknown policy subcommand is a usage error" 2

# egress policies (policies/egress.toml's format)
run "$NC" policy check policies/egress.toml
expect_match "the shipped egress policy is checked as one" "$OUT" "^ok  egress policies/egress.toml: 1 model upstream"
printf '[model]\nupstreams = ["https://api.anthropic.com"]\nmethods = ["POST"]\npaths = ["/v1/messages"]\n[egress]\nallow = ["169.254.169.254:80"]\n' >"$TMP/ip.toml"
run "$NC" policy check "$TMP/ip.toml"
expect_rc "an egress policy naming an address is refused" 1
expect_match "with the reason" "$OUT" "BAD egress .*'169.254.169.254' is not a host name"
printf '[egress]\nallow = ["github.com"]\n' >"$TMP/noport.toml"
run "$NC" policy check "$TMP/noport.toml"
expect_rc "an egress entry without a port is refused" 1
expect_match "a port is required" "$OUT" "needs a port"
printf '[install]\ndata_dir = "%s/data"\n[proxy]\nupstream = "https://llm.example.com"\n' "$TMP" >"$NANOCELL_CONFIG"
run "$NC" policy check
expect_rc "an upstream the egress policy does not list is a problem" 1
expect_match "and is named" "$OUT" "BAD egress for the global settings: proxy.upstream 'https://llm.example.com' is not one"
printf '[install]\ndata_dir = "%s/data"\n[[group]]\nname = "g"\nproxy.policy = "%s/ip.toml"\n' "$TMP" "$TMP" >"$NANOCELL_CONFIG"
run "$NC" policy check
expect_rc "a group's broken egress policy is a problem" 1
expect_match "named with its group" "$OUT" "BAD egress for group 'g'"
done_testing
