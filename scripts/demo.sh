#!/bin/sh
# The demo behind `make demo`: one real agent turn in a hardened container, verified before the
# prompt reaches it. The reference agent runs in scripted mode (no model needed) and reports
# what the sandbox lets it see. When a key is configured, a second turn runs in model mode. `make demo` has built nanocell, started dockerd and built the
# images before this runs.
set -eu
cd "$(dirname "$0")/.."
nc=${NANOCELL_BIN:-./nanocell}

cat <<'INTRO'

== nanocell demo ==========================================================================
One agent turn. nanocell creates the container through the Docker Engine API, checks every
hardening setting in the engine's inspect and in /proc before the prompt is sent, streams
the agent's results, then removes the container. The agent probes its own sandbox.
===========================================================================================

INTRO
status=0
"$nc" run --group demo -- "echo Hello from inside a nanocell sandbox. Here is what I can reach: ; probe" ||
	status=$?

# Model mode, only when a key is configured (doctor says "model mode on"): the same sandbox, and
# the agent thinks. It reaches the model only through the credential proxy's socket and never
# sees the key; its bash tool runs inside the container, with no network but the proxy.
if "$nc" doctor 2>/dev/null | grep -q 'model mode on'; then
	cat <<'MODEL'

== model mode =============================================================================
The reference agent asks the model, which uses its bash tool inside the container. The key
stays on the host: the proxy adds it on the way out. Egress to hosts not in proxy.allow is
refused by the proxy, and there is no other way out.
===========================================================================================

MODEL
	"$nc" run --group demo-model -- "Use your bash tool to find out which user you run as, how \
many CPUs you see, and whether 'wget -q -O - https://example.com' works from here. Answer in \
three short lines." || status=$?
else
	echo
	echo "(model mode skipped: no key is configured. Set proxy.api_key_file or proxy.api_key_env;"
	echo " \`./nanocell doctor\` says when model mode is on.)"
fi
cat <<'OUTRO'

-------------------------------------------------------------------------------------------
Above: nanocell's progress (stderr) and the agent's answer (stdout). The agent runs as uid
1000 with no capabilities, no_new_privs and nanocell's seccomp profile, on a read-only root,
with no network and memory/pids/CPU limits. Try `./nanocell doctor` for the host, or
`./nanocell run -- "emit 3"` for more. The run log path is printed above.
OUTRO
exit $status
