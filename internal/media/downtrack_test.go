package media

import (
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/media/placement"
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
	s := &SFU{cfg: config.Default().Media}
	src := &pubStream{owner: &participant{room: newRoom(s, "r", 1, placement.RoomOptions{})}, kind: "audio"}
	d := newDownTrack(src, "t")
	w := &seqWriter{}
	d.writer = w
	var mem slab
	send := func(seqs ...uint16) {
		for _, q := range seqs {
			d.write(&rtp.Header{Version: 2, SequenceNumber: q}, []byte{1}, 0, false, time.Now().UnixNano(), &mem)
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
