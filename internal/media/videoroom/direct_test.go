package videoroom

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/transport/v5/packetio"
)

// directRig is a direct receive with one peer armed with known keys, and
// the publisher's side: a context that encrypts with them.
type directRig struct {
	d    *directRTP
	dp   *directPeer
	enc  *srtp.Context
	from netip.AddrPort
	buf  *directBuffer
}

const directSSRC = 0x11223344

// The publisher's SRTP keys in the tests.
var (
	directKey  = bytes.Repeat([]byte{7}, 16)
	directSalt = bytes.Repeat([]byte{9}, 14)
)

func newDirectRig(t *testing.T) *directRig {
	t.Helper()
	enc, err := srtp.CreateContext(directKey, directSalt, srtp.ProtectionProfileAes128CmHmacSha1_80)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := srtp.CreateContext(directKey, directSalt, srtp.ProtectionProfileAes128CmHmacSha1_80, srtp.SRTPReplayProtection(64))
	if err != nil {
		t.Fatal(err)
	}
	d := newDirectRTP()
	dp := d.newPeer()
	db := dp.bufferFactory(packetio.RTPBufferPacket, directSSRC).(*directBuffer)
	dp.srtp.Store(dec)
	from := netip.MustParseAddrPort("127.0.0.1:40000")
	d.route(dp, from)
	return &directRig{d: d, dp: dp, enc: enc, from: from, buf: db}
}

// packet is the publisher's SRTP packet seq of the stream.
func (r *directRig) packet(t *testing.T, ssrc uint32, seq uint16) []byte {
	t.Helper()
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: seq, Timestamp: uint32(seq) * 960, SSRC: ssrc},
		Payload: []byte{byte(seq), byte(seq >> 8), 1, 2, 3}}
	plain, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out, err := r.enc.EncryptRTP(nil, plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// read reads the stream's next packet as the track would, within a
// second.
func (r *directRig) read(t *testing.T, rd interceptor.RTPReader) *rtp.Packet {
	t.Helper()
	r.buf.SetReadDeadline(time.Now().Add(time.Second))
	b := make([]byte, 1600)
	n, _, err := rd.Read(b, nil)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var p rtp.Packet
	if err := p.Unmarshal(b[:n]); err != nil {
		t.Fatal(err)
	}
	return &p
}

// The port's packets of an armed audio stream are decrypted into the
// stream's buffer, where its reader finds them in order; a sampled packet
// is written and left to Pion's path too, whose copy the buffer drops; a
// replay, a forged packet, RTCP, another stream, another address and a
// closed peer are not taken (or dropped, when not authentic).
func TestDirectReceiveTakesArmedAudio(t *testing.T) {
	r := newDirectRig(t)
	rd := r.dp.reader(directSSRC, true, nil)
	for seq := uint16(1); seq <= 5; seq++ {
		if !r.d.take(r.packet(t, directSSRC, seq), r.from) {
			t.Fatalf("packet %d not taken", seq)
		}
	}
	for seq := uint16(1); seq <= 5; seq++ {
		p := r.read(t, rd)
		if p.SequenceNumber != seq || p.SSRC != directSSRC || !bytes.Equal(p.Payload, []byte{byte(seq), 0, 1, 2, 3}) {
			t.Fatalf("read %+v, payload %v; want packet %d", p.Header, p.Payload, seq)
		}
	}
	if got := r.d.taken.Load(); got != 5 {
		t.Errorf("taken %d, want 5", got)
	}

	// A replay of packet 3 and a packet whose payload was altered: taken
	// off the port (Pion would drop them as well) and counted as dropped.
	replay := r.packet(t, directSSRC, 6)
	if !r.d.take(replay, r.from) {
		t.Fatal("packet 6 not taken")
	}
	if !r.d.take(replay, r.from) {
		t.Fatal("the replay of packet 6 went to Pion's path")
	}
	forged := r.packet(t, directSSRC, 7)
	forged[14] ^= 0xFF
	if !r.d.take(forged, r.from) {
		t.Fatal("a forged packet went to Pion's path")
	}
	if got := r.d.dropped.Load(); got != 2 {
		t.Errorf("dropped %d, want 2 (the replay, the forged packet)", got)
	}
	if p := r.read(t, rd); p.SequenceNumber != 6 {
		t.Fatalf("read packet %d after the replay, want 6", p.SequenceNumber)
	}

	// A sampled packet: written, and not taken off the port (Pion's path
	// sees it too); the copy Pion's session writes is dropped, once.
	sampled := r.packet(t, directSSRC, directSample)
	if r.d.take(sampled, r.from) {
		t.Fatal("a sampled packet was taken off the port")
	}
	plain := func(seq uint16) []byte {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: seq, SSRC: directSSRC}, Payload: []byte{1}}
		b, _ := p.Marshal()
		return b
	}
	r.buf.Write(plain(directSample))     // Pion's copy
	r.buf.Write(plain(directSample + 1)) // a packet only Pion's path had
	r.buf.Write(plain(directSample))     // not a copy of take's (any more)
	for _, want := range []uint16{directSample, directSample + 1, directSample} {
		if p := r.read(t, rd); p.SequenceNumber != want {
			t.Fatalf("read packet %d, want %d", p.SequenceNumber, want)
		}
	}
	if got := r.d.taken.Load(); got != 7 {
		t.Errorf("taken %d, want 7 (the sampled packet counts)", got)
	}

	// Left to Pion's path.
	rtcp := []byte{0x80, 200, 0, 6, 0x11, 0x22, 0x33, 0x44, 0, 0, 0, 0, 0, 0, 0, 0}
	for name, c := range map[string]struct {
		b    []byte
		from netip.AddrPort
	}{
		"RTCP":               {rtcp, r.from},
		"stream not audio":   {r.packet(t, 0x55667788, 8), r.from},
		"another address":    {r.packet(t, directSSRC, 9), netip.MustParseAddrPort("127.0.0.1:40001")},
		"short":              {[]byte{0x80, 111, 0, 1}, r.from},
		"not RTP version 2":  {append([]byte{0x40}, r.packet(t, directSSRC, 10)[1:]...), r.from},
		"larger than an MTU": {make([]byte, directMTU+1), r.from},
	} {
		if c.b[0] == 0 {
			c.b[0] = 0x80
		}
		if r.d.take(c.b, c.from) {
			t.Errorf("%s: taken", name)
		}
	}

	// The route follows the peer's address, and ends with it.
	moved := netip.MustParseAddrPort("127.0.0.1:40002")
	r.d.route(r.dp, moved)
	if r.d.take(r.packet(t, directSSRC, 11), r.from) {
		t.Error("taken from the address before the move")
	}
	if !r.d.take(r.packet(t, directSSRC, 12), moved) {
		t.Error("not taken from the new address")
	}
	r.dp.close()
	if r.d.take(r.packet(t, directSSRC, 13), moved) {
		t.Error("taken after close")
	}
	r.d.route(r.dp, moved)
	if r.d.take(r.packet(t, directSSRC, 14), moved) {
		t.Error("routed again after close")
	}
}

// Two connections with one remote address: the first keeps the route.
func TestDirectReceiveOneRoutePerAddress(t *testing.T) {
	r := newDirectRig(t)
	other := r.d.newPeer()
	r.d.route(other, r.from)
	r.d.mu.RLock()
	owner := r.d.routes[r.from]
	r.d.mu.RUnlock()
	if owner != r.dp {
		t.Fatal("the second connection took the first one's address")
	}
	r.dp.close()
	r.d.route(other, r.from)
	r.d.mu.RLock()
	owner = r.d.routes[r.from]
	r.d.mu.RUnlock()
	if owner != other {
		t.Fatal("the address was not free for another connection once the first closed")
	}
}

// The stream's reader gives first what Pion's read stream read from the
// buffer itself (the packet it peeks at), then the buffer's packets, as
// Pion's session and the direct receive wrote them; a closed buffer ends
// it (EOF), and leaves the peer's list.
func TestDirectReaderAfterPeek(t *testing.T) {
	r := newDirectRig(t)
	plain := func(seq uint16) []byte {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: seq, SSRC: directSSRC}, Payload: []byte{1}}
		b, _ := p.Marshal()
		return b
	}
	// Pion's session writes packet 1, its read stream peeks at it.
	if _, err := r.buf.Write(plain(1)); err != nil {
		t.Fatal(err)
	}
	peek := make([]byte, 1600)
	if _, err := r.buf.Read(peek); err != nil {
		t.Fatal(err)
	}
	if _, err := r.buf.WriteWithAttributes(plain(2), nil); err != nil {
		t.Fatal(err)
	}
	// Before the stream is bound to its reader, take leaves it alone.
	if r.d.take(r.packet(t, directSSRC, 3), r.from) {
		t.Fatal("packet 3 taken before the stream had its reader")
	}
	rd := r.dp.reader(directSSRC, true, nil)
	if !r.d.take(r.packet(t, directSSRC, 3), r.from) {
		t.Fatal("packet 3 not taken")
	}
	for seq := uint16(1); seq <= 3; seq++ {
		if p := r.read(t, rd); p.SequenceNumber != seq {
			t.Fatalf("read packet %d, want %d", p.SequenceNumber, seq)
		}
	}
	if err := r.buf.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := rd.Read(make([]byte, 1600), nil); !errors.Is(err, io.EOF) {
		t.Fatalf("read of a closed stream: %v, want EOF", err)
	}
	if r.d.take(r.packet(t, directSSRC, 4), r.from) {
		t.Error("taken for a closed stream")
	}
	// A stream that is not audio keeps Pion's reader, and its buffer
	// holds nothing of what Pion reads (the held packets are let go).
	video := r.dp.bufferFactory(packetio.RTPBufferPacket, 0x77).(*directBuffer)
	video.Write(plain(1))
	video.Read(peek)
	pionVideo := interceptor.RTPReaderFunc(func([]byte, interceptor.Attributes) (int, interceptor.Attributes, error) {
		return 0, nil, io.ErrNoProgress
	})
	if _, _, err := r.dp.reader(0x77, false, pionVideo).Read(nil, nil); !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("the reader of a video stream is not Pion's: %v", err)
	}
	for range 100 {
		video.Write(plain(2))
		video.Read(peek)
	}
	if len(video.held) != 0 {
		t.Fatalf("a video stream's buffer holds %d packets of Pion's reads", len(video.held))
	}
	// A stream without a buffer of the peer's keeps Pion's reader.
	pion := interceptor.RTPReaderFunc(func([]byte, interceptor.Attributes) (int, interceptor.Attributes, error) {
		return 0, nil, io.ErrUnexpectedEOF
	})
	if _, _, err := r.dp.reader(0x99, true, pion).Read(nil, nil); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("the reader of an unknown stream is not Pion's: %v", err)
	}
}

// Whatever arrives from an armed peer's address, take does not panic,
// and what reaches the stream is what the keys authenticate: the packet
// an SRTP context of the same keys decrypts, or nothing.
func FuzzDirectTake(f *testing.F) {
	f.Add(newDirectRig(&testing.T{}).packet(&testing.T{}, directSSRC, 5))
	f.Add([]byte{0x80, 111, 0, 1, 0, 0, 0, 1, 0x11, 0x22, 0x33, 0x44})
	f.Add([]byte{0x90, 111, 0, 2, 0, 0, 0, 1, 0x11, 0x22, 0x33, 0x44, 0xBE, 0xDE, 0, 1, 0x10, 1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := newDirectRig(t)
		r.dp.reader(directSSRC, true, nil)
		ref, err := srtp.CreateContext(directKey, directSalt, srtp.ProtectionProfileAes128CmHmacSha1_80)
		if err != nil {
			t.Fatal(err)
		}
		want, authentic := ref.DecryptRTP(nil, append([]byte(nil), b...), nil)
		r.d.take(append([]byte(nil), b...), r.from)
		switch n := r.buf.Count(); {
		case n == 0:
		case n == 1 && authentic == nil:
			got := make([]byte, 1600)
			m, _, err := r.buf.Buffer.Read(got, nil)
			if err != nil || !bytes.Equal(got[:m], want) {
				t.Fatalf("the stream got %x, the keys decrypt %x", got[:m], want)
			}
		default:
			t.Fatalf("%d packets reached the stream from %x (authentication: %v)", n, b, authentic)
		}
	})
}

// portCapture is a media port that keeps what is written to it.
type portCapture struct {
	pkts [][]byte
	to   []netip.AddrPort
}

func (c *portCapture) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	c.pkts = append(c.pkts, append([]byte(nil), b...))
	c.to = append(c.to, addr)
	return len(b), nil
}

// An armed direct send encrypts an audio stream's packets with the
// connection's keys to the selected pair's remote, but for the sampled
// ones, which go Pion's way as all do before arming and off the port.
func TestDirectSendEncryptsToThePair(t *testing.T) {
	port := &portCapture{}
	d := newDirectRTP()
	ds := d.newSend(port)
	var pion []uint16
	w := ds.writer(interceptor.RTPWriterFunc(func(h *rtp.Header, _ []byte, _ interceptor.Attributes) (int, error) {
		pion = append(pion, h.SequenceNumber)
		return 0, nil
	}))
	write := func(seq uint16) {
		t.Helper()
		h := &rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: directSSRC}
		if _, err := w.Write(h, []byte{byte(seq), 1, 2}, nil); err != nil {
			t.Fatal(err)
		}
	}
	write(1) // not armed
	enc, err := srtp.CreateContext(directKey, directSalt, srtp.ProtectionProfileAes128CmHmacSha1_80)
	if err != nil {
		t.Fatal(err)
	}
	ds.ctx.Store(enc)
	write(2) // no pair on the port
	to := netip.MustParseAddrPort("127.0.0.1:40000")
	ds.addr.Store(&to)
	for seq := uint16(3); seq <= 5; seq++ {
		write(seq)
	}
	write(directSample * 2)
	ds.close()
	write(directSample*2 + 1)
	if want := []uint16{1, 2, directSample * 2, directSample*2 + 1}; !slices.Equal(pion, want) {
		t.Errorf("Pion's writer got %v, want %v", pion, want)
	}
	dec, err := srtp.CreateContext(directKey, directSalt, srtp.ProtectionProfileAes128CmHmacSha1_80)
	if err != nil {
		t.Fatal(err)
	}
	if len(port.pkts) != 3 {
		t.Fatalf("%d packets on the port, want 3", len(port.pkts))
	}
	for i, b := range port.pkts {
		plain, err := dec.DecryptRTP(nil, b, nil)
		if err != nil {
			t.Fatalf("packet %d does not decrypt: %v", i, err)
		}
		var p rtp.Packet
		if err := p.Unmarshal(plain); err != nil {
			t.Fatal(err)
		}
		if seq := uint16(3 + i); p.SequenceNumber != seq || !bytes.Equal(p.Payload, []byte{byte(seq), 1, 2}) || port.to[i] != to {
			t.Errorf("packet %d: %+v %v to %s", i, p.Header, p.Payload, port.to[i])
		}
	}
	if d.sent.Load() != 3 {
		t.Errorf("sent counter %d, want 3", d.sent.Load())
	}
}
