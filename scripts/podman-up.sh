#!/bin/sh
# Makes sure a rootful Podman service answers on /run/podman/podman.sock, the same way
# engine-up.sh does for Docker. Podman's default runtime (crun) fails on hybrid cgroup hosts, so
# the service runs with runc.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
sock=/run/podman/podman.sock
logdir=${NANOCELL_LOG_DIR:-/var/log}
case $logdir in /*) ;; *) logdir=$PWD/$logdir ;; esac # the engine starts from /

ping() { curl -sf --max-time 2 --unix-socket "$1" http://localhost/_ping >/dev/null 2>&1; }

command -v curl >/dev/null 2>&1 || "$here/install-deps.sh" podman
if ping "$sock"; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "podman-up: no Podman service answers on $sock, and starting one needs root" >&2
	exit 1
fi
"$here/install-deps.sh" podman
mkdir -p /run/podman "$logdir"
rm -f "$sock"
# From the service's own directory: conmon writes files such as "oom" into its working
# directory when a container is OOM-killed, and they must not land in whatever directory
# started the engine (a checkout, say).
cd /run/podman
setsid podman --runtime runc system service --time=0 "unix://$sock" \
	>>"$logdir/nanocell-podman.log" 2>&1 </dev/null &
i=0
until ping "$sock"; do
	i=$((i + 1))
	if [ "$i" -gt 60 ]; then
		echo "podman-up: podman did not answer on $sock within 30 s; last log lines:" >&2
		tail -n 20 "$logdir/nanocell-podman.log" >&2 || true
		exit 1
	fi
	sleep 0.5
done
echo "podman-up: podman answers on $sock (log: $logdir/nanocell-podman.log)" >&2
