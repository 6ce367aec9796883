//go:build !linux

package udpport

import (
	"log/slog"
	"net"
)

// Listen opens the node's media UDP port (the ICE UDP mux's
// socket): one ordinary socket (on Linux, see udpsock_linux.go).
func Listen(addr string, log *slog.Logger) (net.PacketConn, error) {
	pc, err := net.ListenPacket("udp4", addr)
	if err != nil {
		return nil, err
	}
	uc := pc.(*net.UDPConn)
	if uc.SetReadBuffer(mediaSocketBuffer) != nil || uc.SetWriteBuffer(mediaSocketBuffer) != nil {
		log.Info("media: the UDP port's buffers could not be enlarged", "wantKiB", mediaSocketBuffer>>10)
	}
	return pc, nil
}
