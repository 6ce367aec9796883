package forward

import (
	"strings"

	"github.com/pion/webrtc/v4"
)

// codecKind names the video payload formats whose keyframes the SFU
// recognizes (to switch simulcast layers and feeds on a keyframe).
type codecKind uint8

const (
	codecOther codecKind = iota
	codecVP8
	codecVP9
	codecH264
	codecAV1
)

func codecKindOf(mime string) codecKind {
	switch strings.ToLower(mime) {
	case "video/vp8":
		return codecVP8
	case "video/vp9":
		return codecVP9
	case "video/h264":
		return codecH264
	case "video/av1":
		return codecAV1
	}
	return codecOther
}

// isKeyframe reports whether an RTP payload starts a keyframe. It reads
// only what it needs and never panics on short or malformed input.
func isKeyframe(kind codecKind, p []byte) bool {
	switch kind {
	case codecVP8:
		return vp8Keyframe(p)
	case codecVP9:
		return vp9Keyframe(p)
	case codecH264:
		return h264Keyframe(p)
	case codecAV1:
		return av1Keyframe(p)
	}
	return false
}

// vp8Keyframe parses the VP8 payload descriptor (RFC 7741 section 4.2)
// and the first byte of the VP8 frame header.
func vp8Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	x, s, pid := p[0]&0x80 != 0, p[0]&0x10 != 0, p[0]&0x07
	if !s || pid != 0 {
		return false // not the first packet of a partition 0
	}
	i := 1
	if x {
		if len(p) < 2 {
			return false
		}
		ext := p[1]
		i = 2
		if ext&0x80 != 0 { // I: picture id
			if len(p) <= i {
				return false
			}
			if p[i]&0x80 != 0 { // M: 15-bit picture id
				i++
			}
			i++
		}
		if ext&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if ext&0x30 != 0 { // T or K: TID/KEYIDX byte
			i++
		}
	}
	if len(p) <= i {
		return false
	}
	return p[i]&0x01 == 0 // P bit of the frame tag: 0 = keyframe
}

// vp9Keyframe reads the VP9 payload descriptor: a start of frame that is
// not inter-predicted, on the base spatial layer.
func vp9Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	i, b, l := p[0]&0x80 != 0, p[0]&0x08 != 0, p[0]&0x20 != 0
	interPredicted := p[0]&0x40 != 0
	if !b || interPredicted {
		return false
	}
	if !l {
		return true
	}
	off := 1
	if i {
		if len(p) <= off {
			return false
		}
		if p[off]&0x80 != 0 {
			off++
		}
		off++
	}
	if len(p) <= off {
		return false
	}
	return p[off]>>1&0x07 == 0 // spatial id 0
}

// h264Keyframe finds an IDR slice or an SPS in a single NAL unit, a STAP-A
// aggregate or the first fragment of an FU-A (RFC 6184).
func h264Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	switch t := p[0] & 0x1f; {
	case t == 5 || t == 7:
		return true
	case t == 24: // STAP-A
		for i := 1; i+2 < len(p); {
			n := int(p[i])<<8 | int(p[i+1])
			i += 2
			if n == 0 || i+n > len(p) {
				return false
			}
			if nt := p[i] & 0x1f; nt == 5 || nt == 7 {
				return true
			}
			i += n
		}
	case t == 28: // FU-A
		return len(p) >= 2 && p[1]&0x80 != 0 && (p[1]&0x1f == 5 || p[1]&0x1f == 7)
	}
	return false
}

// av1Keyframe reads the N bit of the AV1 aggregation header: the first
// packet of a coded video sequence.
func av1Keyframe(p []byte) bool {
	return len(p) >= 1 && p[0]&0x08 != 0
}

// audioLevel decodes the ssrc-audio-level extension (RFC 6464): the level
// in -dBov (0 loudest, 127 silence).
func audioLevel(ext []byte) (level uint8, ok bool) {
	if len(ext) < 1 {
		return 0, false
	}
	return ext[0] & 0x7f, true
}

// SameCodec compares codecs the way an SFU must: same format and, for
// H.264, same profile and packetization mode; for VP9, same profile.
func SameCodec(a, b webrtc.RTPCodecCapability) bool {
	if !strings.EqualFold(a.MimeType, b.MimeType) || a.ClockRate != b.ClockRate {
		return false
	}
	switch {
	case strings.EqualFold(a.MimeType, webrtc.MimeTypeH264):
		pa, pb := fmtpValue(a.SDPFmtpLine, "profile-level-id", "42001f"), fmtpValue(b.SDPFmtpLine, "profile-level-id", "42001f")
		if len(pa) >= 4 && len(pb) >= 4 {
			pa, pb = pa[:4], pb[:4] // profile and constraints; the level may differ
		}
		return strings.EqualFold(pa, pb) &&
			fmtpValue(a.SDPFmtpLine, "packetization-mode", "0") == fmtpValue(b.SDPFmtpLine, "packetization-mode", "0")
	case strings.EqualFold(a.MimeType, webrtc.MimeTypeVP9):
		return fmtpValue(a.SDPFmtpLine, "profile-id", "0") == fmtpValue(b.SDPFmtpLine, "profile-id", "0")
	}
	return true
}

// fmtpValue returns the value of key in an fmtp line, or def.
func fmtpValue(fmtp, key, def string) string {
	for _, kv := range strings.Split(fmtp, ";") {
		if k, v, ok := strings.Cut(strings.TrimSpace(kv), "="); ok && strings.EqualFold(k, key) {
			return v
		}
	}
	return def
}
