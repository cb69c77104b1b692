#!/bin/bash
# What an agent prints reaches the user's terminal made safe (util/termsafe.h), against a real
# engine (NANOCELL_TEST_SOCKET, NANOCELL_TEST_ENGINE) with the reference agent in scripted mode:
# a result and an error result carrying OSC 52 (clipboard), CSI 2J (clear screen) and a C1 CSI
# come out with every control replaced in plain mode, and exactly, as JSON escapes, with --json.
# The agent's stderr under --verbose ends its line before nanocell's next one.
. "$(dirname "$0")/lib.sh"
sock=$NANOCELL_TEST_SOCKET
[ "$NANOCELL_TEST_ENGINE" = rootless-podman ] && { echo "1..0 # SKIP rootless Podman refuses turns by default"; exit 0; }
install="termsafe$$"
chmod 755 "$TMP"
export NANOCELL_CONFIG="$TMP/config.toml"
{
	printf '[install]\nid = "%s"\ndata_dir = "%s/data"\n[engine]\nhost = "unix://%s"\n' \
		"$install" "$TMP" "$sock"
	true
} >"$NANOCELL_CONFIG"

# expect_no_controls NAME FILE: FILE is printable ASCII, newlines and tabs. The hostile text is
# controls and ASCII only, and so is everything nanocell adds, so any other byte (ESC, BEL, a C1
# control in UTF-8 form or raw) is one that got through.
expect_no_controls() {
	if LC_ALL=C grep -qaP '[\x00-\x08\x0b-\x1f\x7f-\xff]' "$2"; then
		not_ok "$1" "$(od -c "$2" | head -n 20)"
	else
		ok "$1"
	fi
}

hostile=$'\e]52;c;aGk=\a \e[2J \xc2\x9b2J'
visible='?]52;c;aGk=? ?[2J ??2J'
escaped='\u001B]52;c;aGk=\u0007 \u001B[2J \u009B2J'

# --- a result, plain ---
run "$NC" run -- "echo $hostile"
expect_rc "a result with escape sequences ends well" 0
expect_no_controls "no control reaches stdout" "$TMP/out"
expect_no_controls "no control reaches stderr" "$TMP/err"
[ "$OUT" = "$visible" ] && ok "the result is shown with its controls made visible" || not_ok "the result is shown with its controls made visible" "$(printf '%s' "$OUT" | od -c | head)"

# --- an error result, plain: it goes through nanocell's error line ---
run "$NC" run -q -- "fail $hostile"
expect_rc "an error result is an agent error" 1
expect_no_controls "no control reaches stderr through the error line" "$TMP/err"
expect_match "the error text is shown, made visible" "$ERR" "agent error: \?\]52;c;aGk=\? \?\[2J \?\?2J"

# --- --json keeps the text exact, as JSON escapes ---
run "$NC" run -q --json -- "echo $hostile"
expect_rc "--json: the turn ends well" 0
expect_no_controls "--json: no raw control on stdout" "$TMP/out"
line=$(head -n 1 "$TMP/out")
case $line in
"{\"status\":\"success\",\"result\":\"$escaped\",\"newSessionId\":"*) ok "--json carries the exact text, escaped" ;;
*) not_ok "--json carries the exact text, escaped" "$line" ;;
esac
run "$NC" run -q --json -- "fail $hostile"
expect_rc "--json: an error result is an agent error" 1
expect_match "--json carries the exact error text, escaped" "$OUT" "\"error\":\"$(printf '%s' "$escaped" | sed 's/[][\\.]/\\&/g')\""

# --- --verbose: the agent's stderr ends its line before nanocell's next one ---
# 45 bytes of the 40-byte noise line: the second line is cut after "noise".
run "$NC" run --verbose -- "stderr 45 ; echo done"
expect_rc "--verbose: the turn ends well" 0
printf '%s\n' "$ERR" | grep -qx noise && ok "the agent's cut stderr line is ended" || not_ok "the agent's cut stderr line is ended" "$ERR"
expect_match "nanocell's last line starts on its own line" "$ERR" "^nanocell: run log: "
run "$NC" run -q --verbose -- "stderr 45 ; echo done"
[ "$(tail -c 6 "$TMP/err"; echo .)" = $'noise\n.' ] && ok "a quiet run ends the agent's open line too" || not_ok "a quiet run ends the agent's open line too" "$(tail -c 40 "$TMP/err" | od -c)"

ours=$(curl -sf --unix-socket "$sock" "http://localhost/v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22nanocell.install%3D$install%22%5D%7D" | grep -o '"Id"' | wc -l)
[ "$ours" -eq 0 ] && ok "no container is left" || not_ok "no container is left" "$ours"
done_testing
