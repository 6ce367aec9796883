#!/usr/bin/env bash
# The signaling suite, called by .ci/run from the repository root: the
# signaling core, its bus, authentication and the Go SDK under the race
# detector (races between an invitation's answer and its ringing have been
# found this way), and a short run of each network decoder's fuzz target
# outside media.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n--- signaling: %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

step "go test -race (qss, bus, grant, auth, client)"
go test -race -count=1 ./internal/qss/... ./internal/bus/... ./internal/grant/... ./internal/auth/... ./client/...

# Counted runs (about 10 s each here), not -fuzztime 10s: Go 1.26's fuzz
# coordinator can fail a timed run with "context deadline exceeded" at its
# deadline, without any failing input (golang/go#75804, fixed in Go 1.27).
# -fuzzminimizetime 5x: minimizing each new interesting input may otherwise
# take up to a minute (the default), time better spent on new inputs; a
# failing input is still written to testdata/fuzz, only less minimized.
step "fuzz targets, a counted run each"
go test -run '^$' -fuzz '^FuzzDecodeFrame$' -fuzztime 20000x -fuzzminimizetime 5x ./internal/qss/wire/
go test -run '^$' -fuzz '^FuzzVerify$' -fuzztime 30000x -fuzzminimizetime 5x ./internal/grant/
go test -run '^$' -fuzz '^FuzzRequestBodies$' -fuzztime 20000x -fuzzminimizetime 5x ./internal/sapi/
