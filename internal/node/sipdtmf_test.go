package node_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/openwac/wac/client"
	"github.com/openwac/wac/internal/media/dtmf"
)

// sendDigits sends the RFC 4733 events of digits from conn to port as a
// phone's keypad does: each digit's packets every 20 ms with a growing
// duration, its end three times, all with the digit's timestamp, then
// 40 ms of nothing.
func sendDigits(t *testing.T, conn *net.UDPConn, port int, pt uint8, seq *uint16, ts *uint32, digits string) {
	t.Helper()
	to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	for _, d := range digits {
		s, err := dtmf.NewSender(d, 800, 160, 10)
		if err != nil {
			t.Fatal(err)
		}
		for {
			ev, first, ok := s.Next()
			if !ok {
				break
			}
			*seq++
			p := rtp.Packet{Header: rtp.Header{Version: 2, Marker: first, PayloadType: pt, SequenceNumber: *seq,
				Timestamp: *ts, SSRC: 0x5eed}, Payload: ev.Append(nil)}
			b, err := p.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := conn.WriteToUDP(b, to); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		*ts += 800 + 320
		time.Sleep(40 * time.Millisecond)
	}
}

// keypad presses a phone's keys from a socket of its own (sendDigits),
// one stream of packets however many presses.
type keypad struct {
	conn *net.UDPConn
	seq  uint16
	ts   uint32
}

func newKeypad(t *testing.T) *keypad {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &keypad{conn: conn, seq: 100, ts: 8000}
}

// press sends digits to the RTP port as events of payload type pt.
func (k *keypad) press(t *testing.T, port int, pt uint8, digits string) {
	t.Helper()
	sendDigits(t, k.conn, port, pt, &k.seq, &k.ts, digits)
}

// phoneDigits reads n dtmf events of the phone +34986999888 in room rm
// from conn, checking each names them, and returns the digits in order.
func phoneDigits(ctx context.Context, t *testing.T, conn *client.Conn, rm string, n int) string {
	t.Helper()
	var got string
	for len(got) < n {
		ev, err := conn.WaitEvent(ctx, "dtmf")
		if err != nil {
			t.Fatalf("digits so far %q: %v", got, err)
		}
		var p struct{ Room, From, Digit string }
		if err := ev.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.Room != rm || p.From != "phone-0034986999888" || len(p.Digit) != 1 {
			t.Fatalf("dtmf event %+v", p)
		}
		got += p.Digit
	}
	return got
}

// A phone offering telephone-event/8000 gets it in the answer; the digits
// it presses (RFC 4733 packets from the trunk's media address, each
// repeated as phones do) reach the app in the room as dtmf events, in
// order and once each.
func TestSIPDTMFFromPhone(t *testing.T) {
	r := newSIPRig(t, nil)
	bob := r.connect(r.bob)
	done := r.phone("uac_dtmf.xml", "206", map[string]string{"PAUSE": "6000"})
	ctx := wctx(t)
	rm := answerPhone(t, bob)
	roomJoined(ctx, t, bob, rm, "phone-0034986999888", true)
	ports := r.node.SIP().RTPPorts()
	if len(ports) != 1 {
		t.Fatalf("RTP ports %v, want the call's one", ports)
	}
	k := newKeypad(t)
	k.press(t, ports[0], 101, "11#9*")
	// A packet of another payload type with the same bytes is audio, not
	// a key: it must not add a digit.
	k.press(t, ports[0], 0, "5")
	k.press(t, ports[0], 101, "D")
	got := phoneDigits(ctx, t, bob, rm, 6)
	if got != "11#9*D" {
		t.Fatalf("the app got the digits %q, want 11#9*D", got)
	}
	r.await(done)
	r.settled()
}

// An app in a room with a phone sends digits: they reach the trunk as
// RFC 4733 events with the trunk's payload type (96 from its answer), the
// marker on each event's first packet, three end packets, one SSRC and
// consecutive sequence numbers. Bad requests are refused naming the field.
func TestSIPDTMFToPhone(t *testing.T) {
	r := newSIPRig(t, nil)
	media, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer media.Close()
	trunk := r.trunk("uas_dtmf.xml", map[string]string{"MEDIAPORT": strconv.Itoa(media.LocalAddr().(*net.UDPAddr).Port)})
	alice := r.connect(r.alice)
	bob := r.connect(r.bob)
	rm := room(t, alice)
	ctx := wctx(t)
	// No phone in the room yet.
	refused := func(conn *client.Conn, payload map[string]any, code int, field string) {
		t.Helper()
		_, err := conn.Request(ctx, "sendDTMF", payload, nil)
		var ce *client.CancelError
		if !errors.As(err, &ce) || ce.Code != code || !strings.Contains(ce.Message, field) {
			t.Fatalf("sendDTMF %v: %v, want %d naming %s", payload, err, code, field)
		}
	}
	refused(alice, map[string]any{"room": rm, "digits": "1"}, 404, `"room"`)
	callPhone(ctx, t, alice, rm)
	waitPhoneEvent(ctx, t, alice, "participantAdded")
	refused(alice, map[string]any{"room": rm, "digits": "12x"}, 400, `"digits"`)
	refused(alice, map[string]any{"room": rm, "digits": strings.Repeat("1", 33)}, 400, `"digits"`)
	refused(alice, map[string]any{"room": rm, "digits": ""}, 400, `"digits"`)
	refused(alice, map[string]any{"room": rm, "digits": "1", "duration": 5}, 400, `"duration"`)
	refused(alice, map[string]any{"digits": "1"}, 400, `"room"`)
	refused(bob, map[string]any{"room": rm, "digits": "1"}, 403, "not in the room")
	if _, err := alice.Request(ctx, "sendDTMF", map[string]any{"room": rm, "digits": "19#", "duration": 60}, nil); err != nil {
		t.Fatal(err)
	}
	var (
		rx      dtmf.Receiver
		got     string
		ends    = map[uint32]int{}
		ssrc    uint32
		lastSeq uint16
		packets int
	)
	buf := make([]byte, 1500)
	media.SetReadDeadline(time.Now().Add(15 * time.Second))
	totalEnds := 0
	for totalEnds < 3*dtmf.EndRepeats {
		n, err := media.Read(buf)
		if err != nil {
			t.Fatalf("digits so far %q, ends %v: %v", got, ends, err)
		}
		var p rtp.Packet
		if err := p.Unmarshal(buf[:n]); err != nil {
			t.Fatal(err)
		}
		if p.PayloadType != 96 {
			t.Fatalf("payload type %d from wac, want the trunk's event type 96 (no audio is published)", p.PayloadType)
		}
		if packets > 0 && (p.SSRC != ssrc || p.SequenceNumber != lastSeq+1) {
			t.Fatalf("packet %d: SSRC %x seq %d after SSRC %x seq %d", packets, p.SSRC, p.SequenceNumber, ssrc, lastSeq)
		}
		packets++
		ssrc, lastSeq = p.SSRC, p.SequenceNumber
		ev, err := dtmf.Parse(p.Payload)
		if err != nil {
			t.Fatal(err)
		}
		d, isNew, err := rx.Receive(p.Timestamp, p.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if isNew != p.Marker {
			t.Fatalf("packet %d of digit %c: marker %v", packets, d, p.Marker)
		}
		if isNew {
			got += string(d)
			ends[p.Timestamp] = 0
		}
		if ev.End {
			totalEnds++
			ends[p.Timestamp]++
			if ev.Duration != 480 {
				t.Fatalf("end of an event lasting %d samples, want 480 (60 ms)", ev.Duration)
			}
		}
	}
	if got != "19#" {
		t.Fatalf("the trunk got %q, want 19#", got)
	}
	for ts, n := range ends {
		if n != dtmf.EndRepeats {
			t.Fatalf("event at %d has %d end packets", ts, n)
		}
	}
	if _, err := alice.Request(ctx, "leaveRoom", map[string]any{"room": rm}, nil); err != nil {
		t.Fatal(err)
	}
	r.await(trunk)
	r.settled()
}

// A phone keys digits by SIP INFO (application/dtmf-relay and
// application/dtmf): the app in the room gets dtmf events; a bad digit is
// refused 400 and a body that is no DTMF 415.
func TestSIPDTMFByInfoFromPhone(t *testing.T) {
	r := newSIPRig(t, nil)
	bob := r.connect(r.bob)
	done := r.phone("uac_info.xml", "206", map[string]string{"PAUSE": "3000"})
	ctx := wctx(t)
	got := phoneDigits(ctx, t, bob, answerPhone(t, bob), 2)
	if got != "4#" {
		t.Fatalf("the app got %q by INFO, want 4#", got)
	}
	r.await(done)
	r.settled()
}

// A trunk that agreed no telephone-event gets the apps' digits as SIP INFO
// (trunk.dtmfMode auto): SIPp checks each body.
func TestSIPDTMFByInfoToPhone(t *testing.T) {
	r := newSIPRig(t, nil)
	trunk := r.trunk("uas_info.xml", nil)
	alice := r.connect(r.alice)
	rm := room(t, alice)
	ctx := wctx(t)
	callPhone(ctx, t, alice, rm)
	waitPhoneEvent(ctx, t, alice, "participantAdded")
	for _, d := range []string{"1", "9"} {
		if _, err := alice.Request(ctx, "sendDTMF", map[string]any{"room": rm, "digits": d}, nil); err != nil {
			t.Fatal(err)
		}
	}
	// SIPp's scenario waits for both INFOs before the BYE; the leave
	// sends the BYE once they are answered.
	deadline := time.Now().Add(15 * time.Second)
	for r.node.SIP().InfosSent() < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := alice.Request(ctx, "leaveRoom", map[string]any{"room": rm}, nil); err != nil {
		t.Fatal(err)
	}
	r.await(trunk)
	r.settled()
}
