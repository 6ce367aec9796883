//go:build unix

package qss

import (
	"errors"
	"net"
	"syscall"
)

// waitRead returns a read that waits for conn to become readable before it
// touches its buffer, or nil when conn has no file descriptor to wait on.
func waitRead(conn net.Conn) func([]byte) (int, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return func(p []byte) (int, error) {
		var n int
		var rerr error
		err := raw.Read(func(fd uintptr) bool {
			for {
				n, rerr = syscall.Read(int(fd), p)
				if rerr != syscall.EINTR {
					break
				}
			}
			// Not readable yet: the runtime's poller waits, honouring the
			// read deadline and Close, and calls again.
			return !errors.Is(rerr, syscall.EAGAIN)
		})
		if err != nil {
			return 0, err
		}
		if rerr != nil {
			return 0, rerr
		}
		if n < 0 {
			n = 0
		}
		return n, nil
	}
}
