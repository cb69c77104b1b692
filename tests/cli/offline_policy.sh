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
done_testing
