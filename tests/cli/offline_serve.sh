#!/bin/bash
# nanocell serve without an engine: what it refuses before it starts (a corrupt database, one
# from a newer nanocell, a data dir or database others can write, an API socket path too long,
# a second daemon on the same data dir), each with a clear error and the file untouched, the
# client commands with no daemon, and the systemd unit.
. "$(dirname "$0")/lib.sh"
export NANOCELL_CONFIG="$TMP/config.toml"
export NANOCELL_API="$TMP/api/api.sock"
printf '[install]\nid = "offserve"\ndata_dir = "%s/data"\n[engine]\nhost = "unix://%s/no-engine.sock"\n' "$TMP" "$TMP" >"$NANOCELL_CONFIG"
mkdir -p "$TMP/data"
chmod 700 "$TMP/data"
db="$TMP/data/nanocell.db"
DPID=""
trap '[ -n "$DPID" ] && kill -9 "$DPID" 2>/dev/null; rm -rf "$TMP"' EXIT

# serve_fails NAME WANT_RC REGEX: serve must exit with WANT_RC and say REGEX, within 10 s.
serve_fails() {
	run timeout 10 "$NC" serve
	expect_rc "$1: serve exits $2" "$2"
	expect_match "$1: it says why" "$ERR" "$3"
}

# --- a corrupt database: refused, untouched ---
head -c 8192 /dev/urandom >"$db"
chmod 600 "$db"
before=$(sha256sum "$db")
serve_fails "a corrupt database" 1 "nanocell.db"
[ "$(sha256sum "$db")" = "$before" ] && ok "the corrupt database is untouched" || not_ok "the corrupt database is untouched"
rm -f "$db"*

# --- a database from a newer nanocell: refused, untouched ---
sqlite3 "$db" "CREATE TABLE schema_version(version INTEGER, applied_ms INTEGER); INSERT INTO schema_version VALUES (99, 0);"
chmod 600 "$db"
before=$(sha256sum "$db")
serve_fails "a newer schema" 1 "newer"
[ "$(sha256sum "$db")" = "$before" ] && ok "the newer database is untouched" || not_ok "the newer database is untouched"
rm -f "$db"*

# --- others may write the database, or the data dir ---
touch "$db"
chmod 666 "$db"
serve_fails "a database others can write" 1 "chmod"
rm -f "$db"*
chmod 777 "$TMP/data"
serve_fails "a data dir others can write" 1 "chmod"
chmod 700 "$TMP/data"

# --- an API socket path too long: refused, never cut ---
long="$TMP/$(printf 'x%.0s' $(seq 1 120))/api.sock"
NANOCELL_API="$long" serve_fails "a socket path too long" 1 "longer than the 107"

# --- a daemon starts with its engine down, and a second one on the same data dir is refused ---
"$NC" serve >"$TMP/serve.log" 2>&1 &
DPID=$!
for _ in $(seq 1 50); do "$NC" status >/dev/null 2>&1 && break; sleep 0.1; done
run "$NC" status
expect_rc "the daemon answers with its engine down" 0
grep -Eq '^Max core file size +0 +0 ' "/proc/$DPID/limits" && ok "the daemon writes no core file" ||
	not_ok "the daemon writes no core file" "$(grep core "/proc/$DPID/limits")"
NANOCELL_API="$TMP/api2/api.sock" serve_fails "a second daemon on the same data dir" 1 "lock|busy|another"
run "$NC" groups add g1 --no-trigger
expect_rc "groups can be added with the engine down" 0
run "$NC" send --group g1 --no-wait "echo stored"
expect_rc "a message is stored with the engine down" 0
run "$NC" messages --group g1 --json
expect_match "it is kept, pending" "$OUT" '"text":"echo stored".*"state":"pending"'
kill -TERM "$DPID"
wait "$DPID"
rc=$?
DPID=""
[ "$rc" -eq 0 ] && ok "SIGTERM: exit 0" || not_ok "SIGTERM: exit 0" "status $rc"
[ ! -e "$NANOCELL_API" ] && ok "the socket is removed" || not_ok "the socket is removed"

# --- clients with no daemon ---
for c in "status" "groups ls" "messages" "retry g1" "send --group g1 hi"; do
	run "$NC" $c
	expect_rc "'$c' with no daemon exits 3" 3
	expect_match "'$c' says how to start one" "$ERR" "nanocell serve"
done

# --- the daemon's clients take --api, not the engine commands' global options ---
run "$NC" --config "$NANOCELL_CONFIG" status
expect_rc "'--config' before a client command is a usage error" 2
expect_match "it says the clients take --api" "$ERR" "take --api SOCKET"

# --- the systemd unit: valid for systemd, confined, and it reaps after a stop ---
unit="$TMP/nanocell.service"
sed "s#/usr/local/bin/nanocell#$PWD/${NC#./}#g" scripts/nanocell.service >"$unit"
run systemd-analyze verify --man=no "$unit"
expect_rc "systemd-analyze verify accepts scripts/nanocell.service" 0
[ -z "$OUT$ERR" ] && ok "with nothing to say" || not_ok "with nothing to say" "$OUT" "$ERR"
for k in 'ExecStart=/usr/local/bin/nanocell serve' 'ExecStopPost=/usr/local/bin/nanocell gc' \
	'NoNewPrivileges=yes' 'ProtectSystem=strict' 'PrivateTmp=yes' 'RuntimeDirectory=nanocell' \
	'StateDirectory=nanocell' 'ExecReload=/bin/kill -HUP $MAINPID'; do
	grep -qxF -- "$k" scripts/nanocell.service && ok "the unit has $k" || not_ok "the unit has $k"
done

done_testing
