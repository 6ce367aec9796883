package forward

import (
	"testing"
	"time"

	"github.com/pion/rtp"
)

type seqWriter struct{ seqs []uint16 }

func (w *seqWriter) WriteRTP(h *rtp.Header, _ []byte) (int, error) {
	w.seqs = append(w.seqs, h.SequenceNumber)
	return 0, nil
}

func (w *seqWriter) Write(b []byte) (int, error) { return len(b), nil }

// A source whose sequence numbers jump wildly still gives the subscriber
// one continuous sequence (its SRTP rollover counting depends on it), and
// small reorderings pass through.
func TestDownTrackSequence(t *testing.T) {
	src := New(Options{}).NewStream(StreamConfig{Kind: "audio"})
	d := NewDownTrack(src, "t", "s")
	w := &seqWriter{}
	d.writer = w
	var mem slab
	send := func(seqs ...uint16) {
		for _, q := range seqs {
			d.WriteRTP(&Packet{Header: &rtp.Header{Version: 2, SequenceNumber: q}, Payload: []byte{1}, Arrival: time.Now().UnixNano(), mem: &mem})
		}
	}
	send(100, 101, 102, 60000, 60001, 103, 104, 106, 105)
	want := []uint16{100, 101, 102, 103, 104, 105, 106, 108, 107}
	if len(w.seqs) != len(want) {
		t.Fatalf("forwarded %v", w.seqs)
	}
	for i := range want {
		if w.seqs[i] != want[i] {
			t.Fatalf("forwarded %v, want %v", w.seqs, want)
		}
	}
}
