#!/bin/sh
# Makes sure a Docker Engine answers on /var/run/docker.sock. When one already answers it does
# nothing. Otherwise (root only) it installs docker.io and crun if missing, registers crun as a
# runtime, starts dockerd in the background with its log in $NANOCELL_LOG_DIR (default
# /var/log), and waits for /_ping. Used by `make test` and `make demo`.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
sock=/var/run/docker.sock
logdir=${NANOCELL_LOG_DIR:-/var/log}
case $logdir in /*) ;; *) logdir=$PWD/$logdir ;; esac # the engine starts from /

ping() { curl -sf --max-time 2 --unix-socket "$1" http://localhost/_ping >/dev/null 2>&1; }

command -v curl >/dev/null 2>&1 || "$here/install-deps.sh" docker
if ping "$sock"; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "engine-up: no Docker Engine answers on $sock, and starting one needs root" >&2
	exit 1
fi
"$here/install-deps.sh" docker

# Register crun beside runc. An existing daemon.json is the operator's: never rewrite it.
if [ ! -e /etc/docker/daemon.json ]; then
	mkdir -p /etc/docker
	printf '{"runtimes":{"crun":{"path":"/usr/bin/crun"}}}\n' >/etc/docker/daemon.json
elif ! grep -q '"crun"' /etc/docker/daemon.json; then
	echo "engine-up: /etc/docker/daemon.json exists without crun; leaving it as it is" >&2
fi

"$here/cgroup-fix.sh"

# A pid file left by a dead dockerd makes the next one refuse to start.
if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
	rm -f /var/run/docker.pid
fi
if ! pgrep -x dockerd >/dev/null 2>&1; then
	mkdir -p "$logdir"
	cd / # the engine's working directory: nothing it writes lands in the caller's
	setsid dockerd >>"$logdir/nanocell-dockerd.log" 2>&1 </dev/null &
fi
i=0
until ping "$sock"; do
	i=$((i + 1))
	if [ "$i" -gt 120 ]; then
		echo "engine-up: dockerd did not answer on $sock within 60 s; last log lines:" >&2
		tail -n 20 "$logdir/nanocell-dockerd.log" >&2 || true
		exit 1
	fi
	sleep 0.5
done
echo "engine-up: dockerd answers on $sock (log: $logdir/nanocell-dockerd.log)" >&2
