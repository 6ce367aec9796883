//go:build linux

package media

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"
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
	if c, err := listenMediaUDP(addr, slog.New(slog.DiscardHandler)); err == nil {
		c.Close()
		t.Fatalf("a second media port on %s opened", addr)
	}
	if c, err := net.ListenPacket("udp4", addr); err == nil {
		c.Close()
		t.Fatalf("a plain socket bound %s too", addr)
	}
}
