#!/bin/bash
# agent.pull against a real registry: Debian's docker-registry on a random loopback port, with
# the test image pushed to it through the engine's API, then untagged so the engine lacks it.
# Docker treats 127.0.0.0/8 registries as plain HTTP and pulls; Podman insists on HTTPS, and
# nanocell must turn the error inside the pull stream into a clear failure.
. "$(dirname "$0")/lib.sh"
sock=$NANOCELL_TEST_SOCKET
command -v docker-registry >/dev/null || { echo "1..0 # SKIP docker-registry is not installed (scripts/install-deps.sh)"; exit 0; }
install="pulltest$$"
chmod 755 "$TMP"
api() { curl -sf --unix-socket "$sock" -H 'Content-Type: application/json' "$@"; }

reg_pid=
cleanup() {
	[ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null && wait "$reg_pid" 2>/dev/null
	[ -n "${repo:-}" ] && api -X DELETE "http://localhost/v1.41/images/$repo:t$$" >/dev/null 2>&1
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

for _ in 1 2 3 4 5; do
	port=$((20000 + RANDOM % 40000))
	printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s/registry\nhttp:\n  addr: 127.0.0.1:%s\n' \
		"$TMP" "$port" >"$TMP/registry.yml"
	docker-registry serve "$TMP/registry.yml" >"$TMP/registry.log" 2>&1 &
	reg_pid=$!
	for _ in $(seq 1 50); do
		curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break
		kill -0 "$reg_pid" 2>/dev/null || break
		sleep 0.1
	done
	curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break
	kill "$reg_pid" 2>/dev/null
	wait "$reg_pid" 2>/dev/null
	reg_pid=
done
[ -n "$reg_pid" ] && ok "a registry answers on 127.0.0.1:$port" || { not_ok "a registry answers" "$(cat "$TMP/registry.log")"; done_testing; exit 1; }

repo="127.0.0.1:$port/nc/agent"
ref="$repo:t$$"
api -X POST "http://localhost/v1.41/images/nanocell-agent:latest/tag?repo=$repo&tag=t$$" >/dev/null
pushed=$(api -X POST -H 'X-Registry-Auth: e30=' "http://localhost/v1.41/images/$repo/push?tag=t$$&tlsVerify=false")
api -X DELETE "http://localhost/v1.41/images/$ref" >/dev/null
if printf '%s' "$pushed" | grep -q '"digest\|digest: sha256'; then ok "the agent image is in the registry"; else not_ok "the agent image is in the registry" "$pushed"; fi
api "http://localhost/v1.41/images/$ref/json" >/dev/null && not_ok "the engine lacks the pushed tag" || ok "the engine lacks the pushed tag"

export NANOCELL_CONFIG="$TMP/config.toml"
conf() {
	printf '[install]\nid = "%s"\ndata_dir = "%s/data"\n[engine]\nhost = "unix://%s"\n' "$install" "$TMP" "$sock"
	printf '[agent]\nimage = "%s"\npull = "%s"\n' "$ref" "$1"
	case $NANOCELL_TEST_ENGINE in
	rootless-podman) printf '[sandbox]\nallow_unenforced = ["memory", "pids", "cpu"]\n' ;;
	esac
}

conf never >"$NANOCELL_CONFIG"
run "$NC" run -- "echo pulled"
expect_rc "with agent.pull = \"never\" a missing image is a configuration error" 2
expect_match "and the error says how to get it" "$ERR" "(docker|podman) pull $ref'.*agent.pull = \"missing\""
run "$NC" doctor
expect_rc "doctor calls the missing image a problem" 1

conf missing >"$NANOCELL_CONFIG"
run "$NC" doctor
expect_match "with agent.pull = \"missing\" doctor only warns" "$OUT" "warn +image '$ref' is not on the engine; run pulls it first"
run "$NC" run -- "echo pulled"
case $NANOCELL_TEST_ENGINE in
docker)
	expect_rc "run pulls the image, then runs the turn" 0
	expect_match "with a progress line" "$ERR" "pulling image '$ref'"
	expect_match "and the engine's steps" "$ERR" "Status: Downloaded newer image for $ref"
	expect_match "the turn ran" "$OUT" "^pulled$"
	;;
*)
	# Podman will not talk plain HTTP to the registry: the error arrives inside the stream.
	expect_rc "a pull the engine fails is an engine error" 3
	expect_match "the engine's error is reported" "$ERR" "pull image '$ref': .*(HTTPS|http)"
	;;
esac
done_testing
