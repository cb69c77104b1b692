#!/bin/bash
# sandbox.runtime = "auto" (the default) against a real engine (NANOCELL_TEST_SOCKET,
# NANOCELL_TEST_ENGINE): doctor names the choice and why, the verdict is cached in
# data_dir/runtime-cache (0600) and a malformed cache is tried again, `run` asks for what doctor
# named and its run log says it came from auto. Docker with crun listed: crun when its trial
# runs cleanly, else runc; Podman keeps its own default (the run log names it, from libpod's
# inspect). On rootful Podman a pinned runtime is confirmed by libpod's inspect: the service's
# own runs, one Podman did not apply is refused.
. "$(dirname "$0")/lib.sh"
sock=$NANOCELL_TEST_SOCKET
install="rttest$$"
chmod 755 "$TMP"
export NANOCELL_CONFIG="$TMP/config.toml"
waivers=
case $NANOCELL_TEST_ENGINE in
rootless-podman) waivers='"memory", "pids", "cpu"' ;;
esac
printf '[install]\nid = "%s"\ndata_dir = "%s/data"\n[engine]\nhost = "unix://%s"\n' \
	"$install" "$TMP" "$sock" >"$NANOCELL_CONFIG"
printf '[sandbox]\nallow_unenforced = [%s]\n' "$waivers" >>"$NANOCELL_CONFIG"
api() { curl -sf --unix-socket "$sock" "$@"; }
cache="$TMP/data/runtime-cache"

run "$NC" doctor
expect_rc "doctor is happy with the default runtime choice" 0
line=$(printf '%s\n' "$OUT" | grep -E '^ +ok +runtime ' || true)
case $NANOCELL_TEST_ENGINE in
docker)
	if api http://localhost/v1.41/info | grep -q '"crun":{"path"'; then
		expect_match "doctor names auto's verdict on the listed crun" "$line" \
			"runtime +(crun \(auto: crun listed, trial container ran cleanly\)|the engine's default \(auto: crun listed but its trial failed: .+\))$"
		[ -f "$cache" ] && [ "$(stat -c %a "$cache")" = 600 ] && ok "the verdict is cached, 0600" ||
			not_ok "the verdict is cached, 0600" "$(ls -l "$cache" 2>&1)"
		expect_match "the cache names this engine and crun's path" "$(cat "$cache" 2>&1)" \
			"^unix://$sock	[^	]+	/[^	]*crun	(ok|failed)	"
		run "$NC" doctor
		expect_match "the second doctor uses the cache" "$OUT" "ok +runtime +.*; cached\)"
		printf 'nanocell-runtime-cache 1\nnot a verdict\n' >"$cache"
		run "$NC" doctor
		expect_match "a malformed cache is not trusted: a new trial" "$OUT" \
			"ok +runtime +.*\(auto: crun listed[^;]*\)$"
		expect_match "and the cache is written again" "$(cat "$cache")" "	(ok|failed)	"
		case $line in
		*"(auto: crun listed, trial"*) want=crun ;;
		*) want=runc ;;
		esac
	else
		expect_match "doctor says crun is not listed" "$line" "auto: crun is not listed by the engine"
		want=runc
	fi
	;;
*)
	expect_match "Podman keeps its own default under auto" "$line" \
		"runtime +the engine's default \(auto: Podman keeps its own default runtime\)$"
	[ ! -e "$cache" ] && ok "nothing is cached for Podman" || not_ok "nothing is cached for Podman"
	want=
	;;
esac

if [ "$NANOCELL_TEST_ENGINE" != rootless-podman ]; then
	run "$NC" run -q -- "echo runtime check"
	expect_rc "run with the default config" 0
	log=$(ls -t "$TMP"/data/groups/default/logs/run-*.log 2>/dev/null | head -n 1)
	rt=$(grep '^runtime: ' "$log" 2>/dev/null)
	if [ -n "$want" ]; then
		expect_match "the run log records auto's runtime and why" "$rt" "^runtime: $want \(auto: "
	else
		# Podman's own default, as libpod's inspect names it (the compat one says "oci").
		dflt=$(api http://localhost/v4.0.0/libpod/info | grep -o '"ociRuntime":{"name":"[^"]*"' | cut -d'"' -f6)
		expect_match "the run log says auto left Podman on its default ($dflt)" "$rt" \
			"^runtime: $dflt \(auto: Podman keeps its own default runtime\)$"
	fi
fi

# A pinned runtime on rootful Podman: sent through libpod's create and confirmed by libpod's
# inspect (this host's service runs runc), so the turn runs; one that fails fails the turn,
# with no fallback to another.
if [ "$NANOCELL_TEST_ENGINE" = podman ]; then
	cp "$NANOCELL_CONFIG" "$TMP/auto.toml"
	printf 'runtime = "runc"\n' >>"$NANOCELL_CONFIG"
	run "$NC" run -q -- "echo pinned runc"
	expect_rc "a turn with sandbox.runtime pinned to runc runs on Podman" 0
	expect_match "and answers" "$OUT" "^pinned runc$"
	log=$(ls -t "$TMP"/data/groups/default/logs/run-*.log 2>/dev/null | head -n 1)
	expect_match "the run log names the pinned runtime" "$(grep '^runtime: ' "$log")" "^runtime: runc$"
	expect_match "verification confirmed it from libpod's inspect" "$(cat "$log")" "ok OCIRuntime"
	cp "$TMP/auto.toml" "$NANOCELL_CONFIG"
	printf 'runtime = "no-such-runtime"\n' >>"$NANOCELL_CONFIG"
	run "$NC" run -q -- "echo unknown runtime"
	expect_rc "a pinned runtime Podman did not apply fails the turn" 3
	expect_no_match "with no fallback" "$OUT" "unknown runtime"
	# Podman 4.3 ignores the SpecGenerator's oci_runtime and runs the service's own runtime:
	# libpod's inspect says so. A Podman that honours it refuses an unknown name at create.
	expect_match "the error names the runtime" "$ERR" \
		"(OCIRuntime: Podman runs it on '[^']+', asked 'no-such-runtime'|no-such-runtime)"
	cp "$TMP/auto.toml" "$NANOCELL_CONFIG"
fi

left=$(api "http://localhost/v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22nanocell.install%3D$install%22%5D%7D" | grep -o '"Id"' | wc -l)
[ "$left" -eq 0 ] && ok "no container is left (the trial's included)" || not_ok "no container is left" "$left left"
done_testing
