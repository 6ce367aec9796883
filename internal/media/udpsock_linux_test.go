//go:build linux

package media

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"
)

// The media port's two sockets behave as one: every datagram sent to it
// is read from it (none is lost to the sending socket), what it sends
// leaves from its address, and after Close writes fail with net.ErrClosed.
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
			if _, _, err := conn.ReadFromAddrPort(buf); err != nil {
				t.Fatalf("client %d: read %d of %d: %v", i, got+1, per, err)
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
	conn.Close()
	if _, err := conn.WriteTo([]byte("x"), clients[0].LocalAddr()); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after close: %v, want net.ErrClosed", err)
	}
}
