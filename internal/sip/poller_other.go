//go:build !linux

package sip

import "log/slog"

// rtpPoller is Linux's (poller_linux.go); elsewhere each call reads its
// socket itself.
type rtpPoller struct{}

func newRTPPoller(*slog.Logger, Batcher) *rtpPoller { return nil }

func (p *rtpPoller) add(*rtpLeg) bool { return false }

func (p *rtpPoller) close() {}
