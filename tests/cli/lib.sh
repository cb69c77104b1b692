# TAP helpers for the CLI tests. Source it; call check/expect_*, then done_testing.
# NANOCELL_BIN is the binary under test (default ./nanocell, relative to the repo root).
set -u
cd "$(dirname "$0")/../.." || exit 1
NC=${NANOCELL_BIN:-./nanocell}
_n=0
_failed=0
TMP=$(mktemp -d /tmp/nanocell-cli.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

ok() {
	_n=$((_n + 1))
	echo "ok $_n - $1"
}

not_ok() {
	_n=$((_n + 1))
	_failed=$((_failed + 1))
	echo "not ok $_n - $1"
	shift
	for line in "$@"; do echo "#   $line"; done
}

# run CMD...: runs it, keeping stdout in $OUT, stderr in $ERR and the status in $RC.
run() {
	"$@" >"$TMP/out" 2>"$TMP/err"
	RC=$?
	OUT=$(cat "$TMP/out")
	ERR=$(cat "$TMP/err")
}

# expect_rc NAME WANT: checks the status of the last run.
expect_rc() {
	if [ "$RC" -eq "$2" ]; then ok "$1"; else not_ok "$1" "exit status $RC, want $2" "stdout: $OUT" "stderr: $ERR"; fi
}

# expect_match NAME TEXT REGEX
expect_match() {
	if printf '%s' "$2" | grep -qE -- "$3"; then ok "$1"; else not_ok "$1" "no match for /$3/ in:" "$2"; fi
}

expect_no_match() {
	if printf '%s' "$2" | grep -qE -- "$3"; then not_ok "$1" "unexpected match for /$3/ in:" "$2"; else ok "$1"; fi
}

done_testing() {
	echo "1..$_n"
	[ "$_failed" -eq 0 ]
}
