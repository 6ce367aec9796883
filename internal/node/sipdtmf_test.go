package node_test

import (
	"encoding/json"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/pion/rtp"

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

// A phone offering telephone-event/8000 gets it in the answer; the digits
// it presses (RFC 4733 packets from the trunk's media address, each
// repeated as phones do) reach the app in the room as dtmf events, in
// order and once each.
func TestSIPDTMFFromPhone(t *testing.T) {
	r := newSIPRig(t, nil)
	bob := r.connect(r.bob)
	done := r.phone("uac_dtmf.xml", "206", map[string]string{"PAUSE": "6000"})
	ctx := wctx(t)
	ring, err := bob.WaitIncoming(ctx, "invitation")
	if err != nil {
		t.Fatal(err)
	}
	var obj struct {
		Room string `json:"room"`
	}
	if err := json.Unmarshal(ring.Payload, &obj); err != nil || obj.Room == "" {
		t.Fatalf("ring payload %s", ring.Payload)
	}
	if err := bob.Accept(ctx, ring, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Request(ctx, "joinRoom", map[string]any{"room": obj.Room}, nil); err != nil {
		t.Fatal(err)
	}
	// The phone is in the room once getRoom lists it.
	for {
		f, err := bob.Request(ctx, "getRoom", map[string]any{"room": obj.Room}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var info struct {
			Joined []string `json:"joined"`
		}
		if err := json.Unmarshal(f.Payload, &info); err != nil {
			t.Fatal(err)
		}
		if slices.Contains(info.Joined, "phone-0034986999888") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var seq uint16 = 100
	var ts uint32 = 8000
	sendDigits(t, conn, r.rtpMin, 101, &seq, &ts, "11#9*")
	// A packet of another payload type with the same bytes is audio, not
	// a key: it must not add a digit.
	sendDigits(t, conn, r.rtpMin, 0, &seq, &ts, "5")
	sendDigits(t, conn, r.rtpMin, 101, &seq, &ts, "D")
	var got string
	for len(got) < 6 {
		ev, err := bob.WaitEvent(ctx, "dtmf")
		if err != nil {
			t.Fatalf("digits so far %q: %v", got, err)
		}
		var p struct{ Room, From, Digit string }
		if err := ev.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.Room != obj.Room || p.From != "phone-0034986999888" || len(p.Digit) != 1 {
			t.Fatalf("dtmf event %+v", p)
		}
		got += p.Digit
	}
	if got != "11#9*D" {
		t.Fatalf("the app got the digits %q, want 11#9*D", got)
	}
	r.await(done)
	r.settled()
}
