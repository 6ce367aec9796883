package qss

import (
	"io"
	"net"
	"sync"
)

// readBufSize is the size of the buffers a socketReader borrows: large
// enough for a burst of typical frames (a few hundred bytes each) in one
// read system call.
const readBufSize = 4096

// readBufs are the buffers of the connections that have bytes waiting. An
// idle connection holds none: it waits for the socket to become readable
// without a buffer (see waitRead), so that thousands of idle sessions cost
// no read buffers while a busy one reads a burst of frames in one system
// call instead of two or three per frame.
var readBufs = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

// socketReader reads a connection through a borrowed buffer.
type socketReader struct {
	conn net.Conn
	// fill reads into p once the socket has bytes, waiting without holding
	// p; nil where the connection cannot wait that way (TLS), and then
	// conn is read directly.
	fill func(p []byte) (int, error)
	buf  *[]byte
	r, w int
}

func newSocketReader(conn net.Conn, early []byte) *socketReader {
	s := &socketReader{conn: conn, fill: waitRead(conn)}
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
		b := readBufs.Get().(*[]byte)
		n, err := s.fill(*b)
		if n == 0 {
			readBufs.Put(b)
			if err == nil {
				err = io.EOF
			}
			return 0, err
		}
		s.buf, s.r, s.w = b, 0, n
	}
	n := copy(p, (*s.buf)[s.r:s.w])
	s.r += n
	if s.r == s.w {
		if cap(*s.buf) == readBufSize {
			readBufs.Put(s.buf)
		}
		s.buf = nil
	}
	return n, nil
}
