//go:build linux

package udpport

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Batched sending. A packet a publisher sends is forwarded to each of its
// subscribers, one datagram each, all from the forwarder's goroutine and in
// a burst. The forwarder corks the media port around that burst: what is
// written meanwhile (by it or by any goroutine) is copied into a batch and
// leaves with one sendmmsg when the last cork is removed or the batch is
// full. On a virtual machine a system call's entry and exit cost about as
// much as a small datagram's trip through the kernel: three datagrams
// cost 3.5-5.0 us each with sendto and 2.2-2.7 us each with one sendmmsg
// (BenchmarkMediaPortSend, docs/benchmarks.md).

const (
	batchSize = 32   // datagrams per sendmmsg at most
	batchSlot = 2048 // the largest datagram a batch copies; larger ones go alone
)

// mmsghdr is struct mmsghdr of sendmmsg(2).
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// point aims the message at one buffer and one IPv4 address: the peer to
// send to, or the place the kernel writes the sender.
func (m *mmsghdr) point(iov *unix.Iovec, sa *unix.RawSockaddrInet4) {
	h := &m.hdr
	h.Name = (*byte)(unsafe.Pointer(sa))
	h.Namelen = unix.SizeofSockaddrInet4
	h.Iov = iov
	h.SetIovlen(1)
	h.Flags = 0
}

// sendBatch holds copies of corked datagrams until they are sent.
type sendBatch struct {
	n    int
	data [batchSize][batchSlot]byte
	sas  [batchSize]unix.RawSockaddrInet4
	iov  [batchSize]unix.Iovec
	msgs [batchSize]mmsghdr
}

func (b *sendBatch) add(p []byte, sa *unix.RawSockaddrInet4) {
	i := b.n
	n := copy(b.data[i][:], p)
	b.sas[i] = *sa
	b.iov[i].Base = &b.data[i][0]
	b.iov[i].SetLen(n)
	b.msgs[i].point(&b.iov[i], &b.sas[i])
	b.n++
}

// Cork holds back the datagrams written from now until the matching
// Uncork, to send them together. Corks nest and may overlap between
// goroutines: the batch leaves when none is left, or when it is full.
func (c *splitUDPConn) Cork() {
	c.batchMu.Lock()
	c.corks++
	c.batchMu.Unlock()
}

// Uncork ends a cork; the last one sends what was held back.
func (c *splitUDPConn) Uncork() {
	c.batchMu.Lock()
	c.corks--
	var b *sendBatch
	if c.corks == 0 && c.batch != nil {
		b, c.batch = c.batch, nil
	}
	c.batchMu.Unlock()
	if b != nil {
		c.sendBatch(b)
	}
}

// hold copies a datagram into the batch when the port is corked, and
// reports whether it did. A batch that fills up is sent at once.
func (c *splitUDPConn) hold(p []byte, sa *unix.RawSockaddrInet4) bool {
	if len(p) > batchSlot || len(p) == 0 {
		return false
	}
	c.batchMu.Lock()
	if c.corks == 0 {
		c.batchMu.Unlock()
		return false
	}
	if c.batch == nil {
		c.batch = c.batches.Get().(*sendBatch)
	}
	c.batch.add(p, sa)
	var full *sendBatch
	if c.batch.n == batchSize {
		full, c.batch = c.batch, nil
	}
	c.batchMu.Unlock()
	if full != nil {
		c.sendBatch(full)
	}
	return true
}

// sendBatch sends b with sendmmsg, without blocking, and recycles it. A
// datagram the kernel refuses (a full send buffer) is dropped, as sendto
// would have dropped it.
func (c *splitUDPConn) sendBatch(b *sendBatch) {
	defer func() {
		b.n = 0
		c.batches.Put(b)
	}()
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed.Load() {
		return
	}
	for i := 0; i < b.n; {
		n, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(c.send), uintptr(unsafe.Pointer(&b.msgs[i])),
			uintptr(b.n-i), unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, 0, 0)
		switch {
		case errno == unix.EINTR:
		case errno != 0:
			i++ // this one failed: drop it, send the rest
		default:
			i += int(n)
		}
	}
}
