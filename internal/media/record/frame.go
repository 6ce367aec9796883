package record

import (
	"encoding/binary"
	"strings"

	"github.com/pion/rtp/codecs"
)

// codec is what a track records.
type codec int

const (
	codecNone codec = iota
	codecOpus
	codecVP8
	codecH264
)

// codecOf maps a MIME type (audio/opus, video/VP8) to the codecs recorded.
func codecOf(mime string) codec {
	switch strings.ToLower(mime) {
	case "audio/opus":
		return codecOpus
	case "video/vp8":
		return codecVP8
	case "video/h264":
		return codecH264
	}
	return codecNone
}

// packet is one RTP packet as a track keeps it.
type packet struct {
	seq     uint16
	ts      uint32
	marker  bool
	arrival int64 // unix nanoseconds
	payload []byte
}

// frame is one media frame rebuilt from packets.
type frame struct {
	ts   uint32
	key  bool
	data []byte
}

// assembler rebuilds frames from packets given in sequence order; lost
// packets are announced with gap.
type assembler struct {
	c       codec
	h264    codecs.H264Packet
	cur     []byte
	curTS   uint32
	curKey  bool
	inFrame bool
	broken  bool // a packet of the current frame was lost
	// waitKey drops video frames until a keyframe: at the start, and
	// after a loss broke the picture.
	waitKey bool
	sps     []byte
	pps     []byte
}

func newAssembler(c codec) *assembler {
	a := &assembler{c: c, waitKey: c != codecOpus}
	a.h264.IsAVC = true
	return a
}

// gap tells the assembler packets were lost before the next one.
func (a *assembler) gap() {
	if a.c == codecOpus {
		return
	}
	a.broken = true
	a.waitKey = true
}

// push adds a packet and returns a frame when one is complete. needKey
// is set when the assembler drops frames until the next keyframe (the
// caller asks the publisher for one).
func (a *assembler) push(p *packet) (f *frame, needKey bool) {
	switch a.c {
	case codecOpus:
		if len(p.payload) == 0 {
			return nil, false
		}
		return &frame{ts: p.ts, key: true, data: p.payload}, false
	case codecVP8:
		return a.pushVP8(p)
	case codecH264:
		return a.pushH264(p)
	}
	return nil, false
}

// startFrame begins a new frame at ts, dropping an unfinished one.
func (a *assembler) startFrame(ts uint32) {
	a.cur, a.curTS, a.inFrame, a.broken, a.curKey = a.cur[:0], ts, true, false, false
}

// finish returns the current frame if it is whole and may be written.
func (a *assembler) finish() (*frame, bool) {
	a.inFrame = false
	if a.broken || len(a.cur) == 0 {
		return nil, a.waitKey
	}
	if a.waitKey && !a.curKey {
		return nil, true
	}
	a.waitKey = false
	// The frame is written before the next packet comes: it may share
	// the assembler's buffer.
	return &frame{ts: a.curTS, key: a.curKey, data: a.cur}, false
}

func (a *assembler) pushVP8(p *packet) (*frame, bool) {
	var vp codecs.VP8Packet
	payload, err := vp.Unmarshal(p.payload)
	if err != nil {
		a.gap()
		return nil, true
	}
	if vp.S == 1 && vp.PID == 0 {
		a.startFrame(p.ts)
		a.curKey = len(payload) > 0 && payload[0]&0x01 == 0
	} else if !a.inFrame || p.ts != a.curTS {
		// The start of this frame was lost.
		a.broken, a.waitKey = true, true
		a.inFrame, a.curTS = true, p.ts
	}
	a.cur = append(a.cur, payload...)
	if !p.marker {
		return nil, false
	}
	return a.finish()
}

func (a *assembler) pushH264(p *packet) (*frame, bool) {
	if !a.inFrame || p.ts != a.curTS {
		if a.inFrame && !a.broken && len(a.cur) > 0 {
			// A frame without its marker: the new timestamp ends it.
			if f, _ := a.finish(); f != nil {
				f.data = append([]byte(nil), f.data...) // a.cur is reused at once
				a.startFrame(p.ts)
				a.addH264(p)
				return f, false
			}
		}
		a.startFrame(p.ts)
	}
	a.addH264(p)
	if !p.marker {
		return nil, false
	}
	return a.finish()
}

// addH264 appends the packet's NAL units (length-prefixed) and notes
// keyframes and parameter sets.
func (a *assembler) addH264(p *packet) {
	out, err := a.h264.Unmarshal(p.payload)
	if err != nil {
		a.broken = true
		return
	}
	for rest := out; len(rest) >= 4; {
		n := int(binary.BigEndian.Uint32(rest))
		if n <= 0 || n > len(rest)-4 {
			break
		}
		nalu := rest[4 : 4+n]
		switch nalu[0] & 0x1f {
		case 5:
			a.curKey = true
		case 7:
			a.sps = append(a.sps[:0], nalu...)
		case 8:
			a.pps = append(a.pps[:0], nalu...)
		}
		rest = rest[4+n:]
	}
	a.cur = append(a.cur, out...)
}

// avcConfig is the avcC record (CodecPrivate of V_MPEG4/ISO/AVC) from the
// parameter sets seen, or nil before both were.
func (a *assembler) avcConfig() []byte {
	if len(a.sps) < 4 || len(a.pps) == 0 {
		return nil
	}
	b := []byte{1, a.sps[1], a.sps[2], a.sps[3], 0xff, 0xe1}
	b = binary.BigEndian.AppendUint16(b, uint16(len(a.sps)))
	b = append(b, a.sps...)
	b = append(b, 1)
	b = binary.BigEndian.AppendUint16(b, uint16(len(a.pps)))
	return append(b, a.pps...)
}

// vp8Size reads the picture size of a VP8 keyframe (0, 0 if it is none).
func vp8Size(data []byte) (w, h int) {
	if len(data) < 10 || data[0]&0x01 != 0 || data[3] != 0x9d || data[4] != 0x01 || data[5] != 0x2a {
		return 0, 0
	}
	return int(binary.LittleEndian.Uint16(data[6:]) & 0x3fff), int(binary.LittleEndian.Uint16(data[8:]) & 0x3fff)
}

// opusHead is the CodecPrivate of an Opus track: stereo, 48 kHz.
func opusHead() []byte {
	b := []byte("OpusHead")
	b = append(b, 1, 2)
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint32(b, 48000)
	return append(b, 0, 0, 0)
}
