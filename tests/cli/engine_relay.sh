#!/bin/bash
# Reaching the credential proxy's unix socket from a container with NetworkMode none, against a
# real engine (NANOCELL_TEST_SOCKET, NANOCELL_TEST_ENGINE). A stand-in for the proxy
# (tests/support/standin_proxy.py) listens on a socket in a directory mounted at /run/nanocell.
#   - An image that knows nothing of nanocell (busybox wget, ANTHROPIC_BASE_URL and HTTP_PROXY on
#     127.0.0.1, and a CONNECT written with nc; busybox 1.35's wget never sends CONNECT: it sends
#     even https:// URLs to an http_proxy in absolute form) reaches it through the loopback listeners the host opens inside the container's
#     network namespace (proxy/netns_relay.h, via tests/tools/netns_relay_run); a direct TCP
#     connection out of the container fails.
#   - The reference agent in model mode completes a tool-using turn through the socket, and its
#     bash tool reaches the stand-in with HTTP_PROXY through the agent's own egress relay on
#     127.0.0.1:3128 (images/agent/egress.h), with and without streaming.
# Rootless Podman is skipped: a rootless nanocell cannot enter the container's namespace
# (docs/architecture.md says what rootless engines get).
. "$(dirname "$0")/lib.sh"
if [ "$NANOCELL_TEST_ENGINE" = rootless-podman ]; then
	echo "1..0 # SKIP the host's listener needs root (setns); see docs/architecture.md"
	exit 0
fi
sock=$NANOCELL_TEST_SOCKET
tool=${NANOCELL_BUILD:-build}/tests/tools/netns_relay_run
label="nanocell.test=relay$$"
V=http://localhost/v1.41
api() { curl -sS --max-time 120 --unix-socket "$sock" "$@"; }
standin= relay_pid= image=
cleanup() {
	exec 8>&- 2>/dev/null
	[ -n "$relay_pid" ] && wait "$relay_pid" 2>/dev/null
	for id in $(api "$V/containers/json?all=1&filters=%7B%22label%22%3A%5B%22$label%22%5D%7D" |
		grep -o '"Id":"[0-9a-f]*"' | cut -d'"' -f4); do
		api -X DELETE "$V/containers/$id?force=1" >/dev/null
	done
	[ -n "$image" ] && api -X DELETE "$V/images/$image?force=1" >/dev/null 2>&1
	[ -n "$standin" ] && kill "$standin" 2>/dev/null && wait "$standin" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
chmod 755 "$TMP"
mkdir -m 755 "$TMP/run"
# The image: busybox and this build's agent, imported under a name of its own (the shared
# nanocell-agent:latest may hold another build's agent) and removed at the end.
agent_bin=${NANOCELL_BUILD:-build}/static/images/agent/agent
mkdir -p "$TMP/rootfs/bin" "$TMP/rootfs/usr/bin" "$TMP/rootfs/tmp" "$TMP/rootfs/run" \
	"$TMP/rootfs/proc" "$TMP/rootfs/sys" "$TMP/rootfs/dev" "$TMP/rootfs/etc"
chmod 1777 "$TMP/rootfs/tmp"
cp /bin/busybox "$TMP/rootfs/bin/busybox"
for a in sh wget nc sleep echo printf cat; do ln -s busybox "$TMP/rootfs/bin/$a"; done
cp "$agent_bin" "$TMP/rootfs/usr/bin/nanocell-agent"
tar --owner=0 --group=0 -C "$TMP/rootfs" -cf "$TMP/rootfs.tar" .
# Docker and Podman both name the new image's id in "status"; Podman ignores the tag.
image=$(api -X POST -H 'Content-Type: application/x-tar' --data-binary @"$TMP/rootfs.tar" \
	"$V/images/create?fromSrc=-&repo=nanocell-relay-test&tag=t$$" | jq -r '.status // empty' |
	grep -m1 '^sha256:')
agent_tool='http_proxy=http://127.0.0.1:3128 wget -q -O - http://allowed.example/via-agent-relay'
python3 tests/support/standin_proxy.py "$TMP/run/proxy.sock" "$TMP/standin.log" "$agent_tool" &
standin=$!
for _ in $(seq 100); do [ -S "$TMP/run/proxy.sock" ] && break; sleep 0.1; done

# create IMAGE SCRIPT [ENV...]: a hardened container with no network; prints its id.
create() {
	local image=$1 script=$2 env='' e
	shift 2
	for e in "$@"; do env="$env,\"$e\""; done
	api -H 'Content-Type: application/json' -X POST "$V/containers/create" -d @- <<JSON |
{"Image":"$image","Cmd":["sh","-c",$(printf '%s' "$script" | jq -Rs .)],"User":"1000:1000",
 "Tty":true,"Labels":{"nanocell.test":"relay$$"},
 "Env":["PATH=/usr/bin:/bin"$env],
 "HostConfig":{"NetworkMode":"none","ReadonlyRootfs":true,"CapDrop":["ALL"],
  "SecurityOpt":["no-new-privileges"],"Binds":["$TMP/run:/run/nanocell"],
  "Ulimits":[{"Name":"nofile","Soft":1024,"Hard":1024},{"Name":"nproc","Soft":1024,"Hard":1024}]}}
JSON
		jq -r '.Id // empty'
}
# finish ID: waits for the container to exit and prints its output.
finish() {
	api -X POST "$V/containers/$1/wait" >/dev/null
	api "$V/containers/$1/logs?stdout=1&stderr=1" | tr -d '\r'
}

# 1. An image that knows nothing of nanocell, served by the host's listeners.
plain='i=0; while [ ! -e /run/nanocell/go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
echo "model: $(wget -q -O - --header "x-api-key: $ANTHROPIC_API_KEY" --post-data "{\"messages\":[]}" "$ANTHROPIC_BASE_URL/v1/messages" 2>&1)"
echo "egress: $(http_proxy=$HTTP_PROXY wget -q -O - http://allowed.example/via-host 2>&1)"
echo "connect: $(printf "CONNECT allowed.example:443 HTTP/1.1\r\nHost: allowed.example:443\r\n\r\n" | nc -w 10 127.0.0.1 3128 | head -n 1)"
echo "direct: $( (nc -w 5 1.1.1.1 443 </dev/null 2>&1; echo "rc=$?") | tr "\n" " ")"'
id=$(create "$image" "$plain" ANTHROPIC_BASE_URL=http://127.0.0.1:3129 \
	ANTHROPIC_API_KEY=placeholder-not-a-key HTTP_PROXY=http://127.0.0.1:3128)
if [ -z "$id" ]; then
	not_ok "create a container of an image that knows nothing of nanocell"
	done_testing
	exit 1
fi
api -X POST "$V/containers/$id/start" >/dev/null
pid=$(api "$V/containers/$id/json" | jq -r .State.Pid)
exec 8> >("$tool" "$pid" "$TMP/run/proxy.sock" 3129 3128 >"$TMP/relay.out" 2>"$TMP/relay.err")
relay_pid=$!
for _ in $(seq 100); do grep -q ready "$TMP/relay.out" 2>/dev/null && break; sleep 0.1; done
expect_match "the host opens 127.0.0.1:3129 and :3128 in the container's namespace" \
	"$(cat "$TMP/relay.out" "$TMP/relay.err")" "^ready 3129 3128$"
touch "$TMP/run/go"
out=$(finish "$id")
exec 8>&-
wait "$relay_pid"
relay_pid=
expect_match "wget to \$ANTHROPIC_BASE_URL reaches the proxy's socket" "$out" \
	'^model: \{.*"toolu_standin"'
expect_match "HTTP_PROXY on 127.0.0.1:3128 reaches it too (absolute form)" "$out" \
	'^egress: standin saw GET http://allowed.example/via-host$'
expect_match "a CONNECT tunnel request on 127.0.0.1:3128 reaches it as sent" "$out" \
	'^connect: HTTP/1.1 200 Connection established$'
expect_match "a direct TCP connection out of the container fails" "$out" \
	"^direct: nc: can't connect to remote host \(1.1.1.1\): Network is unreachable rc=1 $"
expect_match "the stand-in saw the requests, with the placeholder key the proxy would replace" \
	"$(cat "$TMP/standin.log")" 'POST /v1/messages HTTP/1.1 placeholder-not-a-key'

# 2. The reference agent: model mode through the socket, its tool through its own relay.
for stream in 0 1; do
	rm -f "$TMP/run/go"
	agent='printf "%s" "{\"prompt\":\"fetch it\",\"groupFolder\":\"g\"}" | nanocell-agent'
	id=$(create "$image" "$agent" NANOCELL_MODEL_SOCKET=/run/nanocell/proxy.sock \
		NANOCELL_MODEL_STREAM=$stream NANOCELL_WORKSPACE=/tmp HOME=/tmp)
	api -X POST "$V/containers/$id/start" >/dev/null
	out=$(finish "$id")
	expect_match "the reference agent (stream=$stream) completes a tool round through the socket" \
		"$out" '^\{"status":"success","result":"tool said: standin saw GET http://allowed.example/via-agent-relay\\nexit status 0"'
	n=$(grep -c '^POST /v1/messages HTTP/1.1 - stream$' "$TMP/standin.log")
	[ "$n" -eq $((stream * 2)) ] && ok "its 2 requests asked for streaming: $stream" ||
		not_ok "its 2 requests asked for streaming: $stream" "$(cat "$TMP/standin.log")"
	: >"$TMP/standin.log"
done

done_testing
