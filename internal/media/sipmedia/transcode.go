package sipmedia

import (
	"fmt"
	"strings"

	"github.com/pion/rtp"

	"github.com/openwac/wac/internal/media/audiocodec"
)

// maxConcealed is the most lost packets in a row filled in with
// concealment; a longer gap (a mute, a network stall) is skipped.
const maxConcealed = 5

// transcoder turns one RTP stream of the room (Opus, G.711) into 20 ms
// packets of the trunk's codec (G.711, Opus): decoded to 48 kHz PCM, lost
// packets concealed, re-encoded (audiocodec resamples to 8 kHz for G.711),
// in a stream of its own (sequence numbers and timestamps of the trunk's
// clock, the source's SSRC). Not safe for concurrent use: one per track.
type transcoder struct {
	dec   audiocodec.Decoder
	enc   audiocodec.Encoder
	pt    uint8
	clock uint32 // the timestamp step of a packet: 20 ms of the trunk's clock

	pcm     []int16 // decoded samples not yet encoded
	frame   []int16 // one decode's samples
	payload []byte

	started bool
	next    uint16 // the source's next sequence number
	sent    bool   // a packet went out (the first carries the marker)
	seq     uint16
	ts      uint32
}

// codecOf is the audiocodec of a WebRTC MIME type (audio/opus, audio/PCMU).
func codecOf(mime string) (audiocodec.Codec, error) {
	_, name, ok := strings.Cut(mime, "/")
	if !ok {
		name = mime
	}
	return audiocodec.Lookup(name)
}

// newTranscoder makes a transcoder from the MIME type from to to, whose
// packets carry payload type pt.
func newTranscoder(from, to string, pt uint8) (*transcoder, error) {
	src, err := codecOf(from)
	if err != nil {
		return nil, err
	}
	dst, err := codecOf(to)
	if err != nil {
		return nil, err
	}
	dec, err := src.NewDecoder()
	if err != nil {
		return nil, err
	}
	enc, err := dst.NewEncoder(audiocodec.EncoderOptions{})
	if err != nil {
		return nil, err
	}
	return &transcoder{dec: dec, enc: enc, pt: pt, clock: uint32(dst.FrameClock), frame: make([]int16, audiocodec.MaxFrameSamples),
		payload: make([]byte, audiocodec.MaxPayload)}, nil
}

// push takes one packet of the source and returns the packets for the
// trunk it completes (none, one, or a few after a long source frame).
func (tc *transcoder) push(p *rtp.Packet) ([][]byte, error) {
	if tc.started {
		gap := p.SequenceNumber - tc.next
		if gap >= 0x8000 {
			return nil, nil // late or repeated: its time has passed
		}
		if gap > 0 && gap <= maxConcealed {
			for range gap {
				n, err := tc.dec.Conceal(tc.frame)
				if err != nil {
					break
				}
				tc.pcm = append(tc.pcm, tc.frame[:n]...)
			}
		}
	}
	tc.started, tc.next = true, p.SequenceNumber+1
	n, err := tc.dec.Decode(p.Payload, tc.frame)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	tc.pcm = append(tc.pcm, tc.frame[:n]...)
	var out [][]byte
	off := 0
	for ; len(tc.pcm)-off >= audiocodec.FrameSamples; off += audiocodec.FrameSamples {
		m, err := tc.enc.Encode(tc.pcm[off:off+audiocodec.FrameSamples], tc.payload)
		if err != nil {
			return out, fmt.Errorf("encode: %w", err)
		}
		tc.seq++
		tc.ts += tc.clock
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: tc.pt, SequenceNumber: tc.seq, Timestamp: tc.ts,
			SSRC: p.SSRC, Marker: !tc.sent}, Payload: tc.payload[:m]}
		tc.sent = true
		b, err := pkt.Marshal()
		if err != nil {
			return out, err
		}
		out = append(out, b)
	}
	// The leftover (less than a frame) moves to the front of the buffer.
	tc.pcm = tc.pcm[:copy(tc.pcm, tc.pcm[off:])]
	return out, nil
}
