#!/bin/bash
# `make bench`, the proxy's part: added latency to the first byte of a streamed response,
# through the credential proxy against directly, to the same fake Messages API over TLS
# (tests/support/fake_messages_api.py) on 127.0.0.1. RUNS (default 50) interleaved runs.
set -eu
cd "$(dirname "$0")/.."
runs=${RUNS:-50}
bin=${NANOCELL_BUILD:-build}/tests/bench/bench_proxy
tmp=$(mktemp -d /tmp/nanocell-bench-proxy.XXXXXX)
fake=""
trap '[ -n "$fake" ] && kill "$fake" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/tls.key" -out "$tmp/tls.crt" -days 1 \
	-subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" >/dev/null 2>&1
printf 'sk-bench-%s\n' "$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" >"$tmp/apikey"
chmod 600 "$tmp/apikey"
python3 tests/support/fake_messages_api.py --cert "$tmp/tls.crt" --key "$tmp/tls.key" \
	--api-key-file "$tmp/apikey" --port-file "$tmp/port" --log /dev/null &
fake=$!
for _ in $(seq 1 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
upstream="https://127.0.0.1:$(cat "$tmp/port")"
printf '[model]\nupstreams = ["%s"]\nmethods = ["POST"]\npaths = ["/v1/messages"]\n' \
	"$upstream" >"$tmp/egress.toml"
printf '[install]\ndata_dir = "%s/data"\n[proxy]\nupstream = "%s"\napi_key_file = "%s/apikey"\nca_file = "%s/tls.crt"\npolicy = "%s/egress.toml"\n' \
	"$tmp" "$upstream" "$tmp" "$tmp" "$tmp" >"$tmp/config.toml"
echo "nanocell proxy bench: $runs interleaved runs per side, fake Messages API on 127.0.0.1"
"$bin" "$tmp/config.toml" "$runs"
