//go:build linux

package sip

import (
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// corks counts a port's corking, and whether it is corked.
type corks struct{ depth, rounds atomic.Int32 }

func (c *corks) Cork() {
	if c.depth.Add(1) == 1 {
		c.rounds.Add(1)
	}
}
func (c *corks) Uncork() { c.depth.Add(-1) }

// The poller reads every leg's socket, the trunk's packets in order, each
// to its leg's sink with the port corked; a packet from another address
// than the trunk's is not taken; a leg closed while its trunk sends stops
// being read, the others go on; the poller's goroutine ends with it.
func TestRTPPollerReadsEveryLeg(t *testing.T) {
	before := runtime.NumGoroutine()
	port := &corks{}
	p := newRTPPoller(slog.New(slog.DiscardHandler), port)
	if p == nil {
		t.Fatal("no poller")
	}
	trunk, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer trunk.Close()
	stranger, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()

	const legs, packets = 8, 50
	var mu sync.Mutex
	got := make([][]uint16, legs)
	var ls []*rtpLeg
	for i := range legs {
		l, err := newRTPLeg(newPortPool("127.0.0.1", 0, 0)) // any port
		if err != nil {
			t.Fatal(err)
		}
		l.setAddr(trunk.LocalAddr().(*net.UDPAddr))
		l.setSink(func(pkt []byte) {
			if port.depth.Load() == 0 {
				t.Errorf("leg %d: a packet handled with the port not corked", i)
			}
			mu.Lock()
			got[i] = append(got[i], uint16(pkt[2])<<8|uint16(pkt[3]))
			mu.Unlock()
		})
		if !p.add(l) {
			t.Fatalf("leg %d not added", i)
		}
		ls = append(ls, l)
	}
	send := func(from *net.UDPConn, l *rtpLeg, seq uint16) {
		pkt := []byte{0x80, 0, byte(seq >> 8), byte(seq), 0, 0, 0, 0, 0, 0, 0, 1, 0xAA}
		if _, err := from.WriteToUDP(pkt, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: l.port()}); err != nil {
			t.Fatal(err)
		}
	}
	for seq := range uint16(packets) {
		for _, l := range ls {
			send(trunk, l, seq)
		}
		send(stranger, ls[0], 1000)
		if seq == packets/2 {
			ls[legs-1].close() // the last call ends halfway
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		done := true
		for i := range legs - 1 {
			done = done && len(got[i]) == packets
		}
		mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("packets per leg after 10 s: %v", lens(got, &mu))
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	for i := range legs - 1 {
		for j, seq := range got[i] {
			if seq != uint16(j) {
				t.Fatalf("leg %d got %v, want 0..%d in order, none from the stranger", i, got[i], packets-1)
			}
		}
	}
	if n := len(got[legs-1]); n > packets/2+1 {
		t.Errorf("the closed leg got %d packets, at most %d were sent before it closed", n, packets/2+1)
	}
	mu.Unlock()
	if r := port.rounds.Load(); r == 0 || r > (legs-1)*packets+packets/2+1 {
		t.Errorf("%d corked rounds", r)
	}
	// The legs in the poller send to the trunk without blocking, through
	// the same socket.
	if ls[0].raw4.Load() == nil {
		t.Error("an IPv4 leg in the poller has no raw send")
	}
	if err := ls[0].send([]byte{0x80, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 1, 0xBB}); err != nil {
		t.Fatal(err)
	}
	trunk.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 100)
	n, from, err := trunk.ReadFromUDPAddrPort(buf)
	if err != nil || n != 13 || buf[12] != 0xBB || int(from.Port()) != ls[0].port() {
		t.Fatalf("the trunk got %x from %s (%v), want the leg's packet from port %d", buf[:n], from, err, ls[0].port())
	}
	for _, l := range ls[:legs-1] {
		l.close()
	}
	p.mu.Lock()
	left := len(p.legs)
	p.mu.Unlock()
	if left != 0 {
		t.Errorf("%d legs still in the poller after they closed", left)
	}
	p.close()
	deadline = time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d, %d before", runtime.NumGoroutine(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func lens(got [][]uint16, mu *sync.Mutex) []int {
	mu.Lock()
	defer mu.Unlock()
	var n []int
	for _, g := range got {
		n = append(n, len(g))
	}
	return n
}
