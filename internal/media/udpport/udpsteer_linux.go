//go:build linux

package udpport

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Receiving on several sockets. The divert function (Diverter) does real
// work per datagram (the media node decrypts audio there), and on the
// poller's one socket it all falls on one goroutine: at 500 SIP calls on
// two cores that goroutine fell behind and the port's queue overflowed
// (docs/benchmarks.md). So the port has receivers, one per core: more
// sockets of its reuseport group, each read by a goroutine of its own
// that calls the divert function. While a divert function is set, the
// group's BPF program sends a receiver the datagrams the function is
// likely to take (Steer: RTP of the given payload types, spread by SSRC so
// that a stream always reaches the same receiver, in order) and the
// poller's socket everything else (STUN, DTLS, RTCP, video). A datagram a
// receiver's divert function does not take is handed over to the port's
// reads (the ICE mux): queued, and the reader woken by a poke, an empty
// datagram sent to the port from a socket of its own, which the read
// drops. Steering is only a guess about what will be taken; a wrong one
// costs the hand-over, never a datagram.

// maxReceivers bounds the receivers of a port (each may hold
// mediaSocketBuffer bytes of datagrams).
const maxReceivers = 16

// maxHanded bounds the datagrams waiting to be handed to the reads; past
// it a receiver drops what its divert function does not take.
const maxHanded = 4096

// receiver is one receiving socket of the port past the poller's.
type receiver struct {
	conn   *net.UDPConn
	raw    syscall.RawConn
	readFn func(fd uintptr) bool
	recvq  recvBatch
	first  [recvSlot]byte
	// datagrams counts what it received (tests).
	datagrams atomic.Uint64
}

// handed is a datagram a receiver hands to the port's reads.
type handed struct {
	b    []byte
	from netip.AddrPort
}

// addReceivers joins n receiving sockets to the port's reuseport group
// (after the sending socket: group indexes 2 to n+1) and the socket that
// pokes the reader. When it fails, the port receives on the poller's
// socket alone.
func (c *splitUDPConn) addReceivers(n int) error {
	local := c.LocalAddr().(*net.UDPAddr).AddrPort()
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); serr == nil {
				growSocketBuffers(int(fd))
			}
		}); err != nil {
			return err
		}
		return serr
	}}
	var rxs []*receiver
	fail := func(err error) error {
		for _, r := range rxs {
			r.conn.Close()
		}
		return err
	}
	for range n {
		pc, err := lc.ListenPacket(context.Background(), "udp4", local.String())
		if err != nil {
			return fail(fmt.Errorf("receiving socket: %w", err))
		}
		r := &receiver{conn: pc.(*net.UDPConn)}
		rxs = append(rxs, r)
		if r.raw, err = r.conn.SyscallConn(); err != nil {
			return fail(err)
		}
		r.recvq.vlen = recvBatchSize
		r.recvq.first = r.first[:]
		r.readFn = r.recvq.recvmmsg
	}
	// The poke socket sends to the port's address (loopback for a port
	// on every address).
	to := local.Addr()
	if to.IsUnspecified() {
		to = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return fail(fmt.Errorf("poke socket: %w", err))
	}
	if err := unix.Connect(fd, &unix.SockaddrInet4{Port: int(local.Port()), Addr: to.As4()}); err != nil {
		unix.Close(fd)
		return fail(fmt.Errorf("poke socket: connect %s: %w", local, err))
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return fail(fmt.Errorf("poke socket: %w", err))
	}
	sa4, ok := sa.(*unix.SockaddrInet4)
	if !ok {
		unix.Close(fd)
		return fail(fmt.Errorf("poke socket: bound to %v", sa))
	}
	c.pokeFD, c.pokeFrom = fd, netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), uint16(sa4.Port))
	c.rx = rxs
	for _, r := range rxs {
		c.rxWG.Add(1)
		go c.receive(r)
	}
	return nil
}

// receive reads a receiver's socket until it closes: what the divert
// function takes stays, the rest is handed to the port's reads.
func (c *splitUDPConn) receive(r *receiver) {
	defer c.rxWG.Done()
	q := &r.recvq
	for {
		if err := r.raw.Read(r.readFn); err != nil {
			return // closed
		}
		if q.err != 0 {
			continue // (an unconnected UDP socket reports no ICMP errors)
		}
		take := c.divert.Load()
		for i := range q.n {
			b, from := q.datagram(i)
			r.datagrams.Add(1)
			if take != nil && (*take)(b, from) {
				continue
			}
			c.handOver(b, from)
		}
	}
}

// handOver queues a copy of a datagram for the port's reads and, when the
// queue was empty, pokes the reader.
func (c *splitUDPConn) handOver(b []byte, from netip.AddrPort) {
	c.handMu.Lock()
	if len(c.hand) >= maxHanded {
		c.handMu.Unlock()
		return // the reads are that far behind: the network drops too
	}
	c.hand = append(c.hand, handed{b: append([]byte(nil), b...), from: from})
	first := len(c.hand) == 1
	c.handN.Store(int32(len(c.hand)))
	c.handMu.Unlock()
	if first {
		// A full send buffer drops the poke: the reader is then busy
		// with the port's datagrams, and looks at the queue before each.
		var one [1]byte
		unix.RawSyscall6(unix.SYS_SENDTO, uintptr(c.pokeFD), uintptr(unsafe.Pointer(&one[0])), 0,
			unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, 0, 0)
	}
}

// takeHanded gives the oldest datagram handed over, if any; readMu is
// held (the reads look at handN first, without the lock).
func (c *splitUDPConn) takeHanded(b []byte) (int, netip.AddrPort, bool) {
	c.handMu.Lock()
	defer c.handMu.Unlock()
	if len(c.hand) == 0 {
		return 0, netip.AddrPort{}, false
	}
	h := c.hand[0]
	c.hand[0] = handed{}
	c.hand = c.hand[1:]
	if len(c.hand) == 0 {
		c.hand = c.hand[:0:0] // let the drained array go
	}
	c.handN.Store(int32(len(c.hand)))
	return copy(b, h.b), h.from, true
}

// closeReceivers closes the receivers and the poke socket, and waits for
// the receivers' goroutines.
func (c *splitUDPConn) closeReceivers() {
	for _, r := range c.rx {
		r.conn.Close()
	}
	c.rxWG.Wait()
	if c.pokeFD >= 0 {
		unix.Close(c.pokeFD)
		c.pokeFD = -1
	}
}

// steer attaches the group's BPF program: s's datagrams to the receivers,
// the rest to the poller's socket; with no receivers or no payload types,
// everything to the poller's socket.
func (c *splitUDPConn) steer(s Steer) error {
	prog := steerProgram(s, len(c.rx))
	var serr error
	if err := c.raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF,
			&unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]})
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("attach the media port's steering program: %w", serr)
	}
	return nil
}

// steerProgram is the reuseport group's classic BPF program, which sees a
// datagram's payload and returns the index of the socket to receive it:
// 0 is the poller's socket, 1 the sending one (never), 2 and up the
// receivers. A load past the datagram's end returns 0.
func steerProgram(s Steer, receivers int) []unix.SockFilter {
	pts := s.PayloadTypes
	if receivers == 0 || len(pts) == 0 || len(pts) > 200 {
		return []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 0}}
	}
	const (
		ldb  = unix.BPF_LD | unix.BPF_B | unix.BPF_ABS
		ldw  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		and  = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K
		mod  = unix.BPF_ALU | unix.BPF_MOD | unix.BPF_K
		add  = unix.BPF_ALU | unix.BPF_ADD | unix.BPF_K
		jeq  = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		retK = unix.BPF_RET | unix.BPF_K
		retA = unix.BPF_RET | unix.BPF_A
	)
	// Layout, by instruction index (n types):
	//   0-2      version 2, else to the poller's return
	//   3-4      the payload type
	//   5..4+n   one test per type: a match jumps to 6+n
	//   5+n      no match: to the poller's return
	//   6+n      SSRC mod receivers, plus 2, returned (4)
	//   10+n     the poller's return: 0
	// A jump's offset counts from the instruction after it.
	var p []unix.SockFilter
	ins := func(code uint16, jt, jf uint8, k uint32) {
		p = append(p, unix.SockFilter{Code: code, Jt: jt, Jf: jf, K: k})
	}
	n := len(pts)
	poller := 10 + n
	ins(ldb, 0, 0, 0)
	ins(and, 0, 0, 0xc0)
	ins(jeq, 0, uint8(poller-3), 0x80)
	ins(ldb, 0, 0, 1)
	ins(and, 0, 0, 0x7f)
	for i, pt := range pts {
		ins(jeq, uint8(6+n-(6+i)), 0, uint32(pt&0x7f))
	}
	ins(unix.BPF_JMP|unix.BPF_JA, 0, 0, uint32(poller-(6+n)))
	ins(ldw, 0, 0, 8)
	ins(mod, 0, 0, uint32(receivers))
	ins(add, 0, 0, 2)
	ins(retA, 0, 0, 0)
	ins(retK, 0, 0, 0)
	return p
}
