//go:build !linux

package media

import (
	"log/slog"
	"net"
)

// listenMediaUDP opens the node's media UDP port (the ICE UDP mux's
// socket): one ordinary socket (on Linux, see udpsock_linux.go).
func listenMediaUDP(addr string, _ *slog.Logger) (net.PacketConn, error) {
	return net.ListenPacket("udp4", addr)
}
