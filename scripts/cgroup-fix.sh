#!/bin/sh
# crun refuses every container on a hybrid cgroup host whose cgroup v2 hierarchy lists a
# controller ("cgroups in hybrid mode not supported, drop all controllers from cgroupv2").
# Binding each listed controller to its own v1 hierarchy empties the list. This changes the host,
# so it is for test and demo machines, and only acts as root on such a host.
set -eu
ctl=/sys/fs/cgroup/unified/cgroup.controllers
[ -r "$ctl" ] || exit 0
[ "$(id -u)" -eq 0 ] || exit 0
for c in $(cat "$ctl"); do
	mkdir -p "/sys/fs/cgroup/$c"
	if mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c" 2>/dev/null; then
		echo "cgroup-fix: bound stray cgroup v2 controller '$c' to /sys/fs/cgroup/$c for crun" >&2
	fi
done
