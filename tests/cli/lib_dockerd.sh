# A second dockerd on this machine, for the tcp/TLS engine and several-engine tests. Source it
# after lib.sh. Per ../shared/reference/docker-api.md: its own data-root, exec-root, pidfile,
# unix socket and config file, and a bridge of its own (never --bridge none, which would delete
# the first daemon's docker0), with iptables left alone.
#
# dockerd2_certs DIR: a CA, a server certificate for 127.0.0.1 (IP SAN) and name "engine.test",
#   and a client certificate, made with openssl into DIR (ca.pem, server.pem, server-key.pem,
#   cert.pem, key.pem), and a second, unrelated CA (other-ca.pem).
# dockerd2_start NAME TLSDIR: starts it (tcp on 127.0.0.1:$D2_PORT with --tlsverify when TLSDIR
#   is a directory, no tcp when it is "-", and on unix://$D2_SOCK), waits for it, loads the
#   test images into it. Sets D2_DIR D2_SOCK D2_PORT D2_PID. Returns non-zero (with the log on
#   stderr) when it fails.
# dockerd2_kill: kill -9 of the dockerd and its containerd (the containers' shims stay), as a
#   crash.
# dockerd2_restart: starts it again on the same directories and sockets, and waits for it.
# dockerd2_stop: stops it, deletes its containers' state, bridge and directories. Idempotent;
#   the caller's EXIT trap must call it.

dockerd2_certs() {
	local d=$1
	mkdir -p "$d"
	(
		cd "$d" || exit 1
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=nanocell-test-ca \
			-keyout ca-key.pem -out ca.pem 2>/dev/null &&
			openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=other-ca \
				-keyout other-ca-key.pem -out other-ca.pem 2>/dev/null &&
			openssl req -newkey rsa:2048 -nodes -subj /CN=engine.test -keyout server-key.pem \
				-out server.csr 2>/dev/null &&
			printf 'subjectAltName=IP:127.0.0.1,DNS:engine.test\nextendedKeyUsage=serverAuth\n' >server.ext &&
			openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
				-extfile server.ext -out server.pem 2>/dev/null &&
			openssl req -newkey rsa:2048 -nodes -subj /CN=client -keyout key.pem -out client.csr \
				2>/dev/null &&
			printf 'extendedKeyUsage=clientAuth\n' >client.ext &&
			openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
				-extfile client.ext -out cert.pem 2>/dev/null
	)
}

# A free port on 127.0.0.1 (nothing listens there now).
free_port() {
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 40000))
		ss -ltnH "sport = :$p" | grep -q . || {
			echo "$p"
			return 0
		}
	done
	return 1
}

D2_PID=""
D2_DIR=""
D2_BRIDGE=""

dockerd2_start() {
	local name=$1 tls=$2
	D2_DIR=$(mktemp -d "/tmp/nc-$name.XXXXXX")
	chmod 755 "$D2_DIR"
	D2_SOCK=$D2_DIR/docker.sock
	D2_PORT=$(free_port) || return 1
	D2_BRIDGE="ncbr$$${name:0:3}"
	D2_BRIDGE=${D2_BRIDGE:0:15}
	local net=$((100 + RANDOM % 150))
	ip link add "$D2_BRIDGE" type bridge || return 1
	ip addr add "10.$net.$((RANDOM % 250)).1/24" dev "$D2_BRIDGE"
	ip link set "$D2_BRIDGE" up
	printf '{"runtimes":{"crun":{"path":"/usr/bin/crun"}}}\n' >"$D2_DIR/daemon.json"
	local hosts=(-H "unix://$D2_SOCK")
	if [ "$tls" = - ]; then
		:
	elif [ -n "$tls" ]; then
		hosts+=(-H "tcp://127.0.0.1:$D2_PORT" --tlsverify --tlscacert "$tls/ca.pem"
			--tlscert "$tls/server.pem" --tlskey "$tls/server-key.pem")
	else
		hosts+=(-H "tcp://127.0.0.1:$D2_PORT")
	fi
	D2_ARGS=(--config-file "$D2_DIR/daemon.json" --data-root "$D2_DIR/data"
		--exec-root "$D2_DIR/exec" --pidfile "$D2_DIR/docker.pid" "${hosts[@]}"
		--bridge "$D2_BRIDGE" --iptables=false --ip-masq=false --userland-proxy=false)
	dockerd2_launch || return 1
	docker -H unix:///var/run/docker.sock save nanocell-agent:latest nanocell-test:latest |
		docker -H "unix://$D2_SOCK" load >/dev/null
}

dockerd2_launch() {
	# exec, so that $! is dockerd itself.
	(cd / && exec setsid dockerd "${D2_ARGS[@]}" >>"$D2_DIR/dockerd.log" 2>&1 </dev/null) &
	D2_PID=$!
	for _ in $(seq 1 120); do
		curl -sf --max-time 2 --unix-socket "$D2_SOCK" http://localhost/_ping >/dev/null 2>&1 && break
		kill -0 "$D2_PID" 2>/dev/null || break
		sleep 0.25
	done
	if ! curl -sf --max-time 2 --unix-socket "$D2_SOCK" http://localhost/_ping >/dev/null 2>&1; then
		echo "second dockerd did not start; its log:" >&2
		tail -n 20 "$D2_DIR/dockerd.log" >&2
		return 1
	fi
}

dockerd2_kill() {
	kill -9 "$D2_PID" 2>/dev/null
	wait "$D2_PID" 2>/dev/null
	rm -f "$D2_DIR/docker.pid"
	# Its containerd too (by its pid file): a containerd left holding its database keeps the
	# restarted dockerd's own from starting. The containers' shims stay, as after a crash.
	local cpid
	for cpid in $(grep -lsF "$D2_DIR/exec/containerd/containerd.toml" /proc/[0-9]*/cmdline | cut -d/ -f3); do
		[ "$cpid" = "$BASHPID" ] && continue
		kill -9 "$cpid" 2>/dev/null
		for _ in $(seq 1 40); do
			kill -0 "$cpid" 2>/dev/null || break
			sleep 0.1
		done
	done
	# Its pid file would make the next dockerd wait for whatever process has that pid now.
	rm -f "$D2_DIR/exec/containerd/containerd.pid"
}

dockerd2_restart() {
	dockerd2_launch
}

dockerd2_stop() {
	[ -n "$D2_DIR" ] || return 0
	if [ -n "$D2_PID" ] && kill -0 "$D2_PID" 2>/dev/null; then
		# Its containers first, so that nothing outlives it.
		local ids
		ids=$(docker -H "unix://$D2_SOCK" ps -aq 2>/dev/null)
		[ -n "$ids" ] && docker -H "unix://$D2_SOCK" rm -f $ids >/dev/null 2>&1
		kill "$D2_PID" 2>/dev/null
		for _ in $(seq 1 80); do
			kill -0 "$D2_PID" 2>/dev/null || break
			sleep 0.25
		done
		kill -9 "$D2_PID" 2>/dev/null
	fi
	# What a killed dockerd left behind (its containerd, shims), found by their command lines
	# naming its directory and stopped by pid.
	local p
	for p in $(grep -lsF "$D2_DIR" /proc/[0-9]*/cmdline | cut -d/ -f3); do
		kill -9 "$p" 2>/dev/null
	done
	# Its containerd (a child it started) goes with it; make sure.
	local cpid
	cpid=$(cat "$D2_DIR/exec/containerd/containerd.pid" 2>/dev/null)
	[ -n "$cpid" ] && kill "$cpid" 2>/dev/null
	umount -R "$D2_DIR/data" 2>/dev/null
	umount -R "$D2_DIR/exec" 2>/dev/null
	grep -o " $D2_DIR/[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
	[ -n "$D2_BRIDGE" ] && ip link del "$D2_BRIDGE" 2>/dev/null
	rm -rf "$D2_DIR"
	D2_DIR="" D2_PID="" D2_BRIDGE=""
}
