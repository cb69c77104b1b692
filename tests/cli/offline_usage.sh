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

# --- run: durations are range-checked in every form, before any engine is contacted ---
printf '[install]\ndata_dir = "%s/data"\n[engine]\nhost = "unix://%s/no-engine.sock"\n' "$TMP" "$TMP" >"$NANOCELL_CONFIG"
for t in 18446744073709551615ms 2592001 2592000.5 721h 43201m 99999999999999999999; do
	run "$NC" run --timeout "$t" -- "echo x"
	expect_rc "--timeout $t is refused as a usage error" 2
	expect_match "--timeout $t: the maximum is named" "$ERR" "more than 30 days"
done
for t in 0 0ms -5 5x 1.5ms abc; do
	run "$NC" run --timeout "$t" -- "echo x"
	expect_rc "--timeout '$t' is refused as a usage error" 2
done
for t in 5 0.5 2m 1h 500ms 720h; do
	run "$NC" run --timeout "$t" -- "echo x"
	expect_rc "--timeout $t is accepted (then no engine: 3)" 3
done
# The config file: a bare number is seconds, as on the command line, and huge values fail.
for v in '"60"' 60 '"0.5m"' '"1h"'; do
	printf '[install]\ndata_dir = "%s/data"\n[engine]\nhost = "unix://%s/no-engine.sock"\n[agent]\ntimeout = %s\n' "$TMP" "$TMP" "$v" >"$NANOCELL_CONFIG"
	run "$NC" run -- "echo x"
	expect_rc "agent.timeout = $v is accepted (then no engine: 3)" 3
done
for v in '"18446744073709551615ms"' 18446744073709551 '"2592001"'; do
	printf '[install]\ndata_dir = "%s/data"\n[agent]\ntimeout = %s\n' "$TMP" "$v" >"$NANOCELL_CONFIG"
	run "$NC" run -- "echo x"
	expect_rc "agent.timeout = $v is a configuration error" 2
	expect_match "agent.timeout = $v: the limit is named" "$ERR" "more than 30 days"
done

# --- run --json: every failure is also a JSON object on stdout ---
printf '[install]\ndata_dir = "%s/data"\n[engine]\nhost = "unix://%s/no-engine.sock"\n' "$TMP" "$TMP" >"$NANOCELL_CONFIG"
run "$NC" run --json --timeout 5x -- "echo x"
expect_rc "--json: a usage error still exits 2" 2
expect_match "--json: the usage error is a JSON object" "$OUT" '^\{"type":"error","error":"--timeout: invalid duration .5x.: unknown unit .x.; expected seconds.*","exit":2\}$'
run "$NC" run --bogus --json -- "echo x"
expect_rc "--json after a bad option: exit 2" 2
expect_match "--json after a bad option: a JSON object" "$OUT" '^\{"type":"error","error":"invalid command line: see nanocell run --help","exit":2\}$'
run "$NC" run --json -- "echo x"
expect_rc "--json without an engine: exit 3" 3
expect_match "--json without an engine: a JSON object" "$OUT" '^\{"type":"error","error":"[^"]*no-engine.sock[^"]*","exit":3\}$'
run "$NC" run --json
expect_match "--json without a prompt: a JSON object" "$OUT" '^\{"type":"error","error":"no prompt: [^"]*","exit":2\}$'
run "$NC" run -- "echo x"
expect_no_match "without --json, stdout stays empty on failure" "$OUT" "."
done_testing
