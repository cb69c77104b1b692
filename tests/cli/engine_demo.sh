#!/bin/bash
# scripts/demo.sh (the end of `make demo`) against a real engine: the scripted turn runs, and
# with no key configured the model-mode step is skipped with a line saying how to turn it on.
# Docker only: the demo is Docker's quick start.
. "$(dirname "$0")/lib.sh"
if [ "$NANOCELL_TEST_ENGINE" != docker ]; then
	echo "1..0 # SKIP the demo runs on Docker"
	exit 0
fi
install="demotest$$"
chmod 755 "$TMP"
export NANOCELL_CONFIG="$TMP/config.toml"
printf '[install]\nid = "%s"\ndata_dir = "%s/data"\n[engine]\nhost = "unix://%s"\n' \
	"$install" "$TMP" "$NANOCELL_TEST_SOCKET" >"$NANOCELL_CONFIG"
NANOCELL_BIN=$NC run scripts/demo.sh
expect_rc "the demo succeeds with no key configured" 0
expect_match "its scripted turn ran" "$OUT" "Hello from inside a nanocell sandbox"
expect_match "the model step says why it is skipped" "$OUT" \
	"^\(model mode skipped: no key is configured\. Set proxy\.api_key_file or proxy\.api_key_env;$"
expect_no_match "and runs no model turn" "$OUT$ERR" "== model mode =="
done_testing
