package session

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// tcpPair is a connected pair of loopback TCP connections.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

func TestSocketReaderTCP(t *testing.T) {
	server, client := tcpPair(t)
	r := newSocketReader(server, []byte("early:"), newBufferPool())
	if r.fill == nil {
		t.Fatal("a TCP connection should be read without holding a buffer while idle")
	}
	// Bursts larger and smaller than the borrowed buffer, read in small and
	// large pieces: every byte arrives once and in order.
	var want bytes.Buffer
	want.WriteString("early:")
	go func() {
		for i := range 50 {
			chunk := bytes.Repeat([]byte{byte('a' + i%26)}, 1+i*331)
			client.Write(chunk)
		}
		client.Close()
	}()
	for i := range 50 {
		want.Write(bytes.Repeat([]byte{byte('a' + i%26)}, 1+i*331))
	}
	var got bytes.Buffer
	p := make([]byte, 7)
	for {
		n, err := r.Read(p)
		got.Write(p[:n])
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(p) == 7 {
			p = make([]byte, 10000)
		} else {
			p = make([]byte, 7)
		}
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("read %d bytes, want %d (same content: %v)", got.Len(), want.Len(), bytes.HasPrefix(want.Bytes(), got.Bytes()))
	}
	if r.buf != nil {
		t.Error("the reader kept a buffer after the stream ended")
	}
}

func TestSocketReaderIdleHoldsNoBuffer(t *testing.T) {
	server, client := tcpPair(t)
	bufs := newBufferPool()
	r := newSocketReader(server, nil, bufs)
	client.Write([]byte("hello"))
	p := make([]byte, 5)
	if _, err := io.ReadFull(r, p); err != nil || string(p) != "hello" {
		t.Fatalf("read %q, %v", p, err)
	}
	if r.buf != nil || bufs.lent.Load() != 0 {
		t.Fatal("a drained reader still holds its buffer")
	}
	// A reader waiting for bytes holds no buffer: it borrows one only once
	// the socket is readable.
	got := make(chan string, 1)
	go func() {
		p := make([]byte, 5)
		n, _ := r.Read(p)
		got <- string(p[:n])
	}()
	time.Sleep(50 * time.Millisecond) // let the reader block on the socket
	if n := bufs.lent.Load(); n != 0 {
		t.Fatalf("a reader waiting for bytes holds %d buffer(s)", n)
	}
	client.Write([]byte("world"))
	if s := <-got; s != "world" {
		t.Fatalf("read %q after the wait, want world", s)
	}
	if n := bufs.lent.Load(); n != 0 {
		t.Fatalf("%d buffer(s) still lent after the read", n)
	}
	// Waiting honours the read deadline and reports it.
	server.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := r.Read(p); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v, want a deadline error", err)
	}
	if n := bufs.lent.Load(); n != 0 {
		t.Fatalf("%d buffer(s) lent after a timed-out wait", n)
	}
}

func TestSocketReaderWithoutDescriptor(t *testing.T) {
	server, client := net.Pipe() // like TLS: nothing to wait on
	defer server.Close()
	r := newSocketReader(server, []byte("ab"), newBufferPool())
	if r.fill != nil {
		t.Fatal("a pipe has no descriptor to wait on")
	}
	go func() { client.Write([]byte("cd")); client.Close() }()
	got, err := io.ReadAll(r)
	if err != nil || string(got) != "abcd" {
		t.Fatalf("read %q, %v; want abcd", got, err)
	}
}
