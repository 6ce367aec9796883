//go:build !linux

package sip

import (
	"errors"
	"log/slog"
	"net/netip"
	"syscall"
)

// rtpPoller is Linux's (poller_linux.go); elsewhere each call reads its
// socket itself.
type rtpPoller struct{}

func newRTPPoller(*slog.Logger, Batcher) *rtpPoller { return nil }

func (p *rtpPoller) add(*rtpLeg) bool { return false }

func (p *rtpPoller) close() {}

// sendTo4 is Linux's; never called elsewhere (no leg has raw4).
func sendTo4(syscall.RawConn, []byte, netip.AddrPort) error {
	return errors.New("no raw send on this system")
}
