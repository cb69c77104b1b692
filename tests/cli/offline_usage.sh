#!/bin/bash
# Command-line contract without an engine: help, usage errors (2), bad configuration (2), an
# engine that is not there (3).
. "$(dirname "$0")/lib.sh"

run "$NC" --help
expect_rc "--help exits 0" 0
expect_match "--help lists doctor" "$OUT" "doctor"
run "$NC"
expect_rc "no command is a usage error" 2
run "$NC" frobnicate
expect_rc "unknown command is a usage error" 2
expect_match "unknown command is named" "$ERR" "unknown command 'frobnicate'"
for c in doctor ps gc; do
	run "$NC" $c --help
	expect_rc "$c --help exits 0" 0
	expect_match "$c --help shows usage" "$OUT" "usage: nanocell $c"
	run "$NC" $c --bogus
	expect_rc "$c with an unknown option is a usage error" 2
done

export NANOCELL_CONFIG="$TMP/config.toml"
printf '[install]\ndata_dir = "%s/data"\n[engine]\nreqest_timeout = "5s"\n' "$TMP" >"$NANOCELL_CONFIG"
run "$NC" doctor
expect_rc "a typo in the config is a configuration error" 2
expect_match "the typo is named with its position" "$ERR" "config.toml:4:18: key 'engine.reqest_timeout': unknown key"

printf '[install]\ndata_dir = "%s/data"\n' "$TMP" >"$NANOCELL_CONFIG"
run "$NC" doctor --host "unix://$TMP/no-engine.sock"
expect_rc "doctor without an engine exits 3" 3
expect_match "doctor says why the engine was not found" "$OUT$ERR" "no-engine.sock.*missing"
run "$NC" ps --host "tcp://127.0.0.1:2375"
expect_rc "a tcp engine is refused with exit 3" 3
expect_match "the refusal says what to do instead" "$ERR" "tcp engines are not supported yet"
long=$(printf 'x%.0s' $(seq 1 120))
run "$NC" gc --host "unix:///tmp/$long.sock"
expect_rc "an overlong socket path is refused" 3
expect_match "the overlong path is reported, not truncated" "$ERR" "more than the 107"
done_testing
