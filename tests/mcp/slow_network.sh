#!/bin/sh
# Takes half a second, then fails with a network error (recovery.lua retries
# those): the MCP cancellation test cancels it while the first attempt runs.
cat >/dev/null
sleep 0.5
printf '{"error":{"category":"network","message":"upstream down"}}\n'
exit 1
