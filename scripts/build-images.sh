#!/bin/sh
# Builds the images nanocell's tests and demo use, with no registry: root filesystems made of
# static binaries (busybox-static and our own programs), packed as a reproducible tarball and
# imported into every engine that answers (Docker and rootful Podman). An image whose tarball
# digest has not changed is left alone.
#   nanocell-test:latest   busybox, plus the escape probe (tests/probe) when built, and its
#                          setuid-root copy /usr/bin/nanocell-probe-suid (mode 4755)
#   nanocell-agent:latest  the reference agent (images/agent) and busybox, when built
# Environment: DOCKER_SOCK / PODMAN_SOCK / ROOTLESS_SOCK override the sockets checked (the last
# defaults to the rootless Podman service of scripts/podman-rootless-up.sh, when it runs).
set -eu
cd "$(dirname "$0")/.."
build=${NANOCELL_BUILD:-build}
stage=$build/images
docker_sock=${DOCKER_SOCK:-/var/run/docker.sock}
podman_sock=${PODMAN_SOCK:-/run/podman/podman.sock}
rootless_uid=$(id -u nanocell-rootless 2>/dev/null || echo none)
rootless_sock=${ROOTLESS_SOCK:-/run/user/$rootless_uid/podman/podman.sock}

# The images are FROM scratch: busybox must be the static build (package busybox-static).
busybox=/bin/busybox
if [ ! -x "$busybox" ] || ldd "$busybox" >/dev/null 2>&1; then
	scripts/install-deps.sh demo >/dev/null
	if ldd "$busybox" >/dev/null 2>&1; then
		echo "build-images: $busybox is dynamically linked; install busybox-static" >&2
		exit 1
	fi
fi
make -s images >/dev/null

ping() { curl -sf --max-time 2 --unix-socket "$1" http://localhost/_ping >/dev/null 2>&1; }

# rootfs DIR [FILE DEST]...: busybox with its applets, then each FILE copied to DEST.
rootfs() {
	dir=$1
	shift
	rm -rf "$dir"
	mkdir -p "$dir/bin" "$dir/usr/bin" "$dir/tmp" "$dir/etc" "$dir/workspace" "$dir/dev" \
		"$dir/proc" "$dir/sys" "$dir/run" "$dir/var/tmp"
	# A tmpfs mounted on /tmp takes the mode of the image's directory (runc's tmpcopyup), so a
	# 0755 /tmp would leave a non-root agent no scratch space.
	chmod 1777 "$dir/tmp" "$dir/var/tmp"
	cp "$busybox" "$dir/bin/busybox"
	for applet in $("$busybox" --list); do
		[ "$applet" = busybox ] || ln -sf busybox "$dir/bin/$applet"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\nagent:x:1000:1000:agent:/workspace:/bin/sh\n' \
		>"$dir/etc/passwd"
	printf 'root:x:0:\nagent:x:1000:\n' >"$dir/etc/group"
	while [ $# -ge 2 ]; do
		mkdir -p "$dir/$(dirname "$2")"
		cp "$1" "$dir/$2"
		shift 2
	done
}

# image NAME DIR CMD: imports DIR as NAME into each engine, unless already there.
image() {
	name=$1 dir=$2 cmd=$3
	tarball=$stage/$(echo "$name" | tr ':/' '__').tar
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$dir" -cf "$tarball" .
	digest=$(sha256sum "$tarball" | cut -c1-64)
	for e in docker podman rootless-podman; do
		case $e in
		docker) sock=$docker_sock cli="docker -H unix://$docker_sock" ;;
		podman) sock=$podman_sock cli="podman --url unix://$podman_sock" ;;
		rootless-podman) sock=$rootless_sock cli="podman --url unix://$rootless_sock" ;;
		esac
		[ -x /usr/bin/docker ] && [ $e = docker ] && cli="/usr/bin/docker -H unix://$docker_sock"
		ping "$sock" || continue
		have=$($cli image inspect -f '{{ index .Config.Labels "nanocell.rootfs" }}' "$name" \
			2>/dev/null || true)
		if [ "$have" = "$digest" ]; then
			echo "build-images: $e already has $name" >&2
			continue
		fi
		$cli import --change "CMD $cmd" --change "LABEL nanocell.rootfs=$digest" \
			"$tarball" "$name" >/dev/null
		echo "build-images: imported $name into $e" >&2
	done
}

mkdir -p "$stage"
probe=$build/static/tests/probe/probe
set --
[ -x "$probe" ] && set -- "$probe" /usr/bin/nanocell-probe "$probe" /usr/bin/nanocell-probe-suid
rootfs "$stage/test" "$@"
# The probe runs itself through this copy to prove no_new_privs: the setuid bit must not take.
# tar --owner=0 makes it root's.
[ -x "$probe" ] && chmod 4755 "$stage/test/usr/bin/nanocell-probe-suid"
image nanocell-test:latest "$stage/test" '["/bin/sh"]'

agent=$build/static/images/agent/agent
if [ -x "$agent" ]; then
	rootfs "$stage/agent" "$agent" /usr/bin/nanocell-agent
	image nanocell-agent:latest "$stage/agent" '["/usr/bin/nanocell-agent"]'
fi
