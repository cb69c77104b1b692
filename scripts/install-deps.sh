#!/bin/sh
# Installs the Debian 12 packages nanocell needs to build and test, and only those missing.
# Idempotent and quick when everything is present. Without root or apt-get it installs nothing
# and prints the exact command to run.
#   scripts/install-deps.sh            build + test + engines (what `make test` needs)
#   scripts/install-deps.sh build      only what `make` needs
#   scripts/install-deps.sh demo       what `make demo` needs: build, busybox, Docker
#   scripts/install-deps.sh docker|podman|engines   one engine, or both
set -eu

BUILD_PKGS="build-essential pkg-config libcurl4-openssl-dev libyajl-dev libseccomp-dev libcap-dev
libsqlite3-dev libmicrohttpd-dev"
TEST_PKGS="libcmocka-dev clang-format busybox-static groff-base man-db docker-registry jq sqlite3 systemd tzdata python3 openssl iproute2"
DOCKER_PKGS="docker.io crun runc tini curl"
PODMAN_PKGS="podman catatonit uidmap curl"

case "${1:-all}" in
build) want="$BUILD_PKGS" ;;
demo) want="$BUILD_PKGS busybox-static $DOCKER_PKGS" ;;
docker) want="$DOCKER_PKGS" ;;
podman) want="$PODMAN_PKGS" ;;
engines) want="$DOCKER_PKGS $PODMAN_PKGS" ;;
all) want="$BUILD_PKGS $TEST_PKGS $DOCKER_PKGS $PODMAN_PKGS" ;;
*) echo "usage: $0 [all|build|demo|docker|podman|engines]" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$status" in
	*" installed") ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing" >&2
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "install-deps: cannot install here (need root and apt-get); run:" >&2
	echo "  apt-get update && apt-get install -y$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
# shellcheck disable=SC2086
apt-get install -y -qq $missing >&2
