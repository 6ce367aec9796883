package sip

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// The direction of an offer is its audio stream's, else its session's,
// else sendrecv; c=0.0.0.0 is the old way to hold.
func TestSDPDirection(t *testing.T) {
	head := "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
	for body, want := range map[string]string{
		head + "m=audio 4000 RTP/AVP 0\r\n":                                                                             dirSendRecv,
		head + "m=audio 4000 RTP/AVP 0\r\na=sendonly\r\n":                                                               dirSendOnly,
		head + "m=audio 4000 RTP/AVP 0\r\na=inactive\r\n":                                                               dirInactive,
		head + "a=recvonly\r\nm=audio 4000 RTP/AVP 0\r\n":                                                               dirRecvOnly,
		head + "a=sendonly\r\nm=audio 4000 RTP/AVP 0\r\na=sendrecv\r\n":                                                 dirSendRecv,
		head + "m=video 5000 RTP/AVP 96\r\na=inactive\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\n":                      dirSendOnly,
		head + "m=audio 4000 RTP/AVP 0\r\nc=IN IP4 0.0.0.0\r\n":                                                         dirSendOnly,
		strings.Replace(head, "c=IN IP4 192.0.2.1", "c=IN IP4 0.0.0.0", 1) + "m=audio 4000 RTP/AVP 0\r\na=recvonly\r\n": dirInactive,
		"not sdp": dirSendRecv,
		"":        dirSendRecv,
	} {
		if got := sdpDirection([]byte(body)); got != want {
			t.Errorf("%q: %s, want %s", body, got, want)
		}
	}
	for _, c := range []struct {
		send, recv bool
		want       string
	}{{true, true, dirSendRecv}, {true, false, dirSendOnly}, {false, true, dirRecvOnly}, {false, false, dirInactive}} {
		if got := directionOf(c.send, c.recv); got != c.want {
			t.Errorf("send %v recv %v: %s", c.send, c.recv, got)
		}
	}
	b := withDirection(buildSDP("127.0.0.1", 4000, g711, eventTypes(g711, DefaultEventPT)), dirRecvOnly)
	if sdpDirection(b) != dirRecvOnly || strings.Contains(string(b), dirSendRecv) {
		t.Fatalf("our SDP with recvonly:\n%s", b)
	}
}

// Our later SDPs keep the first one's session id with a higher version.
func TestNextVersion(t *testing.T) {
	first := []byte("v=0\r\no=wac 1700 1700 IN IP4 127.0.0.1\r\ns=wac\r\n")
	later := buildSDP("127.0.0.1", 4000, g711, nil)
	o := func(b []byte) []string {
		for _, l := range strings.Split(string(b), "\r\n") {
			if strings.HasPrefix(l, "o=") {
				return strings.Fields(l)
			}
		}
		return nil
	}
	got := o(nextVersion(later, first, 2))
	want := o(first)
	if len(got) != 6 || got[1] != "1700" || got[2] != "1702" || got[5] != want[5] {
		t.Fatalf("origin %v after %v", got, want)
	}
	if string(nextVersion(later, []byte("v=0\r\no=phone 1 x IN IP4 1.2.3.4\r\n"), 1)) != string(later) {
		t.Fatal("an origin that is not ours was used")
	}
}

// While the call is held (by either side) no RTP goes to the phone and its
// silence is no media timeout; once resumed both come back.
func TestRTPLegHold(t *testing.T) {
	leg, err := newRTPLeg(newPortPool("127.0.0.1", 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer leg.close()
	phone, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	leg.setRemote(&remoteMedia{Addr: phone.LocalAddr().(*net.UDPAddr), Codec: codecsByName["pcmu"]})
	leg.started.Store(time.Now().Add(-time.Hour).UnixNano())
	pkt := func(ts uint32) []byte {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 1, Timestamp: ts, SSRC: 9}, Payload: make([]byte, 160)}
		b, _ := p.Marshal()
		return b
	}
	now := time.Now()
	if leg.silentFor(now) < time.Hour {
		t.Fatal("an unheld silent call is not silent")
	}
	for _, byPhone := range []bool{true, false} {
		if byPhone {
			if was := leg.setHeldByPhone(true); was {
				t.Fatal("held before")
			}
		} else {
			leg.setHeldByUs(true)
		}
		if leg.silentFor(now) != 0 {
			t.Fatal("a held call's silence counts")
		}
		sent := leg.sent.Load()
		if err := leg.write(pkt(1111)); err != nil {
			t.Fatal(err)
		}
		if leg.sent.Load() != sent {
			t.Fatal("RTP was sent while held")
		}
		if byPhone {
			leg.setHeldByPhone(false)
		} else {
			leg.setHeldByUs(false)
		}
		if leg.silentFor(time.Now()) > time.Minute {
			t.Fatal("the silence clock did not restart on resume")
		}
		if err := leg.write(pkt(2222)); err != nil {
			t.Fatal(err)
		}
		// The first packet the phone gets is the one after the resume:
		// the held one never left (loopback UDP keeps the order).
		buf := make([]byte, 1500)
		_ = phone.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := phone.ReadFromUDP(buf)
		if err != nil {
			t.Fatal(err)
		}
		var got rtp.Packet
		if err := got.Unmarshal(buf[:n]); err != nil {
			t.Fatal(err)
		}
		if got.Payload == nil || leg.sent.Load() != sent+1 {
			t.Fatalf("after the resume: %+v, %d sent", got.Header, leg.sent.Load()-sent)
		}
	}
}

// An Opus call's SDPs of hold and resume (ourSDP) keep what was agreed:
// the trunk's payload type of Opus with our fmtp, and its events at their
// clock (here telephone-event/8000, as baresip offers next to Opus); the
// phone's re-INVITE of the same reads back with the call's codec.
func TestHoldSDPOpus(t *testing.T) {
	leg, err := newRTPLeg(newPortPool("127.0.0.1", 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer leg.close()
	opus := codecsByName["opus"]
	opus.PayloadType = 96
	leg.setRemote(&remoteMedia{Addr: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}, Codec: opus, Events: 101, EventClock: 8000})
	body := withDirection(buildSDP("127.0.0.1", leg.port(), []Codec{*leg.codec.Load()}, leg.eventTypes()), dirSendOnly)
	for _, want := range []string{"RTP/AVP 96 101\r\n", "a=rtpmap:96 opus/48000/2\r\n", "a=fmtp:96 minptime=10;useinbandfec=1\r\n",
		"a=rtpmap:101 telephone-event/8000\r\n", "a=sendonly\r\n"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("no %q in\n%s", want, body)
		}
	}
	m, err := parseSDP(body, []Codec{codecsByName[strings.ToLower(leg.codec.Load().Name)]})
	if err != nil || m.Codec.PayloadType != 96 || m.Codec.ClockRate != 48000 || m.Events != 101 || m.EventClock != 8000 {
		t.Fatalf("read back: %+v %v", m, err)
	}
}
