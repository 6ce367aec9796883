#!/usr/bin/env bash
# The signaling suite, called by .ci/run from the repository root: the
# signaling core, its bus and the Go SDK under the race detector (races
# between an invitation's answer and its ringing have been found this way),
# and a short run of each network decoder's fuzz target outside media.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n--- signaling: %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

step "go test -race (qss, bus, grant, client)"
go test -race -count=1 ./internal/qss/... ./internal/bus/... ./internal/grant/... ./client/...

step "fuzz targets, 10 s each"
go test -run '^$' -fuzz '^FuzzDecodeFrame$' -fuzztime 10s ./internal/qss/
go test -run '^$' -fuzz '^FuzzVerify$' -fuzztime 10s ./internal/grant/
go test -run '^$' -fuzz '^FuzzRequestBodies$' -fuzztime 10s ./internal/sapi/
