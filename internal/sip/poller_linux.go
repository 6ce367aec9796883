//go:build linux

package sip

import (
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rtpPoller reads the trunk side of calls (Server has one per core, the
// calls dealt out in turn). With a goroutine per call's socket, each
// packet from the trunk wakes its goroutine through Go's poller and costs
// two reads (the second finds the socket empty), and the packet it
// forwards to the app leaves in a system call of its own. Here the calls'
// sockets are in an epoll set of the poller's (level-triggered), which
// Go's poller watches as one file: a round takes what is ready, up to
// pollerDrain datagrams per socket (the rest is ready again in the next
// round), with the media port corked around it, so that the round's
// packets to the apps leave in one sendmmsg.
//
// The sockets stay Go's (the sends to the trunk use them): the poller
// reads one through its RawConn, which holds it open meanwhile, so a call
// that ends (its socket closed, and so out of the epoll set) during a
// round is skipped. The epoll set names each socket by its leg's number,
// not its descriptor, which a new socket may reuse.
type rtpPoller struct {
	log    *slog.Logger
	cork   Batcher
	epfd   int
	file   *os.File // epfd, as Go's poller watches it
	raw    syscall.RawConn
	done   chan struct{}
	mu     sync.Mutex // guards legs, next and closed, and epfd's use outside loop
	legs   map[uint32]*rtpLeg
	next   uint32
	closed bool
	evs    [256]unix.EpollEvent
	buf    [maxRTP]byte
	ready  []*rtpLeg
	// recv reads one datagram of a socket into buf, size and from
	// (size -1: none); made once, as a closure per read would be an
	// allocation per packet.
	recv func(fd uintptr) bool
	size int
	from netip.AddrPort
}

// pollerDrain bounds the datagrams a round takes from one socket.
const pollerDrain = 8

// newRTPPoller starts the poller; nil when the system refuses it (the
// calls then read their sockets themselves).
func newRTPPoller(log *slog.Logger, cork Batcher) *rtpPoller {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		log.Info("sip: RTP read per call (epoll refused)", "err", err)
		return nil
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		log.Info("sip: RTP read per call (epoll refused)", "err", err)
		return nil
	}
	file := os.NewFile(uintptr(epfd), "sip-rtp-epoll")
	raw, err := file.SyscallConn()
	if err != nil {
		file.Close()
		log.Info("sip: RTP read per call (epoll refused)", "err", err)
		return nil
	}
	p := &rtpPoller{log: log, cork: cork, epfd: epfd, file: file, raw: raw, done: make(chan struct{}), legs: map[uint32]*rtpLeg{}}
	p.recv = func(fd uintptr) bool {
		p.size, p.from = recvFrom(int(fd), p.buf[:])
		return true
	}
	go p.loop()
	return p
}

// add starts reading l's socket; false when it cannot (l reads itself).
func (p *rtpPoller) add(l *rtpLeg) bool {
	lraw, err := l.conn.SyscallConn()
	if err != nil {
		return false
	}
	l.raw = lraw // before the poller can see l (p.mu)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return false
	}
	p.next++
	id := p.next
	p.legs[id] = l
	var cerr error
	err = lraw.Control(func(fd uintptr) {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(id)}
		cerr = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if err == nil {
		err = cerr
	}
	if err != nil {
		delete(p.legs, id)
		p.mu.Unlock()
		return false
	}
	p.mu.Unlock()
	detach := func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if !p.closed {
			lraw.Control(func(fd uintptr) { unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil) })
		}
		delete(p.legs, id)
	}
	l.mu.Lock()
	l.detach = detach
	l.mu.Unlock()
	var sa unix.Sockaddr
	lraw.Control(func(fd uintptr) { sa, _ = unix.Getsockname(int(fd)) })
	if _, ok := sa.(*unix.SockaddrInet4); ok {
		l.raw4.Store(&lraw)
	}
	select {
	case <-l.done: // closed meanwhile, before it could detach
		detach()
	default:
	}
	return true
}

// close stops the poller (the legs are closed by their calls).
func (p *rtpPoller) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.file.Close()
	<-p.done
}

// loop runs rounds until the poller closes.
func (p *rtpPoller) loop() {
	defer close(p.done)
	round := p.round
	for {
		if err := p.raw.Read(round); err != nil {
			return
		}
	}
}

// round takes what the ready sockets have, one datagram each; false when
// none is ready (Go's poller then waits for the epoll set to be).
func (p *rtpPoller) round(uintptr) bool {
	n, err := unix.EpollWait(p.epfd, p.evs[:], 0)
	if err == unix.EINTR {
		return true
	}
	if err != nil {
		p.log.Error("sip: RTP poller", "err", err)
		return true
	}
	if n <= 0 {
		return false
	}
	p.ready = p.ready[:0]
	p.mu.Lock()
	for _, ev := range p.evs[:n] {
		if l := p.legs[uint32(ev.Fd)]; l != nil {
			p.ready = append(p.ready, l)
		}
	}
	p.mu.Unlock()
	if p.cork != nil {
		p.cork.Cork()
	}
	for _, l := range p.ready {
		// Up to pollerDrain datagrams of a socket per round: the rest is
		// ready again in the next one.
		for range pollerDrain {
			// Read returns an error once the socket is closed.
			if l.raw.Read(p.recv) != nil || p.size < 0 {
				break
			}
			l.handle(p.buf[:p.size], p.from)
		}
	}
	if p.cork != nil {
		p.cork.Uncork()
	}
	clear(p.ready)
	return true
}

// recvFrom reads one datagram without waiting (and without the
// scheduler's system call bookkeeping, as it cannot block); -1 when there
// is none.
func recvFrom(fd int, b []byte) (int, netip.AddrPort) {
	var rsa unix.RawSockaddrAny
	salen := uint32(unix.SizeofSockaddrAny)
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	for {
		n, _, errno := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(p), uintptr(len(b)),
			unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&salen)))
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return -1, netip.AddrPort{}
		}
		return int(n), addrOf(&rsa)
	}
}

// addrOf reads a datagram's source (IPv4-mapped IPv6 addresses unmapped).
func addrOf(rsa *unix.RawSockaddrAny) netip.AddrPort {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(p[0])<<8|uint16(p[1]))
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(p[0])<<8|uint16(p[1]))
	}
	return netip.AddrPort{}
}

// sendTo4 sends b to an IPv4 address through an IPv4 socket without
// blocking (a full send buffer drops it, as the network would) and
// without the scheduler's system call bookkeeping.
func sendTo4(raw syscall.RawConn, b []byte, to netip.AddrPort) error {
	rsa := unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: to.Addr().As4()}
	port := (*[2]byte)(unsafe.Pointer(&rsa.Port)) // network byte order
	port[0], port[1] = byte(to.Port()>>8), byte(to.Port())
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	var errno unix.Errno
	err := raw.Write(func(fd uintptr) bool {
		for {
			_, _, errno = unix.RawSyscall6(unix.SYS_SENDTO, fd, uintptr(p), uintptr(len(b)),
				unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, uintptr(unsafe.Pointer(&rsa)), unix.SizeofSockaddrInet4)
			if errno != unix.EINTR {
				return true
			}
		}
	})
	if err != nil {
		return err
	}
	if errno != 0 && errno != unix.EAGAIN {
		return errno
	}
	return nil
}
