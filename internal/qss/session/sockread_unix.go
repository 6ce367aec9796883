//go:build unix

package session

import (
	"errors"
	"net"
	"syscall"
)

// waitRead returns a read that waits for conn to become readable holding no
// buffer, then borrows one from the pool and reads into it. It returns the
// buffer and the bytes read, or no buffer at the end of the stream or on an
// error. It is nil when conn has no file descriptor to wait on.
func waitRead(conn net.Conn) func(*bufferPool) (*[]byte, int, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return func(bufs *bufferPool) (*[]byte, int, error) {
		var b *[]byte
		var n int
		var rerr error
		err := raw.Read(func(fd uintptr) bool {
			b = bufs.get()
			for {
				n, rerr = syscall.Read(int(fd), *b)
				if rerr != syscall.EINTR {
					break
				}
			}
			if n > 0 {
				return true
			}
			bufs.put(b)
			b = nil
			// Not readable yet: the runtime's poller waits (honouring the
			// read deadline and Close) and calls again.
			return !errors.Is(rerr, syscall.EAGAIN)
		})
		if err == nil {
			err = rerr
		}
		return b, n, err
	}
}
