//go:build linux

package udpport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Listen opens the node's media UDP port (the ICE UDP mux's
// socket).
//
// Go's network poller registers every socket for writability too (epoll,
// EPOLLOUT, edge-triggered), and the kernel signals writability each time
// the buffer of a sent datagram is released, which on loopback happens
// inside the sendto call and on a network card at transmit completion. On
// a port that sends thousands of packets a second nobody waits to write,
// so these events are wasted, and at light load each one wakes the thread
// idling in epoll_wait (most of the poller's wake-ups in a 4-party room
// benchmark were for them). So on Linux the port is two sockets bound to
// the same address with SO_REUSEPORT: the poller's, which receives every
// datagram (a reuseport BPF program always picks it), and one the poller
// does not know, which only sends (MSG_DONTWAIT: a full send buffer drops
// the packet, as it would on the network). Only processes of the same user
// can join a reuseport group, and the program steers nothing to them.
// When any of it is refused, the port is one ordinary socket. The group
// also has the receivers, a socket per core that a divert function's
// datagrams are steered to (udpsteer_linux.go).
//
// Both sockets are used with non-blocking recvmmsg and sendto (sendmmsg)
// made as raw system calls (the poller still does the waiting): calls
// that cannot block need not tell the scheduler, and a system call that
// does wakes the runtime's monitor thread each time the process comes
// back from idle, which at a few packets a millisecond is every packet.
//
// Every socket of the port gets buffers of mediaSocketBuffer bytes (see
// there); when the kernel grants less, the log says which limit to raise.
func Listen(addr string, log *slog.Logger) (net.PacketConn, error) {
	conn, err := listenSplitUDP(addr)
	if err == nil {
		checkSocketBuffers(conn.UDPConn, log)
		if conn.rxErr != nil {
			log.Info("media: UDP port receives on one socket (the kernel refused the receiving sockets)", "addr", addr, "err", conn.rxErr)
		}
		return conn, nil
	}
	plain, perr := net.ListenPacket("udp4", addr)
	if perr != nil {
		return nil, perr
	}
	log.Info("media: UDP port is one ordinary socket (the kernel refused the split send socket)", "addr", addr, "err", err)
	uc := plain.(*net.UDPConn)
	if raw, err := uc.SyscallConn(); err == nil {
		raw.Control(func(fd uintptr) { growSocketBuffers(int(fd)) })
	}
	checkSocketBuffers(uc, log)
	return plain, nil
}

// growSocketBuffers asks for mediaSocketBuffer bytes of receive and send
// buffer: past the administrator's limits (net.core.rmem_max, wmem_max)
// when the process may (CAP_NET_ADMIN), else up to them.
func growSocketBuffers(fd int) {
	for _, o := range [][2]int{{unix.SO_RCVBUFFORCE, unix.SO_RCVBUF}, {unix.SO_SNDBUFFORCE, unix.SO_SNDBUF}} {
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, o[0], mediaSocketBuffer) != nil {
			unix.SetsockoptInt(fd, unix.SOL_SOCKET, o[1], mediaSocketBuffer)
		}
	}
}

// checkSocketBuffers logs, once, when the receive buffer the kernel
// granted is smaller than asked: packets that arrive while the server is
// busy for a few milliseconds are then dropped by the kernel.
func checkSocketBuffers(c *net.UDPConn, log *slog.Logger) {
	raw, err := c.SyscallConn()
	if err != nil {
		return
	}
	var got int
	raw.Control(func(fd uintptr) { got, err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF) })
	// Linux reports twice what it grants (the other half is its own
	// bookkeeping).
	if err == nil && got/2 < mediaSocketBuffer {
		log.Info("media: the UDP port's receive buffer is smaller than asked; raise net.core.rmem_max (sysctl) for fewer drops in bursts",
			"gotKiB", got/2>>10, "wantKiB", mediaSocketBuffer>>10)
	}
}

// listenSplitUDP opens the port with a receiver per core, up to
// maxReceivers (udpsteer_linux.go).
func listenSplitUDP(addr string) (*splitUDPConn, error) {
	return listenPort(addr, min(runtime.GOMAXPROCS(0), maxReceivers))
}

// listenPort opens the port with the given number of receivers.
func listenPort(addr string, receivers int) (*splitUDPConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); serr != nil {
				return
			}
			growSocketBuffers(int(fd))
			// The program returns index 0 of the group: the first socket
			// bound, this one. It is attached before the sending socket
			// joins, so that no datagram ever reaches that one.
			filter := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 0}}
			serr = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF,
				&unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]})
		}); err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp4", addr)
	if err != nil {
		return nil, err
	}
	rc := pc.(*net.UDPConn)
	local := rc.LocalAddr().(*net.UDPAddr).AddrPort()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		rc.Close()
		return nil, fmt.Errorf("sending socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
		unix.Close(fd)
		rc.Close()
		return nil, fmt.Errorf("sending socket: SO_REUSEPORT: %w", err)
	}
	growSocketBuffers(fd)
	sa := &unix.SockaddrInet4{Port: int(local.Port()), Addr: local.Addr().Unmap().As4()}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		rc.Close()
		return nil, fmt.Errorf("sending socket: bind %s: %w", local, err)
	}
	raw, err := rc.SyscallConn()
	if err != nil {
		unix.Close(fd)
		rc.Close()
		return nil, err
	}
	c := &splitUDPConn{UDPConn: rc, raw: raw, send: fd, pokeFD: -1}
	c.recvq.vlen = recvBatchSize
	c.readFn = c.recvq.recvmmsg
	c.batches.New = func() any { return new(sendBatch) }
	if receivers > 0 {
		// Without them the port works as well, on one receiving socket.
		c.rxErr = c.addReceivers(receivers)
	}
	return c, nil
}

// splitUDPConn is the media port as two sockets (see Listen):
// reads, addresses and deadlines are the poller's socket's, writes go
// through the sending socket. It implements ice.AddrPortReaderWriter, the
// UDP mux's allocation-free path.
type splitUDPConn struct {
	*net.UDPConn
	raw syscall.RawConn // the poller's socket

	mu   sync.RWMutex // held for reading by writers, for writing by Close
	send int          // sending socket; -1 once closed
	// closed is set by Close under mu: writers read it holding mu, a read
	// of a held datagram without it.
	closed atomic.Bool

	// deadline is the read deadline in Unix nanoseconds (0 = none), which
	// a read of a held datagram checks as the poller checks it before it
	// reads the socket.
	deadline atomic.Int64

	// divert sees each datagram before a read returns it (Divert).
	divert atomic.Pointer[func([]byte, netip.AddrPort) bool]

	readMu sync.Mutex // one read at a time uses the fields below
	readFn func(fd uintptr) bool
	recvq  recvBatch // see udprecv_linux.go

	// The receivers and what they hand to the reads (udpsteer_linux.go).
	rx       []*receiver
	rxWG     sync.WaitGroup
	handMu   sync.Mutex
	hand     []handed
	handN    atomic.Int32   // len(hand), read without handMu
	pokeFD   int            // the socket that pokes the reader; -1: none
	pokeFrom netip.AddrPort // its address, whose datagrams reads drop
	rxErr    error          // why the port has no receivers (Listen logs it)

	batchMu sync.Mutex // guards corks and batch (see udpbatch_linux.go)
	corks   int
	batch   *sendBatch // datagrams held back while corked
	batches sync.Pool  // of *sendBatch
}

var errUnsupportedAddr = errors.New("not an IPv4 UDP address")

// WriteTo sends b to addr through the sending socket.
func (c *splitUDPConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, &net.OpError{Op: "write", Net: "udp", Source: c.LocalAddr(), Addr: addr, Err: errUnsupportedAddr}
	}
	return c.WriteToAddrPort(b, ua.AddrPort())
}

// WriteToUDPAddrPort is WriteToAddrPort, as *net.UDPConn names it.
func (c *splitUDPConn) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	return c.WriteToAddrPort(b, addr)
}

// WriteToAddrPort sends b to addr through the sending socket, without
// blocking.
func (c *splitUDPConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	ip := addr.Addr().Unmap()
	if !ip.Is4() {
		return 0, &net.OpError{Op: "write", Net: "udp", Source: c.LocalAddr(), Addr: net.UDPAddrFromAddrPort(addr), Err: errUnsupportedAddr}
	}
	rsa := unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: ip.As4()}
	p := (*[2]byte)(unsafe.Pointer(&rsa.Port)) // network byte order
	p[0], p[1] = byte(addr.Port()>>8), byte(addr.Port())
	if c.hold(b, &rsa) {
		return len(b), nil
	}
	var ptr unsafe.Pointer
	if len(b) > 0 {
		ptr = unsafe.Pointer(&b[0])
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed.Load() {
		return 0, &net.OpError{Op: "write", Net: "udp", Source: c.LocalAddr(), Addr: net.UDPAddrFromAddrPort(addr), Err: net.ErrClosed}
	}
	for {
		n, _, errno := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(c.send), uintptr(ptr), uintptr(len(b)),
			unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, uintptr(unsafe.Pointer(&rsa)), unix.SizeofSockaddrInet4)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return 0, &net.OpError{Op: "write", Net: "udp", Source: c.LocalAddr(), Addr: net.UDPAddrFromAddrPort(addr), Err: errno}
		}
		return int(n), nil
	}
}

// Divert implements Diverter.
func (c *splitUDPConn) Divert(take func(b []byte, from netip.AddrPort) bool, s Steer) error {
	if take == nil {
		c.divert.Store(nil)
		return c.steer(Steer{})
	}
	c.divert.Store(&take)
	return c.steer(s)
}

// ReadFromAddrPort reads a datagram: one a receiver handed over, else
// one of the poller's socket (a batch of them at a time:
// udprecv_linux.go), waiting in the poller when there is none. Datagrams
// the Divert function takes are not returned, nor pokes.
func (c *splitUDPConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	for {
		if c.handN.Load() != 0 {
			if err := c.deadlineOrClosed(); err != nil {
				return 0, netip.AddrPort{}, &net.OpError{Op: "read", Net: "udp", Source: c.LocalAddr(), Err: err}
			}
			if n, from, ok := c.takeHanded(b); ok {
				return n, from, nil
			}
		}
		n, from, err := c.readOne(b)
		if err != nil {
			return 0, netip.AddrPort{}, err
		}
		if from == c.pokeFrom {
			continue // (never valid without receivers)
		}
		if take := c.divert.Load(); take != nil && (*take)(b[:n], from) {
			continue
		}
		return n, from, nil
	}
}

// readOne reads one datagram, held or from the socket; readMu is held.
func (c *splitUDPConn) readOne(b []byte) (int, netip.AddrPort, error) {
	r := &c.recvq
	if r.next < r.n {
		if err := c.deadlineOrClosed(); err != nil {
			return 0, netip.AddrPort{}, &net.OpError{Op: "read", Net: "udp", Source: c.LocalAddr(), Err: err}
		}
	}
	if n, from, ok := r.pending(b); ok {
		return n, from, nil
	}
	r.first = b
	err := c.raw.Read(c.readFn)
	r.first = nil
	if err != nil {
		return 0, netip.AddrPort{}, &net.OpError{Op: "read", Net: "udp", Source: c.LocalAddr(), Err: err}
	}
	if r.err != 0 {
		return 0, netip.AddrPort{}, &net.OpError{Op: "read", Net: "udp", Source: c.LocalAddr(), Err: r.err}
	}
	return int(r.msgs[0].n), addrPortOf(&r.sas[0]), nil
}

// ReadFrom is ReadFromAddrPort for net.PacketConn.
func (c *splitUDPConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.ReadFromAddrPort(b)
	if err != nil {
		return 0, nil, err
	}
	return n, net.UDPAddrFromAddrPort(addr), nil
}

// ReadFromUDPAddrPort is ReadFromAddrPort, as *net.UDPConn names it.
func (c *splitUDPConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	return c.ReadFromAddrPort(b)
}

// deadlineOrClosed reports why a read must not hand out a held datagram:
// the port is closed or the read deadline has passed (net.UDPConn checks
// both before it looks at the socket's queue). The datagram stays held.
func (c *splitUDPConn) deadlineOrClosed() error {
	if c.closed.Load() {
		return net.ErrClosed
	}
	if d := c.deadline.Load(); d != 0 && time.Now().UnixNano() >= d {
		return os.ErrDeadlineExceeded
	}
	return nil
}

// SetReadDeadline sets the deadline of reads, those served from the last
// recvmmsg included.
func (c *splitUDPConn) SetReadDeadline(t time.Time) error {
	var d int64
	if !t.IsZero() {
		d = t.UnixNano()
	}
	c.deadline.Store(d)
	return c.UDPConn.SetReadDeadline(t)
}

// SetWriteDeadline is accepted and has no effect: writes never block.
func (c *splitUDPConn) SetWriteDeadline(time.Time) error { return nil }

// SetDeadline sets the read deadline (writes never block).
func (c *splitUDPConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

// Close closes the port's sockets, and waits for its receivers.
func (c *splitUDPConn) Close() error {
	c.mu.Lock()
	first := !c.closed.Load()
	if first {
		c.closed.Store(true)
		unix.Close(c.send)
		c.send = -1
	}
	c.mu.Unlock()
	err := c.UDPConn.Close()
	if first {
		c.closeReceivers()
	}
	return err
}
