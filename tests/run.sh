#!/bin/bash
# Runs every test layer and ends with one countable line: "N passed, N failed, N skipped".
#   unit         cmocka binaries in $BUILD/tests/unit (TAP)
#   fuzz replay  every fuzz target over its committed corpus
#   static       clang-format check, banned-function check, policies/ checked and broken
#                copies refused
#   engines      brings up dockerd, rootful Podman and rootless Podman, builds the test images,
#                then runs the integration binaries and the CLI tests against each engine
# Environment: NANOCELL_BUILD (default build), NANOCELL_BIN (default ./nanocell),
# NANOCELL_SKIP_ENGINES=1 skips the engine layer (counted as skipped, never as passed),
# NANOCELL_TESTS=REGEX runs only the steps whose name matches; NANOCELL_SKIP_STEPS=REGEX skips
# the steps whose name matches (counted as skipped, never as passed).
set -u
cd "$(dirname "$0")/.."
export NANOCELL_BUILD=${NANOCELL_BUILD:-build}
export NANOCELL_BIN=${NANOCELL_BIN:-./nanocell}
export NANOCELL_ROOT=$PWD
logdir=$NANOCELL_BUILD/test-logs
mkdir -p "$logdir"
passed=0 failed=0 skipped=0
failures=""

want() { [ -z "${NANOCELL_TESTS:-}" ] || [[ "$1" =~ $NANOCELL_TESTS ]]; }
# Whether any engine step could match the filter.
want_engines() {
	local n
	for n in docker/x podman/x rootless-podman/x engine-up/x build-images; do
		want "$n" && return 0
	done
	[ -n "${NANOCELL_TESTS:-}" ] && [[ "$NANOCELL_TESTS" =~ (docker|podman|engine|sandbox|cli) ]]
}

# step NAME CMD...: runs CMD, counts its TAP lines; a CMD that prints no TAP counts as one test.
step() {
	local name=$1
	shift
	want "$name" || return 0
	if [ -n "${NANOCELL_SKIP_STEPS:-}" ] && [[ "$name" =~ $NANOCELL_SKIP_STEPS ]]; then
		skip_step "$name" "NANOCELL_SKIP_STEPS"
		return 0
	fi
	local log="$logdir/$(echo "$name" | tr '/ ' '__').log"
	"$@" >"$log" 2>&1
	local rc=$?
	local ok notok skip
	# cmocka marks a skipped test "not ok N # SKIP"; TAP proper says "ok N # SKIP".
	ok=$(grep -E '^ok ' "$log" | grep -cvE '# (SKIP|skip)')
	skip=$(grep -cE '^(not )?ok .*# (SKIP|skip)' "$log")
	notok=$(grep -E '^not ok ' "$log" | grep -cvE '# (SKIP|skip)')
	if [ "$ok" -eq 0 ] && [ "$notok" -eq 0 ] && [ "$skip" -eq 0 ]; then
		# A plan of "1..0 # SKIP" is a step that skipped itself, never a pass.
		if [ $rc -eq 0 ] && grep -qE '^1\.\.0 # (SKIP|skip)' "$log"; then
			skip=1
		elif [ $rc -eq 0 ]; then ok=1; else notok=1; fi
	elif [ $rc -ne 0 ] && [ "$notok" -eq 0 ]; then
		notok=1 # crashed or exited non-zero without reporting a failure
		echo "not ok - $name exited with status $rc" >>"$log"
	fi
	passed=$((passed + ok))
	failed=$((failed + notok))
	skipped=$((skipped + skip))
	if [ "$notok" -gt 0 ]; then
		printf 'FAIL %-40s %d passed, %d failed (log: %s)\n' "$name" "$ok" "$notok" "$log"
		grep -E '^not ok |^# ' "$log" | grep -v '^# ok' | head -n 40 | sed 's/^/     /'
		[ "$notok" -gt 0 ] && tail -n 15 "$log" | sed 's/^/   | /'
		failures="$failures $name"
	else
		printf 'ok   %-40s %d passed%s\n' "$name" "$ok" "$([ "$skip" -gt 0 ] && echo ", $skip skipped")"
	fi
}

skip_step() {
	want "$1" || return 0
	skipped=$((skipped + 1))
	printf 'skip %-40s %s\n' "$1" "$2"
}

export CMOCKA_MESSAGE_OUTPUT=TAP

for t in "$NANOCELL_BUILD"/tests/unit/test_*; do
	[ -x "$t" ] && step "unit/$(basename "$t")" "$t"
done

for r in "$NANOCELL_BUILD"/fuzz/replay_*; do
	[ -x "$r" ] || continue
	name=${r##*/replay_}
	if [ -d "tests/fuzz/corpus/$name" ]; then
		step "fuzz-replay/$name" "$r" "tests/fuzz/corpus/$name"
	else
		step "fuzz-replay/$name" sh -c "echo 'not ok - no corpus at tests/fuzz/corpus/$name'; exit 1"
	fi
done

step static/fmt-check make --no-print-directory fmt-check
step static/banned scripts/check-banned.sh

for t in tests/cli/offline_*.sh; do
	[ -x "$t" ] && step "cli/$(basename "$t" .sh)" "$t"
done

if [ "${NANOCELL_SKIP_ENGINES:-0}" = 1 ]; then
	skip_step engines "NANOCELL_SKIP_ENGINES=1"
elif want_engines; then
	# Bringing the engines up is never filtered out: the engine steps need it.
	filter=${NANOCELL_TESTS:-}
	NANOCELL_TESTS=
	engines=""
	if step engine-up/docker scripts/engine-up.sh; then engines="$engines docker"; fi
	if step engine-up/podman scripts/podman-up.sh; then engines="$engines podman"; fi
	if step engine-up/rootless-podman scripts/podman-rootless-up.sh; then
		engines="$engines rootless-podman"
	fi
	step build-images scripts/build-images.sh
	NANOCELL_TESTS=$filter
	# The engines are independent (own sockets, stores and images; every test has its own
	# temporary directory and random ports), and their steps mostly wait on containers: they
	# run at once, each in a subshell with its own counts, printed in order when all are done.
	# NANOCELL_SERIAL_ENGINES=1 runs them one after the other.
	engine_steps() {
		local e=$1 sock=$2 t
		passed=0 failed=0 skipped=0 failures=""
		for t in "$NANOCELL_BUILD"/tests/integration/test_*; do
			[ -x "$t" ] && step "$e/$(basename "$t")" env NANOCELL_TEST_ENGINE="$e" \
				NANOCELL_TEST_SOCKET="$sock" "$t"
		done
		for t in tests/cli/engine_*.sh; do
			[ -x "$t" ] && step "$e/cli/$(basename "$t" .sh)" env NANOCELL_TEST_ENGINE="$e" \
				NANOCELL_TEST_SOCKET="$sock" "$t"
		done
		echo "$passed $failed $skipped$failures" >"$logdir/engine-$e.counts"
	}
	for e in $engines; do
		case $e in
		docker) sock=/var/run/docker.sock ;;
		podman) sock=/run/podman/podman.sock ;;
		rootless-podman) sock=/run/user/$(id -u nanocell-rootless)/podman/podman.sock ;;
		esac
		rm -f "$logdir/engine-$e.counts"
		if [ "${NANOCELL_SERIAL_ENGINES:-0}" = 1 ]; then
			(engine_steps "$e" "$sock") | tee "$logdir/engine-$e.out"
		else
			(engine_steps "$e" "$sock") >"$logdir/engine-$e.out" 2>&1 &
		fi
	done
	wait
	for e in $engines; do
		[ "${NANOCELL_SERIAL_ENGINES:-0}" = 1 ] || cat "$logdir/engine-$e.out"
		if ! read -r p f s fl <"$logdir/engine-$e.counts"; then
			echo "FAIL $e: its steps ended without their counts"
			p=0 f=1 s=0 fl=" $e"
		fi
		passed=$((passed + p))
		failed=$((failed + f))
		skipped=$((skipped + s))
		failures="$failures${fl:+ $fl}"
	done
fi

echo
[ -n "$failures" ] && echo "failed steps:$failures"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
