#!/bin/bash
# A tcp engine over TLS: a second dockerd on this machine (tests/cli/lib_dockerd.sh) listening on
# 127.0.0.1 with --tlsverify and certificates made here by openssl. A turn through it, the escape
# probe through it (tests/integration/test_sandbox with NANOCELL_TEST_HOST), a Docker context
# pointing at it, and the refusals: a CA that did not sign it, no client certificate, a name
# its certificate does not carry, plain tcp. One dockerd for the whole script; the EXIT trap
# stops it and removes everything it made. Docker only: the second engine is a dockerd.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_dockerd.sh"
[ "$NANOCELL_TEST_ENGINE" = docker ] || { echo "1..0 # SKIP the second engine is a dockerd (docker run only)"; exit 0; }
[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP a second dockerd needs root"; exit 0; }
for c in dockerd openssl ip ss jq; do
	command -v $c >/dev/null || { echo "1..0 # SKIP $c is not installed"; exit 0; }
done
DPID=""
trap '[ -n "$DPID" ] && kill -9 "$DPID" 2>/dev/null; dockerd2_stop; rm -rf "$TMP"' EXIT
chmod 755 "$TMP"
pki=$TMP/pki
dockerd2_certs "$pki" || { not_ok "openssl made the certificates"; done_testing; exit 1; }
if ! dockerd2_start tls "$pki"; then
	not_ok "a second dockerd starts with TLS"
	done_testing
	exit 1
fi
ok "a second dockerd answers on 127.0.0.1:$D2_PORT with --tlsverify"
install="tls$$"
addr="tcp://127.0.0.1:$D2_PORT"
config() { # config EXTRA-ENGINE-LINES
	printf '[install]\nid = "%s"\ndata_dir = "%s/data"\n[engine]\n%s\n' "$install" "$TMP" "$1"
}
export NANOCELL_CONFIG="$TMP/config.toml"
good="host = \"$addr\"
tls_ca = \"$pki/ca.pem\"
tls_cert = \"$pki/cert.pem\"
tls_key = \"$pki/key.pem\""
count_ours() {
	curl -sf --unix-socket "$D2_SOCK" "http://localhost/v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22nanocell.install%3D$install%22%5D%7D" |
		grep -o '"Id"' | wc -l
}

# --- a turn through it ---
config "$good" >"$NANOCELL_CONFIG"
run "$NC" run -- "echo hello over tls"
expect_rc "a turn through the TLS engine exits 0" 0
expect_match "its result is printed (the attach streams over TLS)" "$OUT" "^hello over tls$"
expect_match "the turn ran on the tcp engine" "$ERR" "at tcp://127\.0\.0\.1:$D2_PORT"
expect_match "and was verified" "$ERR" "sandbox verified: [0-9]+ checks passed"
run "$NC" run -q -- "emit 3"
[ "$OUT" = "$(printf 'result %d of 3\n' 1 2 3)" ] && ok "several results arrive in order over TLS" ||
	not_ok "several results arrive in order over TLS" "$OUT" "$ERR"
[ "$(count_ours)" -eq 0 ] && ok "no container is left on it" || not_ok "no container is left on it"
run "$NC" doctor
expect_match "doctor names the transport" "$OUT" "transport +tls, client certificate $pki/cert.pem"

# --- the escape probe through it ---
probe=${NANOCELL_BUILD:-build}/tests/integration/test_sandbox
if [ -x "$probe" ]; then
	run env NANOCELL_TEST_HOST="$addr" DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH="$pki" \
		NANOCELL_TEST_SOCKET="$D2_SOCK" NANOCELL_TEST_ENGINE=docker "$probe"
	expect_rc "every escape probe check passes on the TLS engine" 0
	expect_match "the probe ran there" "$OUT" "probe engine-socket"
else
	not_ok "the escape probe is built ($probe)"
fi

# --- refusals ---
config "host = \"$addr\"
tls_ca = \"$pki/other-ca.pem\"
tls_cert = \"$pki/cert.pem\"
tls_key = \"$pki/key.pem\"" >"$NANOCELL_CONFIG"
run "$NC" run -- "echo never"
expect_rc "a CA that did not sign the engine's certificate is refused" 3
expect_match "and says the engine did not prove who it is" "$ERR" "did not prove who it is"
config "host = \"$addr\"
tls_ca = \"$pki/ca.pem\"" >"$NANOCELL_CONFIG"
run "$NC" run -- "echo never"
expect_rc "no client certificate: the engine refuses us" 3
expect_no_match "nothing ran" "$OUT" "never"
expect_match "the error names the engine" "$ERR" "engine 'tcp://127\.0\.0\.1:$D2_PORT' \(from config key engine.host\)"
config "$good
tls_server_name = \"other.test\"" >"$NANOCELL_CONFIG"
run "$NC" run -- "echo never"
expect_rc "a name the certificate does not carry is refused" 3
config "$good
tls_server_name = \"engine.test\"" >"$NANOCELL_CONFIG"
run "$NC" run -q -- "echo by name"
expect_match "the name it does carry is accepted" "$OUT" "^by name$"
config "host = \"$addr\"" >"$NANOCELL_CONFIG"
run "$NC" run -- "echo never"
expect_rc "plain tcp is refused before connecting" 2
expect_match "and says why" "$ERR" "root on its host"
[ "$(count_ours)" -eq 0 ] && ok "no refused turn left a container" || not_ok "no refused turn left a container"

# --- a Docker context pointing at it ---
dc=$TMP/docker-config
h=$(printf %s nc-remote | sha256sum | cut -d' ' -f1)
mkdir -p "$dc/contexts/meta/$h" "$dc/contexts/tls/$h/docker"
printf '{"Name":"nc-remote","Metadata":{},"Endpoints":{"docker":{"Host":"%s","SkipTLSVerify":false}}}\n' \
	"$addr" >"$dc/contexts/meta/$h/meta.json"
cp "$pki/ca.pem" "$pki/cert.pem" "$pki/key.pem" "$dc/contexts/tls/$h/docker/"
printf '{"currentContext":"nc-remote"}\n' >"$dc/config.json"
config "" >"$NANOCELL_CONFIG"
run env DOCKER_CONFIG="$dc" "$NC" run -q -- "echo through the context"
expect_rc "a turn through Docker's currentContext exits 0" 0
expect_match "and ran there" "$OUT" "^through the context$"
run env DOCKER_CONFIG="$dc" "$NC" doctor
expect_match "doctor names the context" "$OUT" "engine +Docker .* at $addr \(Docker context 'nc-remote' from currentContext in $dc/config.json\)"
run env DOCKER_CONFIG="$dc" DOCKER_CONTEXT=nc-missing "$NC" ps
expect_rc "a DOCKER_CONTEXT that does not exist is final: no fallback" 2
expect_match "and named" "$ERR" "Docker context 'nc-missing' does not exist"
config "host = \"unix:///var/run/docker.sock\"" >"$NANOCELL_CONFIG"
run env DOCKER_CONFIG="$dc" "$NC" run -- "echo local"
expect_match "engine.host wins over Docker's currentContext" "$ERR" "at unix:///var/run/docker.sock"

# --- serve through the context, and the engine going away and coming back ---
export NANOCELL_API="$TMP/api.sock"
config '' >"$NANOCELL_CONFIG"
printf '[agent]\nidle_timeout = "1s"\n[orch]\nretry_base = "300ms"\n' >>"$NANOCELL_CONFIG"
DOCKER_CONFIG="$dc" "$NC" serve >>"$TMP/serve.log" 2>&1 &
DPID=$!
for _ in $(seq 1 100); do "$NC" status >/dev/null 2>&1 && break; sleep 0.1; done
"$NC" groups add t --no-trigger >/dev/null
answered() { # TEXT: a reply of group t
	for _ in $(seq 1 150); do
		"$NC" messages --group t --json 2>/dev/null | jq -e -s "any(.[]; .direction == \"out\" and .text == \"$1\")" >/dev/null && return 0
		sleep 0.2
	done
	return 1
}
"$NC" send --group t --no-wait "echo served over tls" >/dev/null
answered "served over tls" && ok "serve runs turns on the context's TLS engine" || not_ok "serve runs turns on the context's TLS engine" "$(tail -n 20 "$TMP/serve.log")"
for _ in $(seq 1 50); do [ "$(count_ours)" -eq 0 ] && break; sleep 0.2; done
dockerd2_kill
"$NC" send --group t --no-wait "echo after the restart" >/dev/null
for _ in $(seq 1 100); do grep -q "retrying in" "$TMP/serve.log" && break; sleep 0.1; done
dockerd2_restart
answered "after the restart" && ok "after the engine failed, serve reconnects with the context's TLS files" ||
	not_ok "serve reconnects with the context's TLS files" "$(tail -n 20 "$TMP/serve.log")"
kill -TERM "$DPID"
wait "$DPID"
DPID=""

dockerd2_stop
pgrep -f "$TMP" >/dev/null && not_ok "the second dockerd is gone" || ok "the second dockerd is gone"
done_testing
