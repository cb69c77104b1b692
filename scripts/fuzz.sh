#!/bin/sh
# `make fuzz`: builds every tests/fuzz/fuzz_*.c with clang's libFuzzer, ASan and UBSan, and
# runs each for SECONDS (default 60) over a scratch copy of its committed corpus. New inputs
# land in build/fuzz-corpus/<name>; crashes in build/fuzz-crashes/. Copy an input worth keeping
# into tests/fuzz/corpus/<name>/ so that `make test` replays it from then on.
set -eu
cd "$(dirname "$0")/.."
seconds=${1:-60}
command -v clang >/dev/null 2>&1 || { echo "fuzz: clang is required (apt-get install clang)" >&2; exit 1; }
out=build/fuzz-clang
mkdir -p "$out" build/fuzz-corpus build/fuzz-crashes
cflags="-std=gnu17 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Isrc -Itests $(pkg-config --cflags libcurl yajl libseccomp libcap sqlite3 libmicrohttpd)"
libs="$(pkg-config --libs libcurl yajl libseccomp libcap sqlite3 libmicrohttpd) -lpthread"
srcs=$(find src \( -name '*.c' -o -name '*.S' \) ! -name main.c ! -path 'src/cmd/*')
status=0
for f in tests/fuzz/fuzz_*.c; do
	name=$(basename "$f" .c | sed 's/^fuzz_//')
	echo "fuzz: building $name" >&2
	# shellcheck disable=SC2086
	clang $cflags -o "$out/fuzz_$name" "$f" $srcs $libs
	mkdir -p "build/fuzz-corpus/$name"
	cp -n "tests/fuzz/corpus/$name"/* "build/fuzz-corpus/$name/" 2>/dev/null || true
	echo "fuzz: running $name for ${seconds}s" >&2
	# A tests/fuzz/<name>.dict (keywords of the format) helps the mutator past string compares.
	dict=""
	[ -f "tests/fuzz/$name.dict" ] && dict="-dict=tests/fuzz/$name.dict"
	# shellcheck disable=SC2086
	if ! "$out/fuzz_$name" $dict -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="build/fuzz-crashes/$name-" "build/fuzz-corpus/$name" \
		>"$out/$name.log" 2>&1; then
		echo "fuzz: $name FOUND A PROBLEM (see $out/$name.log and build/fuzz-crashes/)" >&2
		tail -n 30 "$out/$name.log" >&2
		status=1
	else
		grep -E '^#[0-9]+.*DONE' "$out/$name.log" | tail -n 1 >&2 || tail -n 1 "$out/$name.log" >&2
	fi
done
exit $status
