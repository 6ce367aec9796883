#!/usr/bin/env bash
# The sip role against real SIP peers: SIPp (Debian's sip-tester) plays the
# phone and the trunk on loopback ports, both ways, with the error codes,
# CANCEL, BYE, the no-RTP timeout, hold and transfer (re-INVITE, REFER)
# both ways, RTP relayed both ways to a Pion peer, and the goroutine check;
# kamailio as the registrar the users' SIP mappings register with, and
# baresip calling them through it with audio, and calling a room in Opus;
# then the parsers' fuzz targets for a moment.
set -euo pipefail
cd "$(dirname "$0")/.."
export WAC_TEST_NEED_PROGRAMS=1
command -v sipp >/dev/null || { echo "sipp is missing (apt-get install sip-tester)"; exit 1; }
for p in kamailio kamcmd baresip; do
  command -v $p >/dev/null || { echo "$p is missing (apt-get install kamailio baresip)"; exit 1; }
done
test -f /usr/lib/baresip/modules/opus.so || { echo "baresip's opus module is missing (apt-get install baresip-core)"; exit 1; }
go test -count=1 -run 'TestSIP' ./internal/node
go test -count=1 ./internal/sip ./internal/media/sipmedia
# Counted runs, not -fuzztime 5s: Go 1.26's fuzz coordinator can fail a
# timed run with "context deadline exceeded" at its deadline without any
# failing input (golang/go#75804; it did here, on FuzzNumberOf). See
# .ci/media.sh.
for target in FuzzParseSDP FuzzNumberOf FuzzParseDTMFInfo FuzzParseReferTo FuzzParseSipfrag FuzzSDPDirection; do
  go test -run '^$' -fuzz "^${target}\$" -fuzztime 20000x -fuzzminimizetime 5x ./internal/sip
done
