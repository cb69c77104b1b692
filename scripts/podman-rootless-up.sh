#!/bin/sh
# Makes sure a rootless Podman service answers for the user nanocell-rootless, at
# /run/user/<uid>/podman/podman.sock (printed on stdout). Used by the tests that prove nanocell
# notices what rootless Podman on cgroup v1 silently ignores (memory and pids limits).
# It creates the user with subordinate uid/gid ranges when missing, and runs the service with
# runc, the cgroupfs manager, the vfs storage driver and the file events backend: what works
# without a systemd user session. Root only.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
user=nanocell-rootless
logdir=${NANOCELL_LOG_DIR:-/var/log}
case $logdir in /*) ;; *) logdir=$PWD/$logdir ;; esac # the engine starts from /

if [ "$(id -u)" -ne 0 ]; then
	echo "podman-rootless-up: needs root (it creates the user $user)" >&2
	exit 1
fi
command -v podman >/dev/null 2>&1 && command -v newuidmap >/dev/null 2>&1 || "$here/install-deps.sh" podman
if ! id "$user" >/dev/null 2>&1; then
	useradd --create-home --shell /bin/sh "$user"
fi
uid=$(id -u "$user")
grep -q "^$user:" /etc/subuid || echo "$user:300000:65536" >>/etc/subuid
grep -q "^$user:" /etc/subgid || echo "$user:300000:65536" >>/etc/subgid
run=/run/user/$uid
sock=$run/podman/podman.sock
mkdir -p "$run/podman"
chown "$user:$user" "$run" "$run/podman"
chmod 700 "$run"

ping() { curl -sf --max-time 2 --unix-socket "$sock" http://localhost/_ping >/dev/null 2>&1; }
if ! ping; then
	mkdir -p "$logdir"
	rm -f "$sock"
	cd "$run/podman" # conmon's working directory: see podman-up.sh
	setsid runuser -u "$user" -- env HOME="$(getent passwd "$user" | cut -d: -f6)" \
		XDG_RUNTIME_DIR="$run" podman --runtime runc --cgroup-manager cgroupfs \
		--storage-driver vfs --events-backend file system service --time=0 "unix://$sock" \
		>>"$logdir/nanocell-podman-rootless.log" 2>&1 </dev/null &
	i=0
	until ping; do
		i=$((i + 1))
		if [ "$i" -gt 60 ]; then
			echo "podman-rootless-up: no answer on $sock within 30 s; last log lines:" >&2
			tail -n 20 "$logdir/nanocell-podman-rootless.log" >&2 || true
			exit 1
		fi
		sleep 0.5
	done
	echo "podman-rootless-up: rootless podman answers on $sock" >&2
fi
echo "$sock"
