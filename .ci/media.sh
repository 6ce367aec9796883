#!/usr/bin/env bash
# The media server's suite, called by .ci/run from the repository root:
# the media packages under the race detector, a short run of each fuzz
# target, and the browser test (janus.js in headless Chromium) against our
# server and against Debian's Janus.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n--- media: %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

step "packages"
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/janus ] || missing+=(janus)
[ -x /usr/bin/ffmpeg ] || missing+=(ffmpeg)
command -v ip >/dev/null || missing+=(iproute2)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "not root: cannot install ${missing[*]}"
  fi
fi

step "go test -race (media, turn)"
go test -race -count=1 ./internal/media/... ./internal/turn/...

# Counted runs (about 10 s each here), not -fuzztime 10s: Go 1.26's fuzz
# coordinator can fail a timed run with "context deadline exceeded" at its
# deadline, without any failing input (golang/go#75804, fixed in Go 1.27).
# -fuzzminimizetime 5x: minimizing each new interesting input may otherwise
# take up to a minute (the default), time better spent on new inputs; a
# failing input is still written to testdata/fuzz, only less minimized.
step "fuzz targets, a counted run each"
for target in FuzzParseRTP FuzzRTCP; do
  go test -run '^$' -fuzz "^${target}\$" -fuzztime 50000x -fuzzminimizetime 5x ./internal/media/forward/
done
for target in FuzzParseEventLog FuzzAssembler FuzzReadDuration; do
  go test -run '^$' -fuzz "^${target}\$" -fuzztime 50000x -fuzzminimizetime 5x ./internal/media/record/
done
for target in FuzzVideoRoomBody FuzzRESTRequest FuzzDirectTake; do
  go test -run '^$' -fuzz "^${target}\$" -fuzztime 50000x -fuzzminimizetime 5x ./internal/media/videoroom/
done
go test -run '^$' -fuzz '^FuzzDecode$' -fuzztime 80000x -fuzzminimizetime 5x ./internal/media/janus/
# The media port's steering program, run in a BPF machine.
go test -run '^$' -fuzz '^FuzzSteerProgram$' -fuzztime 50000x -fuzzminimizetime 5x ./internal/media/udpport/
# What a phone sends: RTP payloads, telephone-events, the jitter buffer.
for pkg_target in audiocodec:FuzzDecode dtmf:FuzzReceive mixer:FuzzJitter rtpleg:FuzzHandle; do
  go test -run '^$' -fuzz "^${pkg_target#*:}\$" -fuzztime 30000x -fuzzminimizetime 5x "./internal/media/${pkg_target%%:*}/"
done

step "browser test: janus.js against OpenWAC and Janus"
work=$(mktemp -d)
ns=""
cleanup() {
  if [ -n "$ns" ]; then ip netns del "$ns" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/wac" ./cmd/wac
(cd test/janus && npm ci --no-audit --no-fund --loglevel=error)
# Janus never gathers ICE candidates on the loopback interface, and the
# tests may only send to loopback or to hosts of a network namespace they
# made: the run happens in a namespace of its own, with a veth pair whose
# one end (10.200.0.1) Janus uses.
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null && ip netns add "wacmedia$$" 2>/dev/null; then
  ns="wacmedia$$"
  ip -n "$ns" link set lo up
  ip -n "$ns" link add wm0 type veth peer name wm1
  ip -n "$ns" addr add 10.200.0.1/24 dev wm0
  ip -n "$ns" link set wm0 up
  ip -n "$ns" link set wm1 up
  ip netns exec "$ns" env WAC_BIN="$work/wac" JANUS_ICE_IFACE=wm0 node test/janus/run.mjs
else
  echo "no network namespace (needs root and iproute2): Janus is left out of the browser test"
  WAC_BIN="$work/wac" node test/janus/run.mjs
fi
