#!/bin/sh
# Second line of defence behind src/util/banned.h: no banned call in src/ or images/ (the reference
# agent), and every .c file there includes banned.h (after its other includes, so the macros catch
# any later use).
set -u
cd "$(dirname "$0")/.."
status=0
hits=$(grep -nE '\b(sprintf|vsprintf|strcpy|strcat|strncpy|strncat|strtok|gets|atoi|system|popen)[[:space:]]*\(' \
	$(find src images -name '*.[ch]' ! -name banned.h) | grep -vE 'snprintf|vsnprintf|/\*.*\*/' || true)
if [ -n "$hits" ]; then
	echo "not ok - banned calls in src/ or images/:"
	echo "$hits" | sed 's/^/#   /'
	status=1
else
	echo "ok - no banned calls in src/ or images/"
fi
missing=$(for f in $(find src images -name '*.c'); do grep -q '#include "util/banned.h"' "$f" || echo "$f"; done)
if [ -n "$missing" ]; then
	echo "not ok - files in src/ or images/ that do not include util/banned.h:"
	echo "$missing" | sed 's/^/#   /'
	status=1
else
	echo "ok - every .c file in src/ and images/ includes util/banned.h"
fi
# A JSON key looked up with json_get (a Docker context's Endpoints.docker) is not a command.
shellouts=$(grep -nE '"(docker|podman)( |")' $(find src -name '*.c') | grep -v 'json_get(' || true)
if [ -n "$shellouts" ]; then
	echo "not ok - src/ names the docker/podman CLI; the orchestrator speaks the API only:"
	echo "$shellouts" | sed 's/^/#   /'
	status=1
else
	echo "ok - src/ never shells out to an engine CLI"
fi
exit $status
