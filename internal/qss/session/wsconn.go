package session

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// wsConn is a server-side WebSocket connection kept lean for many idle
// sessions: after the upgrade it holds no buffers while idle (frames are
// read through a buffer borrowed only while bytes wait, see socketReader,
// and written with one vectored write), and its reader is a goroutine of
// its own with a small stack instead of the HTTP handler's.
type wsConn struct {
	conn net.Conn
	rd   wsutil.Reader

	wmu       sync.Mutex
	closeSent bool // under wmu
	closed    atomic.Bool

	pingSent atomic.Int64 // unix ns of the unanswered ping, 0 when none
	// peerClose is the close code with which the peer started the closing
	// handshake, 0 when it did not (the connection broke, the close frame
	// had no code, or it answered the server's own).
	peerClose atomic.Uint32
}

// upgrade answers the WebSocket handshake of r and takes over the socket,
// whose reads borrow their buffers from bufs.
func upgrade(w http.ResponseWriter, r *http.Request, bufs *bufferPool) (*wsConn, error) {
	conn, rw, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		return nil, err
	}
	early, _ := rw.Reader.Peek(rw.Reader.Buffered())
	c := &wsConn{conn: conn}
	c.rd = wsutil.Reader{Source: newSocketReader(conn, early, bufs), State: ws.StateServerSide, CheckUTF8: true}
	return c, nil
}

var errClosedByPeer = errors.New("closed by the peer")

// errCloseSent refuses a write after the close frame: nothing follows it
// (RFC 6455 section 5.5.1). Whoever sent the close frame closes the socket.
var errCloseSent = fmt.Errorf("websocket close frame already sent: %w", net.ErrClosed)

// errTooBig is a message over the limit; it was read and dropped.
type errTooBig struct{ size int64 }

func (e errTooBig) Error() string { return "message too big" }

// readMessage returns the next data message, answering pings and noting
// pongs on the way. A message larger than limit is skipped and reported as
// errTooBig; one larger than hard ends the connection.
func (c *wsConn) readMessage(limit, hard int64) (ws.OpCode, []byte, error) {
	c.rd.MaxMessageSize = hard
	for {
		hdr, err := c.rd.NextFrame()
		if err != nil {
			return 0, nil, err
		}
		if hdr.OpCode.IsControl() {
			if err := c.control(hdr); err != nil {
				return 0, nil, err
			}
			continue
		}
		if hdr.Fin && hdr.Length > limit {
			if _, err := io.Copy(io.Discard, &c.rd); err != nil {
				return 0, nil, err
			}
			return hdr.OpCode, nil, errTooBig{hdr.Length}
		}
		size := hdr.Length
		if !hdr.Fin || size < 0 || size > limit {
			size = 512
		}
		buf := bytes.NewBuffer(make([]byte, 0, size))
		n, err := io.Copy(buf, io.LimitReader(&c.rd, limit+1))
		if err != nil {
			return 0, nil, err
		}
		if n > limit {
			if _, err := io.Copy(io.Discard, &c.rd); err != nil {
				return 0, nil, err
			}
			return hdr.OpCode, nil, errTooBig{n}
		}
		return hdr.OpCode, buf.Bytes(), nil
	}
}

// control handles a ping, pong or close frame.
func (c *wsConn) control(h ws.Header) error {
	payload := make([]byte, h.Length)
	if _, err := io.ReadFull(&c.rd, payload); err != nil {
		return err
	}
	switch h.OpCode {
	case ws.OpPing:
		return c.write(ws.OpPong, payload, 5*time.Second)
	case ws.OpPong:
		c.pingSent.Store(0)
	case ws.OpClose:
		code, _ := ws.ParseCloseFrameData(payload)
		reply := code
		if reply == 0 {
			reply = ws.StatusNormalClosure
		}
		if err := c.write(ws.OpClose, ws.NewCloseFrameBody(reply, ""), time.Second); !errors.Is(err, errCloseSent) {
			c.peerClose.Store(uint32(code))
		}
		c.conn.Close()
		return errClosedByPeer
	}
	return nil
}

// peerLeft reports whether the peer closed the connection on purpose: it
// started the closing handshake with 1000 (normal closure: the app is done)
// or 1001 (going away: the page or the app goes away).
func (c *wsConn) peerLeft() bool {
	code := ws.StatusCode(c.peerClose.Load())
	return code == ws.StatusNormalClosure || code == ws.StatusGoingAway
}

// write sends one frame within timeout; writes are serialized.
func (c *wsConn) write(op ws.OpCode, payload []byte, timeout time.Duration) error {
	return c.writeFrames(op, [][]byte{payload}, timeout)
}

// writeFrames sends one frame per payload, all in one vectored write.
func (c *wsConn) writeFrames(op ws.OpCode, payloads [][]byte, timeout time.Duration) error {
	if c.closed.Load() {
		return net.ErrClosed
	}
	heads := make([]byte, 0, len(payloads)*ws.MaxHeaderSize)
	bufs := make(net.Buffers, 0, 2*len(payloads))
	for _, p := range payloads {
		start := len(heads)
		hb := bytes.NewBuffer(heads[start:start])
		if err := ws.WriteHeader(hb, ws.Header{Fin: true, OpCode: op, Length: int64(len(p))}); err != nil {
			return err
		}
		heads = heads[:start+hb.Len()]
		bufs = append(bufs, heads[start:start+hb.Len()], p)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return errCloseSent
	}
	c.conn.SetWriteDeadline(time.Now().Add(timeout))
	_, err := bufs.WriteTo(c.conn)
	if op == ws.OpClose {
		c.closeSent = true
	}
	return err
}

// close ends the connection with a close frame (best effort, no waiting for
// the peer's answer).
func (c *wsConn) close(code ws.StatusCode, reason string) {
	if c.closed.Load() {
		return
	}
	c.write(ws.OpClose, ws.NewCloseFrameBody(code, reason), time.Second)
	c.closeNow()
}

// Lingering after a failure's close frame: how long, and how many bytes
// the peer may still send meanwhile.
const (
	lingerTime  = time.Second
	lingerBytes = 1 << 20
)

// fail ends the connection for a fault of the peer's with a close frame
// that says which. So that the peer reads that frame rather than a reset
// (closing a socket with unread bytes resets it), the write side is shut
// and what the peer still sends is read and dropped, for up to lingerTime
// and lingerBytes, before the socket is closed.
func (c *wsConn) fail(code ws.StatusCode, reason string) {
	if c.closed.Load() {
		return
	}
	if err := c.write(ws.OpClose, ws.NewCloseFrameBody(code, reason), time.Second); err == nil {
		if cw, ok := c.conn.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		c.conn.SetReadDeadline(time.Now().Add(lingerTime))
		io.CopyN(io.Discard, c.conn, lingerBytes)
	}
	c.closeNow()
}

// closeFor is the close code and reason for a read error that is the
// peer's fault (RFC 6455 section 7.4.1), or 0 for one that is not (the
// connection broke, or the peer closed it).
func closeFor(err error, hard int64) (ws.StatusCode, string) {
	var pe ws.ProtocolError
	switch {
	case errors.Is(err, wsutil.ErrInvalidUTF8):
		return ws.StatusInvalidFramePayloadData, "a text frame is not valid UTF-8"
	case errors.Is(err, wsutil.ErrMessageTooLarge), errors.Is(err, wsutil.ErrFrameTooLarge):
		return ws.StatusMessageTooBig, "message larger than " + strconv.FormatInt(hard, 10) + " bytes"
	case errors.As(err, &pe):
		return ws.StatusProtocolError, "protocol error: " + pe.Error()
	}
	return 0, ""
}

// closeNow drops the connection.
func (c *wsConn) closeNow() {
	if c.closed.CompareAndSwap(false, true) {
		c.conn.Close()
	}
}
