package session

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// readBufSize is the size of the buffers a socketReader borrows: large
// enough for a burst of typical frames (a few hundred bytes each) in one
// read system call.
const readBufSize = 4096

// bufferPool lends the read buffers of the connections that have bytes
// waiting. An idle connection holds none: it waits for its socket to become
// readable without a buffer (see waitRead), so that thousands of idle
// sessions cost no read buffers while a busy one reads a burst of frames in
// one system call instead of two or three per frame.
type bufferPool struct {
	pool sync.Pool
	lent atomic.Int64 // buffers out of the pool (tests check it)
}

func newBufferPool() *bufferPool {
	p := &bufferPool{}
	p.pool.New = func() any { b := make([]byte, readBufSize); return &b }
	return p
}

func (p *bufferPool) get() *[]byte {
	p.lent.Add(1)
	return p.pool.Get().(*[]byte)
}

func (p *bufferPool) put(b *[]byte) {
	p.lent.Add(-1)
	p.pool.Put(b)
}

// socketReader reads a connection through a borrowed buffer.
type socketReader struct {
	conn net.Conn
	bufs *bufferPool
	// fill waits until the socket has bytes, then borrows a buffer and
	// reads into it; nil where the connection cannot wait that way (TLS),
	// and then conn is read directly.
	fill   func(*bufferPool) (*[]byte, int, error)
	buf    *[]byte
	pooled bool // buf came from bufs
	r, w   int
}

func newSocketReader(conn net.Conn, early []byte, bufs *bufferPool) *socketReader {
	s := &socketReader{conn: conn, bufs: bufs, fill: waitRead(conn)}
	if len(early) > 0 {
		// The client wrote right after its handshake: keep those bytes.
		b := make([]byte, len(early))
		copy(b, early)
		s.buf, s.w = &b, len(b)
	}
	return s
}

func (s *socketReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if s.buf == nil {
		if s.fill == nil {
			return s.conn.Read(p)
		}
		b, n, err := s.fill(s.bufs)
		if b == nil {
			if err == nil {
				err = io.EOF
			}
			return 0, err
		}
		s.buf, s.pooled, s.r, s.w = b, true, 0, n
	}
	n := copy(p, (*s.buf)[s.r:s.w])
	s.r += n
	if s.r == s.w {
		if s.pooled {
			s.bufs.put(s.buf)
		}
		s.buf, s.pooled = nil, false
	}
	return n, nil
}
