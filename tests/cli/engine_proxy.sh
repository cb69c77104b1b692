#!/bin/bash
# nanocell run in model mode through the credential proxy, against a real engine
# (NANOCELL_TEST_SOCKET, NANOCELL_TEST_ENGINE) and a fake Messages API over TLS
# (tests/support/fake_messages_api.py, with a certificate made here): a tool-using turn with
# network none, the key injected upstream and absent from the container (environment, argv and
# files of every process, scanned from inside), no direct route out, the denials (another
# upstream, an oversized request, over the per-turn budget, a key file others can read), and
# the audit log and `nanocell audit`.
. "$(dirname "$0")/lib.sh"
sock=$NANOCELL_TEST_SOCKET
[ "$NANOCELL_TEST_ENGINE" = rootless-podman ] && { echo "1..0 # SKIP rootless Podman refuses turns by default"; exit 0; }
for tool in python3 openssl jq; do
	command -v "$tool" >/dev/null || { echo "1..0 # SKIP $tool is not installed"; exit 0; }
done
install="proxytest$$"
chmod 755 "$TMP"

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/tls.key" -out "$TMP/tls.crt" -days 1 \
	-subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" >/dev/null 2>&1
suffix=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
key="sk-nc-test-$suffix"
printf '%s\n' "$key" >"$TMP/apikey"
chmod 600 "$TMP/apikey"
python3 tests/support/fake_messages_api.py --cert "$TMP/tls.crt" --key "$TMP/tls.key" \
	--api-key-file "$TMP/apikey" --port-file "$TMP/port" --log "$TMP/api.log" &
fake=$!
DPID=""
cleanup() {
	[ -n "$DPID" ] && kill -9 "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	kill "$fake" 2>/dev/null
	wait "$fake" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
for _ in $(seq 1 100); do [ -s "$TMP/port" ] && break; sleep 0.1; done
port=$(cat "$TMP/port")
upstream="https://127.0.0.1:$port"
cat >"$TMP/egress.toml" <<EOT
[model]
upstreams = ["$upstream"]
methods = ["POST"]
paths = ["/v1/messages"]
EOT

# config [PROXY-LINES...]: the base configuration and the [proxy] table.
config() {
	printf '[install]\nid = "%s"\ndata_dir = "%s/data"\n[engine]\nhost = "unix://%s"\n' \
		"$install" "$TMP" "$sock"
	printf '[agent]\nimage = "%s"\n' "${AGENT_IMAGE:-nanocell-agent:latest}"
	[ "$NANOCELL_TEST_ENGINE" = podman ] && printf '[sandbox]\nallow_unenforced = ["cgroupns"]\n'
	printf '[proxy]\nupstream = "%s"\napi_key_file = "%s/apikey"\nca_file = "%s/tls.crt"\n' \
		"$upstream" "$TMP" "$TMP"
	printf 'policy = "%s/egress.toml"\n' "$TMP"
	for line in "$@"; do printf '%s\n' "$line"; done
}
export NANOCELL_CONFIG="$TMP/config.toml"
config >"$NANOCELL_CONFIG"

# --- a tool-using turn through the proxy, network none ---
run "$NC" run -- "please run the tool"
expect_rc "a model-mode turn exits 0" 0
expect_match "the agent ran the tool the model asked for and answered" "$OUT" \
	"^the tool said: tool-ran-42$"
requests=$(grep -c '"path": "/v1/messages"' "$TMP/api.log")
[ "$requests" -eq 2 ] && ok "two model calls: the tool_use round and the answer" ||
	not_ok "two model calls: the tool_use round and the answer" "$(cat "$TMP/api.log")"
keys=$(grep -o '"x-api-key": "[^"]*"' "$TMP/api.log" | sort -u)
[ "$keys" = "\"x-api-key\": \"$key\"" ] && ok "the fake saw the injected key on every call" ||
	not_ok "the fake saw the injected key on every call" "$keys"
expect_no_match "the fake never saw the container's placeholder key or an authorization" \
	"$(cat "$TMP/api.log")" "placeholder-not-a-key|\"authorization\""
expect_no_match "the key is not in the output" "$OUT$ERR" "$key"
log=$(ls -t "$TMP"/data/groups/default/logs/run-*.log | head -n 1)
expect_no_match "the key is not in the run log" "$(cat "$log")" "$key"
audit=$(cat "$TMP/data/proxy/audit.log")
expect_match "the audit log has a line per model call" "$audit" \
	'"group":"default".*"kind":"model","method":"POST".*"path":"/v1/messages","status":200'
expect_no_match "the key is not in the audit log" "$audit" "$key"
[ "$(stat -c %a "$TMP/data/proxy/audit.log")" = 600 ] && ok "the audit log is mode 0600" ||
	not_ok "the audit log is mode 0600"
[ -z "$(ls -A "$TMP/data/proxy" | grep -v audit.log)" ] && ok "the turn's socket is gone after it" ||
	not_ok "the turn's socket is gone after it" "$(ls -R "$TMP/data/proxy")"

# --- the key is nowhere in the container ---
# The pattern "sk-nc-tes[t]-..." matches the key but not itself, so grep's own argv and the
# prompt (which the agent holds) never match. /tmp/control is a planted copy: the scan must find
# it and nothing else.
scan="echo scan-start; printf 'sk-nc-tes%s-%s' t $suffix >/tmp/control; P='sk-nc-tes[t]-$suffix'; for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do grep -l \"\$P\" \$f; done 2>/dev/null; grep -rl \"\$P\" /workspace /home /tmp /run /etc /usr /bin 2>/dev/null; echo procs=\$(ls -d /proc/[0-9]* | wc -l) base=\$ANTHROPIC_BASE_URL key=\$ANTHROPIC_API_KEY sock=\$NANOCELL_MODEL_SOCKET proxy=\$HTTPS_PROXY; test -S /run/nanocell/proxy.sock && echo socket-present; echo scan-done"
run "$NC" run -q -- "tool: $scan"
expect_rc "the scanning turn exits 0" 0
expect_match "the scan ran inside the container" "$OUT" "scan-done"
expect_match "the scan finds a planted copy of the key (the control)" "$OUT" "^/tmp/control$"
hits=$(printf '%s\n' "$OUT" | grep '^/' | grep -v '^/tmp/control$')
[ -z "$hits" ] && ok "no environ, cmdline or other file in the container holds the key" ||
	not_ok "no environ, cmdline or other file in the container holds the key" "$hits"
expect_match "the container gets the proxy's environment and a placeholder key" "$OUT" \
	"base=http://127.0.0.1:3129 key=placeholder-not-a-key sock=/run/nanocell/proxy.sock proxy=http://127.0.0.1:3128"
expect_match "the socket is mounted at /run/nanocell/proxy.sock" "$OUT" "socket-present"

# --- no direct route: a tool told to ignore the proxy has nowhere to go ---
run "$NC" run -q -- "tool: nc -w 2 1.1.1.1 443 </dev/null && echo tcp-open || echo tcp-failed"
expect_match "a direct TCP connection fails (network none)" "$OUT" "tcp-failed"

# --- a client that knows nothing of nanocell: plain HTTP to ANTHROPIC_BASE_URL over TCP ---
# (the loopback listener the host opens in the container's network namespace, then the proxy;
# -Y off: busybox wget ignores NO_PROXY, which the container gets for clients that honour it)
run "$NC" run -q -- "tool: wget -Y off -q -O - --header 'content-type: application/json' --header 'x-api-key: placeholder-not-a-key' --post-data '{\"model\":\"m\",\"max_tokens\":8,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}' \$ANTHROPIC_BASE_URL/v1/messages"
expect_match "busybox wget reaches the model through ANTHROPIC_BASE_URL and the proxy" "$OUT" '"id": "toolu_fake1"'
keys=$(grep -o '"x-api-key": "[^"]*"' "$TMP/api.log" | sort -u)
[ "$keys" = "\"x-api-key\": \"$key\"" ] && ok "its placeholder key was replaced by the real one" ||
	not_ok "its placeholder key was replaced by the real one" "$keys"

# --- from inside the container, straight to the socket ---
# The tool runs the agent's scripted mode as a subprocess: its proxy-request command sends one
# request line to /run/nanocell/proxy.sock and reports the status line (busybox has no
# unix-socket client).
config "allow = [\"localhost:$port\"]" "allow_private = [\"localhost:$port\"]" \
	'[[group]]' 'name = "noprivate"' 'proxy.allow_private = []' >"$NANOCELL_CONFIG"
inner() {
	printf 'tool: printf %%s %s | NANOCELL_MODEL_SOCKET= NANOCELL_WORKSPACE=/tmp/none /usr/bin/nanocell-agent' \
		"'{\"prompt\":\"$1\"}'"
}
run "$NC" run -q -- "$(inner "proxy-request CONNECT localhost:$port ; proxy-request CONNECT example.com:443 ; proxy-request CONNECT 127.0.0.1:$port ; proxy-request CONNECT 169.254.169.254:80 ; proxy-request CONNECT localhost:$((port + 1)) ; proxy-request GET http://example.com/ ; proxy-request GET http://169.254.169.254/latest/meta-data/ ; proxy-request POST /v1/files ; proxy-request GET /v1/messages")"
if printf '%s' "$OUT" | grep -q "you said: proxy-request"; then
	echo "# the agent image predates proxy-request: scripts/build-images.sh rebuilds it"
	not_ok "the agent image has the proxy-request command" "$OUT"
else
	# each request's status line, in order, as the agent reported them
	st=$(printf '%s' "$OUT" | grep -o 'proxy-request: HTTP/1.1 [0-9]*' | awk '{print $3}' | tr '\n' ' ')
	[ "$st" = "200 403 403 403 403 403 403 403 403 " ] &&
		ok "from inside: CONNECT to the allowed host:port works; another host, an IP literal, 169.254.169.254, another port, plain HTTP elsewhere, another path and method are refused" ||
		not_ok "from inside: the allowed CONNECT works and the rest are refused" "statuses: $st" "$OUT"
fi
run "$NC" run -q --group noprivate -- "$(inner "proxy-request CONNECT localhost:$port")"
expect_match "from inside: an allowed name that resolves to 127.0.0.1 is refused without allow_private" \
	"$OUT" "proxy-request: HTTP/1.1 403"
audit=$(cat "$TMP/data/proxy/audit.log")
expect_match "the audit log records the tunnel and the rule that allowed it" "$audit" \
	"\"kind\":\"connect\",\"method\":\"CONNECT\",\"host\":\"localhost\",\"port\":$port,.*\"status\":200,.*\"rule\":\"allow localhost:$port\""
expect_match "and the refusal of a private address" "$audit" \
	"\"group\":\"noprivate\".*\"status\":403.*private address refused for localhost"

# --- denials ---
config 'max_request_bytes = "1k"' >"$NANOCELL_CONFIG"
run "$NC" run -q -- "please run the tool"
expect_rc "a request over proxy.max_request_bytes fails the turn" 1
expect_match "the agent reports the proxy's 429 for the size" "$OUT$ERR" "HTTP 429.*max_request_bytes"

config 'max_requests_per_turn = 1' >"$NANOCELL_CONFIG"
run "$NC" run -q -- "please run the tool"
expect_rc "a turn over proxy.max_requests_per_turn fails" 1
expect_match "the second call gets 429" "$OUT$ERR" "HTTP 429.*max_requests_per_turn"
expect_match "the 429 is in the audit log" "$(tail -n 1 "$TMP/data/proxy/audit.log")" \
	'"status":429.*max_requests_per_turn'

sed "s|$upstream|https://127.0.0.1:1|" "$TMP/egress.toml" >"$TMP/other.toml"
config >"$NANOCELL_CONFIG"
sed -i "s|policy = .*|policy = \"$TMP/other.toml\"|" "$NANOCELL_CONFIG"
run "$NC" run -q -- "please run the tool"
expect_rc "an upstream the policy does not list is a configuration error" 2
expect_match "the error names the upstream" "$ERR" "proxy.upstream '$upstream' is not one of the model upstreams"

config >"$NANOCELL_CONFIG"
chmod 644 "$TMP/apikey"
run "$NC" run -q -- "please run the tool"
expect_rc "a key file others can read is refused" 2
expect_match "the error says why" "$ERR" "mode 0644: it must be 0600"
expect_no_match "and does not quote the key" "$ERR" "$key"
chmod 600 "$TMP/apikey"

# --- doctor says whether model mode is on, never the key ---
config >"$NANOCELL_CONFIG"
run "$NC" doctor
expect_match "doctor: model mode on, and where the key comes from" "$OUT" \
	"ok +model mode on: key from file '$TMP/apikey', upstream $upstream"
expect_no_match "doctor never shows the key" "$OUT$ERR" "$key"
printf '[install]\nid = "%s"\ndata_dir = "%s/data"\n[engine]\nhost = "unix://%s"\n' "$install" "$TMP" "$sock" >"$TMP/nokey.toml"
run "$NC" doctor --config "$TMP/nokey.toml"
expect_match "doctor: with no key, model mode is off" "$OUT" "ok +model mode off: no proxy.api_key_file"
chmod 644 "$TMP/apikey"
run "$NC" doctor
expect_match "doctor: a key file others can read is a problem" "$OUT" "problem +model mode: API key file .* mode 0644"
chmod 600 "$TMP/apikey"

# --- serve: one proxy for all groups, a socket per group ---
config >"$NANOCELL_CONFIG"
export NANOCELL_API="$TMP/api/api.sock"
"$NC" serve >"$TMP/serve.log" 2>&1 &
DPID=$!
for _ in $(seq 1 100); do "$NC" status >/dev/null 2>&1 && break; sleep 0.1; done
"$NC" groups add pg --no-trigger >/dev/null
run "$NC" send --group pg "please run the tool"
expect_rc "a model-mode turn through serve exits 0" 0
expect_match "serve's turn used the tool through the proxy" "$OUT" "the tool said: tool-ran-42"
# NanoClaw's send_message tool: the model calls it, the agent writes the IPC file, and the
# daemon delivers the message to the chat.
run "$NC" send --group pg "send-via-tool: hello from the model"
expect_match "the model's send_message call got NanoClaw's result" "$OUT" "the tool said: Message sent\."
delivered=""
for _ in $(seq 1 100); do
	"$NC" messages --group pg --json | jq -e -s 'any(.[]; .direction == "out" and .text == "hello from the model" and .state == "delivered")' >/dev/null && delivered=1 && break
	sleep 0.2
done
[ -n "$delivered" ] && ok "the daemon delivers the model's send_message to the chat" ||
	not_ok "the daemon delivers the model's send_message to the chat" "$("$NC" messages --group pg --json)"
ls "$TMP"/data/proxy/*/pg.sock >/dev/null 2>&1 && ok "serve keeps the group's socket" ||
	not_ok "serve keeps the group's socket" "$(ls -R "$TMP/data/proxy")"
kill -TERM "$DPID"
wait "$DPID"
DPID=""
ls "$TMP"/data/proxy/*/pg.sock >/dev/null 2>&1 && not_ok "serve removes its sockets when it stops" ||
	ok "serve removes its sockets when it stops"
expect_match "the audit log names serve's group" "$(cat "$TMP/data/proxy/audit.log")" '"group":"pg".*"status":200'

# --- nanocell audit ---
run "$NC" audit
expect_rc "nanocell audit exits 0" 0
expect_match "it lists the model calls" "$OUT" "default .*POST .*/v1/messages 200"
run "$NC" audit --group nosuchgroup
expect_rc "audit --group with no lines exits 0" 0
[ -z "$OUT" ] && ok "another group's filter shows nothing" || not_ok "another group's filter shows nothing" "$OUT"
run "$NC" audit --since 2099-01-01T00:00:00
[ -z "$OUT" ] && ok "--since in the future shows nothing" || not_ok "--since in the future shows nothing" "$OUT"
run "$NC" audit --since 1h --json
expect_match "--since 1h --json gives JSON lines" "$OUT" '^\{"time":'
expect_no_match "nanocell audit never shows the key" "$OUT" "$key"

done_testing
