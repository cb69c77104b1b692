#!/bin/sh
# The demo behind `make demo`: one real agent turn in a hardened container, verified before the
# prompt reaches it. The reference agent runs in scripted mode (no model needed) and reports
# what the sandbox lets it see. `make demo` has built nanocell, started dockerd and built the
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
"$nc" run --group demo -- "echo Hello from inside a nanocell sandbox. Here is what I can reach: ; probe"
status=$?
# Model mode, when a key is configured ([proxy] api_key_file or api_key_env): a real model
# drives the agent's bash tool through the credential proxy; the container still has no network
# and never sees the key.
if "$nc" doctor 2>/dev/null | grep -q "model mode on"; then
	printf '\n== model mode: the agent thinks, through the credential proxy ===========================\n\n'
	"$nc" run --group demo -- "Use the bash tool to find out which user you run as and how many files are in /workspace, then answer in one sentence." || status=$?
fi
cat <<'OUTRO'

-------------------------------------------------------------------------------------------
Above: nanocell's progress (stderr) and the agent's answer (stdout). The agent runs as uid
1000 with no capabilities, no_new_privs and nanocell's seccomp profile, on a read-only root,
with no network and memory/pids/CPU limits. Try `./nanocell doctor` for the host, or
`./nanocell run -- "emit 3"` for more. The run log path is printed above.
OUTRO
exit $status
