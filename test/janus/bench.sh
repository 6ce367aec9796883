#!/usr/bin/env bash
# Runs bench.mjs (our server and Janus under the same load) inside a
# network namespace of its own: Janus gathers no ICE candidate on the
# loopback interface, so it gets one end of a veth pair (10.200.0.1) that
# exists only in the namespace. Needs root, iproute2, util-linux
# (nsenter), node, go, janus.
#
#   sudo test/janus/bench.sh            (from the repository root)
set -euo pipefail
cd "$(dirname "$0")"
ns="wacbench$$"
ip netns add "$ns"
trap 'ip netns del "$ns"' EXIT
ip -n "$ns" link set lo up
ip -n "$ns" link add wb0 type veth peer name wb1
ip -n "$ns" addr add 10.200.0.1/24 dev wb0
ip -n "$ns" link set wb0 up
ip -n "$ns" link set wb1 up
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
# nsenter, not ip netns exec: that one mounts a sysfs of the namespace's
# own, without the cgroup file systems SERVER_QUOTA writes to.
nsenter --net="/var/run/netns/$ns" env JANUS_ICE_IFACE=wb0 node bench.mjs
