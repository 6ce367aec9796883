package videoroom

import (
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// packetSource is the bottom of a test chain: it reads the packets it
// holds in turn, with the Attributes attr (nil as Pion's SRTP reader
// passes on a nil map).
type packetSource struct {
	pkts [][]byte
	attr interceptor.Attributes
}

func (s *packetSource) Read(b []byte, _ interceptor.Attributes) (int, interceptor.Attributes, error) {
	p := s.pkts[0]
	s.pkts = append(s.pkts[1:], p)
	return copy(b, p), s.attr, nil
}

func marshalRTP(t testing.TB, h rtp.Header, payload []byte) []byte {
	t.Helper()
	b, err := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The interceptors above headerOnce find each packet's own header in the
// Attributes, without a map or a header allocated per packet.
func TestHeaderOnceGivesEachPacketsHeader(t *testing.T) {
	withLevel := rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: 7, Timestamp: 960, SSRC: 42, Marker: true}
	if err := withLevel.SetExtension(1, []byte{0x85}); err != nil {
		t.Fatal(err)
	}
	src := &packetSource{pkts: [][]byte{
		marshalRTP(t, withLevel, []byte{1, 2, 3}),
		marshalRTP(t, rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: 8, Timestamp: 1920, SSRC: 42}, []byte{4}),
		marshalRTP(t, rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 9, Timestamp: 2880, SSRC: 43, CSRC: []uint32{5}}, []byte{6}),
	}}
	i, err := headerOnce{}.NewInterceptor("")
	if err != nil {
		t.Fatal(err)
	}
	r := i.BindRemoteStream(&interceptor.StreamInfo{SSRC: 42}, src)
	buf := make([]byte, 1500)
	read := func() *rtp.Header {
		n, attr, err := r.Read(buf, nil)
		if err != nil {
			t.Fatal(err)
		}
		h, err := attr.GetRTPHeader(buf[:n])
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	for round := range 2 {
		h := read()
		if h.SequenceNumber != 7 || h.Timestamp != 960 || !h.Marker || !h.Extension || len(h.GetExtension(1)) != 1 || h.GetExtension(1)[0] != 0x85 {
			t.Fatalf("round %d: first header %+v", round, h)
		}
		h = read()
		if h.SequenceNumber != 8 || h.Timestamp != 1920 || h.Marker || h.Extension || h.GetExtension(1) != nil {
			t.Fatalf("round %d: second header %+v", round, h)
		}
		h = read()
		if h.SequenceNumber != 9 || h.SSRC != 43 || h.PayloadType != 0 || len(h.CSRC) != 1 || h.CSRC[0] != 5 {
			t.Fatalf("round %d: third header %+v", round, h)
		}
	}
	if allocs := testing.AllocsPerRun(300, func() { read() }); allocs != 0 {
		t.Errorf("%.1f allocations per packet, want 0", allocs)
	}

	// Attributes made below are handed up as they are.
	theirs := interceptor.Attributes{"k": "v"}
	src.attr = theirs
	_, attr, err := r.Read(buf, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(attr) != 1 || attr["k"] != "v" {
		t.Errorf("Attributes from below came up as %v", attr)
	}

	// A packet that is not RTP is refused, as the interceptors above
	// would have refused it.
	src.attr, src.pkts = nil, [][]byte{{0x80}}
	if _, _, err := r.Read(buf, nil); err == nil {
		t.Error("a 1-byte packet was read without an error")
	}
}

// Pion's receiver reports, above headerOnce as in a publisher's chain,
// still count the packets read.
func TestHeaderOnceUnderReceiverReports(t *testing.T) {
	var pkts [][]byte
	for seq := uint16(100); seq < 110; seq++ {
		pkts = append(pkts, marshalRTP(t, rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: 42}, make([]byte, 160)))
	}
	src := &packetSource{pkts: pkts}
	f, err := report.NewReceiverInterceptor(report.ReceiverInterval(10 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	rr, err := f.NewInterceptor("")
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Close()
	once, err := headerOnce{}.NewInterceptor("")
	if err != nil {
		t.Fatal(err)
	}
	reports := make(chan *rtcp.ReceiverReport, 100)
	rr.BindRTCPWriter(interceptor.RTCPWriterFunc(func(ps []rtcp.Packet, _ interceptor.Attributes) (int, error) {
		for _, p := range ps {
			if r, ok := p.(*rtcp.ReceiverReport); ok {
				select {
				case reports <- r:
				default:
				}
			}
		}
		return 0, nil
	}))
	info := &interceptor.StreamInfo{SSRC: 42, ClockRate: 8000}
	r := rr.BindRemoteStream(info, once.BindRemoteStream(info, src))
	buf := make([]byte, 1500)
	for range pkts {
		if _, _, err := r.Read(buf, nil); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case rep := <-reports:
			if len(rep.Reports) == 1 && rep.Reports[0].SSRC == 42 && rep.Reports[0].LastSequenceNumber == 109 {
				if rep.Reports[0].TotalLost != 0 {
					t.Errorf("report of 10 packets in a row counts %d lost", rep.Reports[0].TotalLost)
				}
				return
			}
		case <-deadline:
			t.Fatal("no receiver report of the packets read (last sequence number 109)")
		}
	}
}
