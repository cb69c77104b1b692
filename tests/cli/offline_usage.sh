#!/bin/bash
# Command-line contract without an engine: help, usage errors (2), bad configuration (2), an
# engine that is not there (3).
. "$(dirname "$0")/lib.sh"

run "$NC" --help
expect_rc "--help exits 0" 0
expect_match "--help lists doctor" "$OUT" "doctor"
expect_match "--help lists -V/--version" "$OUT" "-V, --version"
expect_match "--help lists the global options" "$OUT" "-H, --host URI"
run "$NC" -V
expect_rc "-V exits 0" 0
expect_match "-V prints the version" "$OUT" "^nanocell [0-9]+\.[0-9]+"
run "$NC" --bogus ps
expect_rc "an unknown option before the command is a usage error" 2
run "$NC" --config
expect_rc "a global option without its value is a usage error" 2
run "$NC"
expect_rc "no command is a usage error" 2
run "$NC" frobnicate
expect_rc "unknown command is a usage error" 2
expect_match "unknown command is named" "$ERR" "unknown command 'frobnicate'"
for c in doctor ps gc; do
	run "$NC" $c --help
	expect_rc "$c --help exits 0" 0
	expect_match "$c --help shows usage" "$OUT" "usage: nanocell $c"
	expect_match "$c --help documents the short options" "$OUT" "-c\|--config FILE\] \[-H\|--host URI\]"
	run "$NC" $c --bogus
	expect_rc "$c with an unknown option is a usage error" 2
done
run "$NC" run --help
expect_match "run --help documents the short options" "$OUT" "-g, --group G"
run "$NC" ps --help
expect_match "ps --help documents -q" "$OUT" "-q, --quiet"
run "$NC" gc --help
expect_match "gc --help documents --dry-run" "$OUT" "-n, --dry-run"
run "$NC" doctor --help
expect_match "doctor --help documents --json" "$OUT" "-j, --json"

export NANOCELL_CONFIG="$TMP/config.toml"
printf '[install]\ndata_dir = "%s/data"\n[engine]\nreqest_timeout = "5s"\n' "$TMP" >"$NANOCELL_CONFIG"
run "$NC" doctor
expect_rc "a typo in the config is a configuration error" 2
expect_match "the typo is named with its position" "$ERR" "config.toml:4:18: key 'engine.reqest_timeout': unknown key"

run "$NC" --config "$NANOCELL_CONFIG" doctor
expect_rc "--config before the command is handed on" 2
expect_match "and the file it names is read" "$ERR" "key 'engine.reqest_timeout': unknown key"

printf '[install]\ndata_dir = "%s/data"\n' "$TMP" >"$NANOCELL_CONFIG"
run "$NC" doctor --host "unix://$TMP/no-engine.sock"
expect_rc "doctor without an engine exits 3" 3
expect_match "doctor says why the engine was not found" "$OUT$ERR" "no-engine.sock.*missing"
run "$NC" --host "unix://$TMP/before.sock" doctor
expect_rc "--host before the command is handed on" 3
expect_match "and names the engine it was given" "$OUT$ERR" "before.sock \(--host\): missing"
run "$NC" -H "unix://$TMP/short.sock" ps
expect_match "-H before the command works too" "$ERR" "short.sock' \(from --host\): missing"

# Engine address order, as Docker's: DOCKER_HOST beats engine.host; a set address is final.
printf '[install]\ndata_dir = "%s/data"\n[engine]\nhost = "unix://%s/config.sock"\n' "$TMP" "$TMP" >"$NANOCELL_CONFIG"
run env DOCKER_HOST="unix://$TMP/env.sock" "$NC" ps
expect_rc "a missing DOCKER_HOST engine exits 3" 3
expect_match "DOCKER_HOST comes before engine.host" "$ERR" "env.sock' \(from DOCKER_HOST\): missing"
run env DOCKER_HOST="unix://$TMP/env.sock" "$NC" doctor
expect_match "doctor lists the candidates after the final one" "$OUT" "config.sock \(config key engine.host\): missing, not used: DOCKER_HOST is final"
expect_match "doctor lists the default sockets too" "$OUT" "/run/podman/podman.sock \(rootful Podman socket\): .*not used: DOCKER_HOST is final"
run env DOCKER_HOST="unix://$TMP/env.sock" "$NC" doctor --json
expect_rc "doctor --json without an engine exits 3 as well" 3
if command -v python3 >/dev/null; then
	if printf '%s' "$OUT" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["engine"] is None
c = d["candidates"]
assert c[0]["source"] == "DOCKER_HOST" and not c[0]["ok"], c[0]
assert c[1]["source"] == "config key engine.host", c[1]
assert any(x["status"] == "problem" for x in d["checks"])
' 2>"$TMP/py"; then ok "doctor --json is one object with the candidates"; else not_ok "doctor --json is one object with the candidates" "$(cat "$TMP/py")" "$OUT"; fi
fi
run env CONTAINER_HOST="unix://$TMP/container.sock" "$NC" ps
expect_match "CONTAINER_HOST comes before engine.host" "$ERR" "container.sock' \(from CONTAINER_HOST\): missing"

# One problem, one exit status: a malformed or unsupported address is a usage error (2)
# wherever it was set.
printf '[install]\ndata_dir = "%s/data"\n' "$TMP" >"$NANOCELL_CONFIG"
run "$NC" ps --host "tcp://127.0.0.1:2375"
expect_rc "a tcp engine through --host is a usage error" 2
expect_match "the refusal says why and what to do instead" "$ERR" "plain tcp without TLS is refused: whoever reaches an engine's API is root on its host"
run "$NC" ps --host "ssh://me@engine.example"
expect_rc "an ssh engine is a usage error" 2
expect_match "the refusal points at an ssh -L forward" "$ERR" "ssh -N -L /tmp/engine.sock:/var/run/docker.sock"
run env DOCKER_HOST="tcp://127.0.0.1:2375" "$NC" ps
expect_rc "a tcp engine through DOCKER_HOST is a usage error" 2
run env DOCKER_HOST="tcp://127.0.0.1:2375" "$NC" doctor
expect_rc "doctor with a tcp DOCKER_HOST is a usage error" 2
printf '[install]\ndata_dir = "%s/data"\n[engine]\nhost = "tcp://127.0.0.1:2375"\n' "$TMP" >"$NANOCELL_CONFIG"
run "$NC" ps
expect_rc "a tcp engine in engine.host is a usage error" 2
printf '[install]\ndata_dir = "%s/data"\n' "$TMP" >"$NANOCELL_CONFIG"
long=$(printf 'x%.0s' $(seq 1 120))
run "$NC" gc --host "unix:///tmp/$long.sock"
expect_rc "an overlong socket path is a usage error" 2
expect_match "the overlong path is reported, not truncated" "$ERR" "more than the 107"
printf '[install]\ndata_dir = "%s/data"\n[agent]\nimage = "bad ref"\n' "$TMP" >"$NANOCELL_CONFIG"
run "$NC" doctor
expect_rc "an invalid agent.image is a configuration error" 2
printf '[install]\ndata_dir = "%s/data"\n[agent]\npull = "always"\n' "$TMP" >"$NANOCELL_CONFIG"
run "$NC" doctor
expect_rc "agent.pull takes only never or missing" 2
expect_match "and says so" "$ERR" "key 'agent.pull': 'always' must be \"never\" or \"missing\""

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
