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
cat <<'OUTRO'

-------------------------------------------------------------------------------------------
Above: nanocell's progress (stderr) and the agent's answer (stdout). The agent runs as uid
1000 with no capabilities, no_new_privs and nanocell's seccomp profile, on a read-only root,
with no network and memory/pids/CPU limits. Try `./nanocell doctor` for the host, or
`./nanocell run -- "emit 3"` for more. The run log path is printed above.
OUTRO
exit $status
