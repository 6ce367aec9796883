package qss_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/openwac/wac/internal/config"
)

// rawConn opens a bare WebSocket to the node's /qss, for frames the SDK
// would never send.
func rawConn(t *testing.T, c *cluster, token string) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, br, _, err := ws.Dial(ctx, strings.Replace(c.urls[0], "http", "ws", 1)+"/qss?token="+token)
	if err != nil {
		t.Fatal(err)
	}
	if br != nil {
		ws.PutReader(br) // the server says nothing before the session event
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// closeCode reads server frames until the close frame and returns its code
// and reason; the connection must then end.
func closeCode(t *testing.T, conn net.Conn) (ws.StatusCode, string) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		f, err := ws.ReadFrame(conn)
		if err != nil {
			t.Fatalf("the connection ended without a close frame: %v", err)
		}
		if f.Header.OpCode != ws.OpClose {
			continue
		}
		code, reason := ws.ParseCloseFrameData(f.Payload)
		if _, err := ws.ReadFrame(conn); !errors.Is(err, io.EOF) {
			t.Fatalf("after the close frame: %v, want the connection closed", err)
		}
		return code, reason
	}
}

// Frames that end the connection end it with the close code RFC 6455
// gives their fault, so that the client can tell why: 1007 for a text
// frame that is not UTF-8, 1009 for a message over four times
// qss.maxFrameBytes (whole or in fragments), 1002 for a frame that breaks
// the protocol (unmasked).
func TestBadFramesCloseWithCode(t *testing.T) {
	c := newCluster(t, 1, func(cfg *config.Config) { cfg.QSS.MaxFrameBytes = 2048 })
	alice, _ := c.user(0, "alice")
	hard := 4 * 2048
	for _, tc := range []struct {
		name   string
		frames []ws.Frame
		code   ws.StatusCode
		words  string
	}{
		{"invalid UTF-8", []ws.Frame{ws.MaskFrame(ws.NewTextFrame([]byte("{\"request\":\"\xff\xfe\"}")))},
			ws.StatusInvalidFramePayloadData, "UTF-8"},
		{"too big", []ws.Frame{ws.MaskFrame(ws.NewTextFrame(bytes.Repeat([]byte(" "), hard+1)))},
			ws.StatusMessageTooBig, "8192"},
		{"too big in fragments", []ws.Frame{
			ws.MaskFrame(ws.NewFrame(ws.OpText, false, bytes.Repeat([]byte(" "), hard/2))),
			ws.MaskFrame(ws.NewFrame(ws.OpContinuation, false, bytes.Repeat([]byte(" "), hard/2))),
			ws.MaskFrame(ws.NewFrame(ws.OpContinuation, true, []byte("  "))),
		}, ws.StatusMessageTooBig, "8192"},
		{"unmasked", []ws.Frame{ws.NewTextFrame([]byte(`{}`))}, ws.StatusProtocolError, "masked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := rawConn(t, c, alice.AccessToken())
			for _, f := range tc.frames {
				if err := ws.WriteFrame(conn, f); err != nil {
					t.Fatal(err)
				}
			}
			code, reason := closeCode(t, conn)
			if code != tc.code || !strings.Contains(reason, tc.words) {
				t.Fatalf("closed with %d %q, want %d mentioning %s", code, reason, tc.code, tc.words)
			}
		})
	}
}
