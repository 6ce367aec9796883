#!/usr/bin/env bash
# Runs `wac bench sipcalls` against our server (the sip role) and Janus's
# SIP plugin (Debian's janus, libjanus_sip.so) under the same load, inside
# a network namespace of its own: Janus gathers no ICE candidate on the
# loopback interface, so it gets one end of a veth pair (10.200.0.1) that
# exists only in the namespace. The tool is the trunk of both (a SIP UAS
# on 127.0.0.1:5070 answering PCMU), and the apps (Pion peers). Needs root,
# iproute2, util-linux (nsenter), go (unless WAC_BIN names a built wac),
# janus.
#
#   sudo test/janus/sipbench.sh --calls 100 --runs 3 [other wac bench sipcalls flags]
#
# ONLY_OURS=1 leaves Janus out (a load our server alone takes: --codec
# opus, or more calls than Janus is run with).
# Ports: our media 19000, our trunk RTP 30000-31999 (the default), Janus's
# ICE 10000-18999 and SIP RTP 20000-29999: none among the ephemeral ports
# (32768-60999) the tool's trunk endpoints and sofia-sip take.
# SERVER_CPUS and TOOL_CPUS (taskset lists, e.g. 0 and 1) pin the servers
# and the tool; unset, everything shares every core.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
ns="wacsip$$"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
wac=${WAC_BIN:-}
if [ -z "$wac" ]; then
	wac="$tmp/wac"
	go build -o "$wac" ./cmd/wac
fi
pin() { if [ -n "${1:-}" ]; then echo taskset -c "$1"; fi; }

ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add wb0 type veth peer name wb1
ip -n "$ns" addr add 10.200.0.1/24 dev wb0
ip -n "$ns" link set wb0 up
ip -n "$ns" link set wb1 up
# (Not through a function for the servers: $! must be their own pids,
# which nsenter, env and taskset keep by exec'ing.)
in_ns() { nsenter --net="/var/run/netns/$ns" "$@"; }

lib=/usr/lib/x86_64-linux-gnu/janus
[ -d "$lib" ] || lib=/usr/lib/janus
mkdir -p "$tmp/janus" "$tmp/data"
cat >"$tmp/janus/janus.jcfg" <<EOF
general: {
	configs_folder = "$tmp/janus"
	plugins_folder = "$lib/plugins"
	transports_folder = "$lib/transports"
	events_folder = "$lib/events"
	loggers_folder = "$lib/loggers"
	debug_level = 3
	admin_secret = "not-used"
}
certificates: {
}
media: {
	rtp_port_range = "10000-18999"
}
nat: {
	nice_debug = false
	ice_enforce_list = "wb0"
	ignore_mdns = true
}
plugins: {
	disable = "libjanus_audiobridge.so,libjanus_duktape.so,libjanus_echotest.so,libjanus_lua.so,libjanus_nosip.so,libjanus_recordplay.so,libjanus_streaming.so,libjanus_textroom.so,libjanus_videocall.so,libjanus_videoroom.so,libjanus_voicemail.so"
}
transports: {
	disable = "libjanus_mqtt.so,libjanus_nanomsg.so,libjanus_pfunix.so,libjanus_rabbitmq.so,libjanus_http.so"
}
loggers: {
	disable = "libjanus_jsonlog.so"
}
events: {
	broadcast = false
}
EOF
cat >"$tmp/janus/janus.transport.websockets.jcfg" <<EOF
general: {
	json = "compact"
	ws = true
	ws_port = 8188
	ws_ip = "127.0.0.1"
	wss = false
}
admin: {
	admin_ws = false
	admin_wss = false
}
EOF
# The SIP plugin: SIP and RTP towards the trunk on loopback, no
# registration (the calls register as guests), no keep-alives.
cat >"$tmp/janus/janus.plugin.sip.jcfg" <<EOF
general: {
	local_ip = "127.0.0.1"
	local_media_ip = "127.0.0.1"
	keepalive_interval = 0
	behind_nat = false
	register_ttl = 3600
	rtp_port_range = "20000-29999"
	sip_timer_t1x64 = 32000
}
EOF

janus_flags=()
if [ -z "${ONLY_OURS:-}" ]; then
	# shellcheck disable=SC2046
	nsenter --net="/var/run/netns/$ns" $(pin "${SERVER_CPUS:-}") /usr/bin/janus -F "$tmp/janus" -C "$tmp/janus/janus.jcfg" -o >"$tmp/janus.log" 2>&1 &
	janus=$!
	pids+=("$janus")
	janus_flags=(--janus ws://127.0.0.1:8188 --janus-pid "$janus")
fi
# shellcheck disable=SC2046
nsenter --net="/var/run/netns/$ns" env WAC_ADMIN_PASSWORD=bench-password WAC_HTTP_DDOS_PROTECTION=false WAC_LOG_LEVEL=warn \
	WAC_TURN_ENABLED=false WAC_MEDIA_LISTEN_IP=127.0.0.1 WAC_MEDIA_UDP_PORT=19000 \
	WAC_MEDIA_MAX_PENDING_SESSIONS_PER_ADDRESS=1000 WAC_QSS_REQUEST_RATE=1000 \
	WAC_TRUNK_ADDRESS=127.0.0.1 WAC_TRUNK_PORT=5070 WAC_TRUNK_MAX_CALLS=2000 \
	$(pin "${SERVER_CPUS:-}") "$wac" serve --data "$tmp/data" --listen 127.0.0.1:8000 >"$tmp/wac.log" 2>&1 &
wacpid=$!
pids+=("$wacpid")
for port in 8000 ${janus_flags:+8188}; do
	for _ in $(seq 100); do
		if in_ns bash -c "echo >/dev/tcp/127.0.0.1/$port" 2>/dev/null; then break; fi
		sleep 0.2
	done
done
# shellcheck disable=SC2046
in_ns env WAC_BENCH_PASSWORD=bench-password $(pin "${TOOL_CPUS:-}") "$wac" bench sipcalls \
	--url http://127.0.0.1:8000 --trunk 127.0.0.1:5070 --pid "$wacpid" \
	"${janus_flags[@]}" "$@" || {
	echo "--- wac log"; tail -20 "$tmp/wac.log"; echo "--- janus log"; tail -20 "$tmp/janus.log" 2>/dev/null; exit 1
}
if [ -n "${SIPBENCH_LOGS:-}" ]; then
	echo "--- wac log"; tail -50 "$tmp/wac.log"; echo "--- janus log"; tail -80 "$tmp/janus.log" 2>/dev/null || true
fi
