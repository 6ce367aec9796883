//go:build linux

package udpport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// The media port's two sockets behave as one: every datagram sent to it
// is read from it with its source (none is lost to the sending socket),
// what it sends leaves from its address, a read gives up at its deadline,
// Close ends a waiting read, and writes then fail with net.ErrClosed.
func TestSplitUDPConn(t *testing.T) {
	conn, err := listenSplitUDP("127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer conn.Close()
	var clients []*net.UDPConn
	for i := 0; i < 8; i++ { // several source ports: a reuseport group hashes on them
		c, err := net.DialUDP("udp4", nil, conn.LocalAddr().(*net.UDPAddr))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	const per = 50
	buf := make([]byte, 1500)
	for i, c := range clients {
		for j := 0; j < per; j++ {
			if _, err := c.Write([]byte(fmt.Sprint(j))); err != nil {
				t.Fatal(err)
			}
		}
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		for got := 0; got < per; got++ {
			n, from, err := conn.ReadFromAddrPort(buf)
			if err != nil {
				t.Fatalf("client %d: read %d of %d: %v", i, got+1, per, err)
			}
			if from != c.LocalAddr().(*net.UDPAddr).AddrPort() || string(buf[:n]) != fmt.Sprint(got) {
				t.Fatalf("client %d: read %q from %s, want %q from %s", i, buf[:n], from, fmt.Sprint(got), c.LocalAddr())
			}
		}
	}

	for _, c := range clients {
		if _, err := conn.WriteTo([]byte("pong"), c.LocalAddr()); err != nil {
			t.Fatalf("write: %v", err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil || string(buf[:n]) != "pong" {
			t.Fatalf("client read: %q, %v", buf[:n], err)
		}
		if from != conn.LocalAddr().(*net.UDPAddr).AddrPort() {
			t.Fatalf("reply from %s, want the port's address %s", from, conn.LocalAddr())
		}
	}

	if _, err := conn.WriteTo([]byte("x"), &net.IPAddr{IP: net.IPv4(127, 0, 0, 1)}); err == nil {
		t.Fatal("write to a non-UDP address succeeded")
	}
	conn.SetReadDeadline(time.Now().Add(-time.Second))
	if _, _, err := conn.ReadFromAddrPort(buf); !os.IsTimeout(err) {
		t.Fatalf("read past the deadline: %v, want a timeout", err)
	}
	conn.SetReadDeadline(time.Time{})
	done := make(chan error, 1)
	go func() {
		_, _, err := conn.ReadFromAddrPort(buf)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	conn.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read during close: %v, want net.ErrClosed", err)
	}
	if _, err := conn.WriteTo([]byte("x"), clients[0].LocalAddr()); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after close: %v, want net.ErrClosed", err)
	}
}

// The port's two sockets keep it from other binds: a second node on the
// same port fails to start instead of joining the group unheard (the
// kernel never lets a socket that carries its own reuseport program, as
// the first one does from before its bind, join an existing group).
func TestSplitUDPConnPortIsExclusive(t *testing.T) {
	conn, err := listenSplitUDP("127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer conn.Close()
	addr := conn.LocalAddr().String()
	if c, err := Listen(addr, slog.New(slog.DiscardHandler)); err == nil {
		c.Close()
		t.Fatalf("a second media port on %s opened", addr)
	}
	if c, err := net.ListenPacket("udp4", addr); err == nil {
		c.Close()
		t.Fatalf("a plain socket bound %s too", addr)
	}
}

// The media port keeps a burst that arrives while nobody reads: 1,500
// full-size datagrams (about 300 ms of 16 four-party rooms), where the
// kernel's default buffer holds under 200.
func TestMediaPortHoldsABurst(t *testing.T) {
	pc, err := Listen("127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	got, want := socketBuffer(t, pc.(*splitUDPConn).UDPConn), grantedBuffer(t)
	if got < want {
		t.Fatalf("receive buffer %d bytes, want at least %d", got, want)
	}
	if want < mediaSocketBuffer {
		t.Skipf("the kernel grants %d bytes (net.core.rmem_max) and this is not root: too little to hold the burst", want)
	}
	c, err := net.DialUDP("udp4", nil, pc.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetWriteBuffer(mediaSocketBuffer); err != nil {
		t.Fatal(err)
	}
	const burst = 1500
	pkt := make([]byte, 1200)
	for i := 0; i < burst; i++ {
		if _, err := c.Write(pkt); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	buf := make([]byte, 1500)
	for i := 0; i < burst; i++ {
		pc.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, _, err := pc.ReadFrom(buf); err != nil {
			t.Fatalf("kept %d of a burst of %d: %v", i, burst, err)
		}
	}
}

// socketBuffer is the receive buffer the kernel granted c (it reports
// twice that).
func socketBuffer(t *testing.T, c *net.UDPConn) int {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var serr error
	if err := raw.Control(func(fd uintptr) { n, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF) }); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	return n / 2
}

// grantedBuffer is what growSocketBuffers can get here: all it asks as
// root, else up to net.core.rmem_max.
func grantedBuffer(t *testing.T) int {
	if os.Geteuid() == 0 {
		return mediaSocketBuffer
	}
	b, err := os.ReadFile("/proc/sys/net/core/rmem_max")
	if err != nil {
		t.Skip("no net.core.rmem_max to compare with")
	}
	var max int
	fmt.Sscan(string(b), &max)
	return min(max, mediaSocketBuffer)
}

// Corked writes wait for the last uncork and then all arrive, from the
// port's address, in the order written; corks nest; a batch that fills up
// leaves at once; a datagram too large for a batch slot is not held.
func TestSplitUDPConnCorkedWrites(t *testing.T) {
	conn, peers := portAndPeers(t, 3)
	buf := make([]byte, 4096)
	expect := func(p *net.UDPConn, want string) {
		t.Helper()
		p.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := p.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("want %q: %v", want, err)
		}
		if string(buf[:n]) != want || from != conn.LocalAddr().(*net.UDPAddr).AddrPort() {
			t.Fatalf("got %q from %s, want %q from %s", buf[:n], from, want, conn.LocalAddr())
		}
	}
	nothing := func(p *net.UDPConn, why string) {
		t.Helper()
		p.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if n, _, err := p.ReadFromUDPAddrPort(buf); err == nil {
			t.Fatalf("%s: %q arrived", why, buf[:n])
		}
	}

	conn.Cork()
	conn.Cork()
	for i, p := range peers {
		if n, err := conn.WriteTo([]byte(fmt.Sprint("a", i)), p.LocalAddr()); err != nil || n != 2 {
			t.Fatalf("corked write: %d, %v", n, err)
		}
	}
	conn.Uncork()
	nothing(peers[0], "one cork of two left")
	conn.Uncork()
	for i, p := range peers {
		expect(p, fmt.Sprint("a", i))
	}

	conn.Cork()
	big := make([]byte, batchSlot+1)
	if _, err := conn.WriteTo(big, peers[0].LocalAddr()); err != nil {
		t.Fatal(err)
	}
	peers[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _, err := peers[0].ReadFromUDPAddrPort(buf); err != nil || n != len(big) {
		t.Fatalf("a datagram larger than a slot while corked: %d, %v", n, err)
	}
	for i := 0; i < batchSize+3; i++ {
		if _, err := conn.WriteTo([]byte(fmt.Sprint(i)), peers[1].LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < batchSize; i++ {
		expect(peers[1], fmt.Sprint(i)) // the full batch left while corked
	}
	nothing(peers[1], "the rest, before uncork")
	conn.Uncork()
	for i := batchSize; i < batchSize+3; i++ {
		expect(peers[1], fmt.Sprint(i))
	}
}

// Goroutines corking, writing and uncorking at once lose nothing.
func TestSplitUDPConnCorksFromManyGoroutines(t *testing.T) {
	conn, err := listenSplitUDP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	if err := sink.SetReadBuffer(mediaSocketBuffer); err != nil {
		t.Fatal(err)
	}
	const writers, bursts, per = 8, 50, 3
	got := make(chan int)
	go func() {
		n := 0
		b := make([]byte, 64)
		for n < writers*bursts*per {
			sink.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, _, err := sink.ReadFrom(b); err != nil {
				break
			}
			n++
		}
		got <- n
	}()
	done := make(chan struct{})
	for w := 0; w < writers; w++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < bursts; i++ {
				conn.Cork()
				for j := 0; j < per; j++ {
					if _, err := conn.WriteTo([]byte("x"), sink.LocalAddr()); err != nil {
						t.Error(err)
					}
				}
				conn.Uncork()
			}
		}()
	}
	for w := 0; w < writers; w++ {
		<-done
	}
	if n := <-got; n != writers*bursts*per {
		t.Fatalf("received %d datagrams, want %d", n, writers*bursts*per)
	}
}

// BenchmarkMediaPortSend sends one packet's three copies (a subscriber
// each, as in a room of 4) one sendto each, or corked into one sendmmsg.
// ns/op is per datagram.
func BenchmarkMediaPortSend(b *testing.B) {
	for _, corked := range []bool{false, true} {
		name := "sendto"
		if corked {
			name = "sendmmsg"
		}
		b.Run(name, func(b *testing.B) {
			conn, peers := portAndPeers(b, 3)
			addrs := make([]netip.AddrPort, len(peers))
			for i, p := range peers {
				addrs[i] = p.LocalAddr().(*net.UDPAddr).AddrPort()
			}
			pkt := make([]byte, 1100)
			rb := make([]byte, 1500)
			drain := func() {
				for _, p := range peers {
					p.SetReadDeadline(time.Now().Add(time.Millisecond))
					for {
						if _, _, err := p.ReadFrom(rb); err != nil {
							break
						}
					}
				}
			}
			b.SetBytes(int64(len(pkt)))
			b.ResetTimer()
			for i := 0; i < b.N; i += len(addrs) {
				if i%3000 == 0 {
					b.StopTimer()
					drain()
					b.StartTimer()
				}
				if corked {
					conn.Cork()
				}
				for _, a := range addrs {
					if _, err := conn.WriteToAddrPort(pkt, a); err != nil {
						b.Fatal(err)
					}
				}
				if corked {
					conn.Uncork()
				}
			}
		})
	}
}

// portAndPeers opens a media port and n loopback sockets with large
// receive buffers, all closed when the test ends.
func portAndPeers(tb testing.TB, n int) (*splitUDPConn, []*net.UDPConn) {
	tb.Helper()
	conn, err := listenSplitUDP("127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	var peers []*net.UDPConn
	for i := 0; i < n; i++ {
		p, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { p.Close() })
		if err := p.SetReadBuffer(mediaSocketBuffer); err != nil {
			tb.Fatal(err)
		}
		peers = append(peers, p)
	}
	return conn, peers
}

// A burst waiting at the port is read with few recvmmsg calls, every
// datagram whole (up to the slot's size), in order, with its source; a
// small read buffer gets the datagram's start, as with recvfrom.
func TestSplitUDPConnBatchedReads(t *testing.T) {
	conn, peers := portAndPeers(t, 2)
	to := conn.LocalAddr().(*net.UDPAddr)
	const count = 40
	sizes := make([]int, count)
	for i := range sizes {
		sizes[i] = 1 + i*97%1300
	}
	sizes[7], sizes[20], sizes[33] = recvSlot, 0, 1
	want := make([][]byte, count)
	for i, n := range sizes {
		want[i] = make([]byte, n)
		for j := range want[i] {
			want[i][j] = byte(i + j)
		}
		if _, err := peers[i%2].WriteTo(want[i], to); err != nil {
			t.Fatal(err)
		}
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	calls := conn.recvq.calls
	buf := make([]byte, recvSlot)
	for i := range want {
		n, from, err := conn.ReadFromAddrPort(buf)
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if !bytes.Equal(buf[:n], want[i]) {
			t.Fatalf("datagram %d: got %d bytes, want %d (or other bytes)", i, n, len(want[i]))
		}
		if src := peers[i%2].LocalAddr().(*net.UDPAddr).AddrPort(); from != src {
			t.Fatalf("datagram %d from %s, want %s", i, from, src)
		}
	}
	// The burst may trickle in while it is read, but most of it waits.
	if got := conn.recvq.calls - calls; got > count/2 {
		t.Fatalf("%d datagrams took %d recvmmsg calls", count, got)
	}

	// A short buffer, for the first datagram of a batch and for one held
	// in it.
	for i := 0; i < 2; i++ {
		if _, err := peers[0].WriteTo([]byte("0123456789"), to); err != nil {
			t.Fatal(err)
		}
	}
	small := make([]byte, 4)
	for i := 0; i < 2; i++ {
		n, _, err := conn.ReadFromAddrPort(small)
		if err != nil || string(small[:n]) != "0123" {
			t.Fatalf("short read %d: %q, %v", i, small[:n], err)
		}
	}
	conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, _, err := conn.ReadFromAddrPort(buf); !os.IsTimeout(err) {
		t.Fatalf("read with nothing left: %v, want a timeout", err)
	}
}

// A datagram held from the last recvmmsg is read as if it still waited
// in the socket: not past the read deadline, nor after Close.
func TestSplitUDPConnHeldDatagramsKeepDeadlineAndClose(t *testing.T) {
	conn, peers := portAndPeers(t, 1)
	for _, m := range []string{"a", "b", "c"} {
		if _, err := peers[0].WriteTo([]byte(m), conn.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(20 * time.Millisecond) // all three wait in the socket
	buf := make([]byte, 100)
	read := func() (string, error) {
		n, _, err := conn.ReadFromAddrPort(buf)
		return string(buf[:n]), err
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := read(); got != "a" || err != nil {
		t.Fatalf("first read: %q, %v", got, err)
	}
	if held := conn.recvq.n - conn.recvq.next; held != 2 {
		t.Fatalf("%d datagrams held after the first read, want 2 (one recvmmsg)", held)
	}
	conn.SetReadDeadline(time.Now().Add(-time.Second))
	if got, err := read(); !os.IsTimeout(err) {
		t.Fatalf("read past the deadline: %q, %v; want a timeout", got, err)
	}
	conn.SetDeadline(time.Time{})
	if got, err := read(); got != "b" || err != nil {
		t.Fatalf("read after the deadline was lifted: %q, %v; want \"b\"", got, err)
	}
	conn.Close()
	if got, err := read(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after Close: %q, %v; want net.ErrClosed", got, err)
	}
}

// BenchmarkMediaPortReceive reads bursts of datagrams (a video frame is
// a few packets) one recvfrom-like call each (batch=1) or with recvmmsg.
// ns/op is per datagram.
func BenchmarkMediaPortReceive(b *testing.B) {
	for _, burst := range []int{4, 16} {
		for _, vlen := range []int{1, recvBatchSize} {
			b.Run(fmt.Sprintf("burst=%d/batch=%d", burst, vlen), func(b *testing.B) {
				conn, peers := portAndPeers(b, 1)
				conn.recvq.vlen = vlen
				to := conn.LocalAddr().(*net.UDPAddr)
				pkt := make([]byte, 1100)
				buf := make([]byte, recvSlot)
				b.SetBytes(int64(len(pkt)))
				b.ResetTimer()
				for i := 0; i < b.N; i += burst {
					b.StopTimer()
					for j := 0; j < burst; j++ {
						if _, err := peers[0].WriteTo(pkt, to); err != nil {
							b.Fatal(err)
						}
					}
					b.StartTimer()
					for j := 0; j < burst; j++ {
						if _, _, err := conn.ReadFromAddrPort(buf); err != nil {
							b.Fatal(err)
						}
					}
				}
			})
		}
	}
}

// The divert function sees every datagram, held in a batch or not, with
// its source; what it takes is not read, the rest is, in order; once
// removed it sees nothing.
func TestSplitUDPConnDivert(t *testing.T) {
	conn, peers := portAndPeers(t, 2)
	var _ Diverter = conn
	to := conn.LocalAddr().(*net.UDPAddr)
	var seen []string
	if err := conn.Divert(func(b []byte, from netip.AddrPort) bool {
		seen = append(seen, string(b))
		return from == peers[1].LocalAddr().(*net.UDPAddr).AddrPort() || string(b) == "take"
	}, Steer{}); err != nil {
		t.Fatal(err)
	}
	for i, m := range []string{"a", "x", "take", "b", "y", "c"} {
		p := peers[0]
		if m == "x" || m == "y" {
			p = peers[1]
		}
		if _, err := p.WriteTo([]byte(m), to); err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 100)
	var got []string
	for range 3 {
		n, _, err := conn.ReadFromAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(buf[:n]))
	}
	if strings.Join(got, ",") != "a,b,c" {
		t.Errorf("read %v, want a, b, c", got)
	}
	if strings.Join(seen, ",") != "a,x,take,b,y,c" {
		t.Errorf("divert saw %v", seen)
	}
	conn.Divert(nil, Steer{})
	if _, err := peers[1].WriteTo([]byte("z"), to); err != nil {
		t.Fatal(err)
	}
	n, _, err := conn.ReadFromAddrPort(buf)
	if err != nil || string(buf[:n]) != "z" {
		t.Fatalf("read after Divert(nil): %q, %v", buf[:n], err)
	}
	if len(seen) != 6 {
		t.Errorf("the removed divert function saw %v", seen[6:])
	}
}

// rtpPacket is a minimal RTP packet (version 2, no extension).
func rtpPacket(pt uint8, seq uint16, ssrc uint32, payload string) []byte {
	b := []byte{0x80, pt, byte(seq >> 8), byte(seq), 0, 0, 0, 1, byte(ssrc >> 24), byte(ssrc >> 16), byte(ssrc >> 8), byte(ssrc)}
	return append(b, payload...)
}

// With a divert function and a Steer, the steered datagrams (RTP of its
// payload types) are received by the receivers, spread by SSRC, a stream
// on one of them and in order;
// everything else by the poller's socket. What a receiver's function
// does not take reaches the reads (handed over, the reader woken by a
// poke that the reads never return). Without the function, everything
// is the poller's socket's again. Close ends the receivers.
func TestSplitUDPConnSteersToReceivers(t *testing.T) {
	before := runtime.NumGoroutine()
	conn, err := listenPort("127.0.0.1:0", 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(conn.rx) != 3 {
		t.Fatalf("%d receivers, want 3", len(conn.rx))
	}
	var peers [2]*net.UDPConn
	for i := range peers {
		if peers[i], err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
			t.Fatal(err)
		}
		defer peers[i].Close()
	}
	taker := peers[0].LocalAddr().(*net.UDPAddr).AddrPort()
	var mu sync.Mutex
	taken := map[uint32][]uint16{} // by SSRC, the sequence numbers taken
	if err := conn.Divert(func(b []byte, from netip.AddrPort) bool {
		if from != taker || len(b) < 12 || b[0] != 0x80 {
			return false
		}
		mu.Lock()
		ssrc := binary.BigEndian.Uint32(b[8:])
		taken[ssrc] = append(taken[ssrc], binary.BigEndian.Uint16(b[2:]))
		mu.Unlock()
		return true
	}, Steer{PayloadTypes: []uint8{0, 111}}); err != nil {
		t.Fatal(err)
	}
	to := conn.LocalAddr().(*net.UDPAddr)
	send := func(p *net.UDPConn, b []byte) {
		t.Helper()
		if _, err := p.WriteTo(b, to); err != nil {
			t.Fatal(err)
		}
	}
	// From the taker: 12 streams of PT 0 or 111, 20 packets each, video
	// (PT 96), RTCP (200), non-RTP, a short one. From the other peer: a
	// steered stream nobody takes.
	const streams, packets = 12, 20
	var want []string // what the reads must return, in order per source
	for seq := uint16(10); seq < 10+packets; seq++ {
		for s := uint32(1); s <= streams; s++ {
			pt := uint8(0)
			if s%2 == 0 {
				pt = 111
			}
			send(peers[0], rtpPacket(pt, seq, s*0x9e3779b1, ""))
		}
		send(peers[1], rtpPacket(0, seq, 77, fmt.Sprint("other ", seq)))
		want = append(want, fmt.Sprint("other ", seq))
	}
	send(peers[0], rtpPacket(96, 1, 5, "video"))
	send(peers[0], []byte{0x80, 200, 0, 6, 0, 0, 0, 1})
	send(peers[0], []byte("stun"))
	send(peers[0], []byte{0x80})

	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 100)
	var got, fromTaker []string
	for len(got) < packets {
		n, from, err := conn.ReadFromAddrPort(buf)
		if err != nil {
			t.Fatalf("read after %v: %v", got, err)
		}
		if from == conn.pokeFrom {
			t.Fatalf("a poke was read")
		}
		if from != taker {
			got = append(got, string(buf[12:n]))
		} else {
			fromTaker = append(fromTaker, fmt.Sprintf("%x", buf[:n]))
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("the other peer's stream read as %v", got)
	}
	// The taker's packets were taken by the receivers, each stream's
	// in order.
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := 0
		for s := uint32(1); s <= streams; s++ {
			n += len(taken[s*0x9e3779b1]) // (not the video, SSRC 5)
		}
		mu.Unlock()
		if n >= streams*packets || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	for s := uint32(1); s <= streams; s++ {
		if seqs := taken[s*0x9e3779b1]; len(seqs) != packets || !slices.IsSorted(seqs) {
			t.Errorf("stream %d taken as %v", s, seqs)
		}
	}
	mu.Unlock()
	var received, busy uint64
	for _, r := range conn.rx {
		received += r.datagrams.Load()
		if r.datagrams.Load() > 0 {
			busy++
		}
	}
	// Steered: the taker's (streams × packets) and the other peer's.
	if want := uint64((streams + 1) * packets); received != want {
		t.Errorf("the receivers received %d datagrams, want %d", received, want)
	}
	if busy < 2 {
		t.Errorf("%d of 3 receivers received anything: not spread by SSRC", busy)
	}

	conn.Divert(nil, Steer{})
	send(peers[0], rtpPacket(0, 40, 1, "after"))
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		n, _, err := conn.ReadFromAddrPort(buf)
		if err != nil {
			t.Fatalf("read after Divert(nil): %v", err)
		}
		if n > 12 && string(buf[12:n]) == "after" {
			break
		}
		fromTaker = append(fromTaker, fmt.Sprintf("%x", buf[:n]))
	}
	// The taker's datagrams the function did not take (RTCP, not RTP, too
	// short) reached the reads from the poller's socket; its video went
	// there too, and was taken, or read once the function was removed
	// (the first reads may not have come to it before).
	mu.Lock()
	video := taken[5]
	mu.Unlock()
	unsteered := []string{"80", "80c8000600000001", "7374756e"}
	switch {
	case slices.Equal(video, []uint16{1}):
	case len(video) == 0:
		unsteered = append(unsteered, fmt.Sprintf("%x", rtpPacket(96, 1, 5, "video")))
	default:
		t.Errorf("the taker's video taken as %v", video)
	}
	slices.Sort(fromTaker)
	slices.Sort(unsteered)
	if !slices.Equal(fromTaker, unsteered) {
		t.Errorf("read of the taker's %v, want %v", fromTaker, unsteered)
	}
	var after uint64
	for _, r := range conn.rx {
		after += r.datagrams.Load()
	}
	if after != received {
		t.Errorf("the receivers received %d datagrams after Divert(nil)", after-received)
	}
	conn.Close()
	for range 100 {
		if runtime.NumGoroutine() <= before {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Close, %d before", n, before)
	}
}

// steerWant is what the steering program must answer for a datagram.
func steerWant(s Steer, receivers int, b []byte) int {
	if receivers == 0 || len(s.PayloadTypes) == 0 || len(s.PayloadTypes) > 200 || len(b) < 2 || b[0]&0xc0 != 0x80 {
		return 0
	}
	if !slices.ContainsFunc(s.PayloadTypes, func(pt uint8) bool { return pt&0x7f == b[1]&0x7f }) {
		return 0
	}
	if len(b) < 12 {
		return 0
	}
	return 2 + int(binary.BigEndian.Uint32(b[8:])%uint32(receivers))
}

// The steering program, run in a classic BPF machine (as the kernel runs
// it: a load past the end returns 0), answers as steerWant for any
// datagram and any Steer.
func FuzzSteerProgram(f *testing.F) {
	f.Add([]byte{0, 8, 111}, uint8(2), rtpPacket(0, 17, 0xdeadbeef, "x"))
	f.Add([]byte{0, 8, 111}, uint8(2), rtpPacket(8, 16, 0xdeadbeef, ""))
	f.Add([]byte{111}, uint8(3), rtpPacket(111|0x80, 3, 7, ""))
	f.Add([]byte{96}, uint8(1), []byte{0x80, 96, 0})
	f.Add([]byte{}, uint8(2), []byte{0x80, 200, 0, 1})
	f.Add([]byte{0}, uint8(0), rtpPacket(0, 1, 1, ""))
	f.Fuzz(func(t *testing.T, pts []byte, receivers uint8, b []byte) {
		s := Steer{PayloadTypes: pts}
		r := int(receivers % 9)
		raw := steerProgram(s, r)
		ins := make([]bpf.RawInstruction, len(raw))
		for i, f := range raw {
			ins[i] = bpf.RawInstruction{Op: f.Code, Jt: f.Jt, Jf: f.Jf, K: f.K}
		}
		prog, ok := bpf.Disassemble(ins)
		if !ok {
			t.Fatalf("the program does not disassemble: %v", ins)
		}
		vm, err := bpf.NewVM(prog)
		if err != nil {
			t.Fatalf("the program does not load: %v", err)
		}
		got, err := vm.Run(b)
		if err != nil {
			t.Fatal(err)
		}
		if want := steerWant(s, r, b); got != want {
			t.Fatalf("%+v, %d receivers, datagram % x: socket %d, want %d", s, r, b, got, want)
		}
	})
}
