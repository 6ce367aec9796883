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
go test -run XXX -fuzz FuzzParseSDP -fuzztime 10s ./internal/sip
go test -run XXX -fuzz FuzzNumberOf -fuzztime 5s ./internal/sip
go test -run XXX -fuzz FuzzParseDTMFInfo -fuzztime 5s ./internal/sip
go test -run XXX -fuzz FuzzParseReferTo -fuzztime 5s ./internal/sip
go test -run XXX -fuzz FuzzParseSipfrag -fuzztime 5s ./internal/sip
go test -run XXX -fuzz FuzzSDPDirection -fuzztime 5s ./internal/sip
