#!/usr/bin/env bash
# Autobahn|Testsuite, fuzzingclient mode (server role, every case of
# fuzzingclient.json: sections 1 to 13) against the event-loop Engine:
# examples/echo -engine -compress. Ends with "N passed, M failed" like
# run.sh, whose installs and checks it reuses; reports in
# autobahn/reports/servers-engine/.
#
#   bash autobahn/engine.sh
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export AUTOBAHN_SERVER=engine AUTOBAHN_MODES=fuzzingclient
export AUTOBAHN_SERVER_PORT=${AUTOBAHN_ENGINE_PORT:-9003}
exec bash "$HERE/run.sh"
