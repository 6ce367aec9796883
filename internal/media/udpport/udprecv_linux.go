//go:build linux

package udpport

import (
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Batched receiving. Every publisher's packets arrive at the one media
// port, where the ICE mux's reader takes them one ReadFrom at a time. A
// video frame is a burst of packets, and a busy server finds many waiting
// each time it reads; one recvmmsg takes up to recvBatchSize of them, and
// the next ReadFroms are served from the batch without a system call. On
// a virtual machine a system call's entry and exit cost about as much as
// the kernel's work for the datagram itself (see udpbatch_linux.go for
// the sending side).
//
// The first datagram of a batch is received straight into the caller's
// buffer; the others wait in slots of recvSlot bytes and are copied out
// by the ReadFroms that follow. The ICE mux reads into recvSlot bytes
// too (pion/ice's receiveMTU): a longer datagram is cut there as before.
// Held datagrams are read as if they still waited in the socket: a read
// past the deadline times out, one after Close fails, and they stay held.

const (
	recvBatchSize = 16   // datagrams per recvmmsg at most
	recvSlot      = 8192 // room for one datagram held in a batch
)

// recvBatch holds what one recvmmsg returned until it is read. Only the
// reader holding splitUDPConn.readMu uses it.
type recvBatch struct {
	vlen  int // datagrams asked per recvmmsg: recvBatchSize (1 = no batching)
	n     int // datagrams the last recvmmsg returned
	next  int // the next of them to hand out; msgs[0] went to the caller
	calls uint64
	first []byte // the caller's buffer, iov[0] of the next recvmmsg
	slots [recvBatchSize - 1][recvSlot]byte
	sas   [recvBatchSize]unix.RawSockaddrInet4
	iov   [recvBatchSize]unix.Iovec
	msgs  [recvBatchSize]mmsghdr
	err   unix.Errno
}

// pending hands out the next datagram held from the last recvmmsg, if
// there is one.
func (r *recvBatch) pending(b []byte) (int, netip.AddrPort, bool) {
	if r.next >= r.n {
		return 0, netip.AddrPort{}, false
	}
	i := r.next
	r.next++
	n := copy(b, r.slots[i-1][:r.msgs[i].n])
	return n, addrPortOf(&r.sas[i]), true
}

// datagram is the i-th datagram of the last recvmmsg, in place (a
// receiver's batch, whose first datagram is in its own buffer).
func (r *recvBatch) datagram(i int) ([]byte, netip.AddrPort) {
	if i == 0 {
		return r.first[:r.msgs[0].n], addrPortOf(&r.sas[0])
	}
	return r.slots[i-1][:r.msgs[i].n], addrPortOf(&r.sas[i])
}

// recvmmsg is one non-blocking recvmmsg on the poller's socket, the first
// datagram into r.first; false (nothing waiting) makes the poller wait
// until the socket is readable.
func (r *recvBatch) recvmmsg(fd uintptr) bool {
	for i := 0; i < r.vlen; i++ {
		if i == 0 {
			r.iov[0].Base = nil
			if len(r.first) > 0 {
				r.iov[0].Base = &r.first[0]
			}
			r.iov[0].SetLen(len(r.first))
		} else {
			r.iov[i].Base = &r.slots[i-1][0]
			r.iov[i].SetLen(recvSlot)
		}
		r.msgs[i].point(&r.iov[i], &r.sas[i])
	}
	for {
		r.calls++
		n, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.msgs[0])), uintptr(r.vlen),
			unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		case 0:
			if n == 0 {
				return false
			}
			r.n, r.next, r.err = int(n), 1, 0
		default:
			r.n, r.next, r.err = 0, 0, errno
		}
		return true
	}
}

// addrPortOf reads a datagram's source.
func addrPortOf(sa *unix.RawSockaddrInet4) netip.AddrPort {
	p := (*[2]byte)(unsafe.Pointer(&sa.Port)) // network byte order
	return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(p[0])<<8|uint16(p[1]))
}
