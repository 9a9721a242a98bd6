#!/bin/sh
# Health check of a testbed system (the plan's check command runs it as
# /run/current-system/bin/healthcheck): fails only for systems built with the
# behaviour "unhealthy".
set -eu
system=$(readlink -f "$0")
system=${system%/bin/healthcheck}
if [ "$(cat "$system/behaviour")" = unhealthy ]; then
	echo "healthcheck: nginx is not responding" >&2
	exit 1
fi
echo "healthcheck: ok"
