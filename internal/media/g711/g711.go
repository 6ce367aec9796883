// Package g711 converts 16-bit linear PCM to and from ITU-T G.711 μ-law
// (PCMU, RTP payload type 0) and A-law (PCMA, payload type 8), one byte per
// sample at 8 kHz. The encoders compute the companded code directly; the
// decoders read a 256-entry table built once when the package loads. The
// codes are the ones of the ITU reference (and of ffmpeg's pcm_mulaw and
// pcm_alaw), which the tests check against ffmpeg sample for sample.
package g711

const (
	ulawBias = 0x84
	ulawClip = 32635
)

// EncodeULaw writes the μ-law code of each sample of pcm to dst, which
// must be at least as long, and returns dst[:len(pcm)].
func EncodeULaw(dst []byte, pcm []int16) []byte {
	dst = dst[:len(pcm)]
	for i, s := range pcm {
		dst[i] = ULaw(s)
	}
	return dst
}

// DecodeULaw writes the linear sample of each μ-law code of src to dst,
// which must be at least as long, and returns dst[:len(src)].
func DecodeULaw(dst []int16, src []byte) []int16 {
	dst = dst[:len(src)]
	for i, c := range src {
		dst[i] = ulawTable[c]
	}
	return dst
}

// EncodeALaw is EncodeULaw for A-law.
func EncodeALaw(dst []byte, pcm []int16) []byte {
	dst = dst[:len(pcm)]
	for i, s := range pcm {
		dst[i] = ALaw(s)
	}
	return dst
}

// DecodeALaw is DecodeULaw for A-law.
func DecodeALaw(dst []int16, src []byte) []int16 {
	dst = dst[:len(src)]
	for i, c := range src {
		dst[i] = alawTable[c]
	}
	return dst
}

// ULaw is the μ-law code of one sample.
func ULaw(s int16) byte {
	v := int32(s)
	var sign int32
	if v < 0 {
		sign = 0x80
		v = -v
	}
	if v > ulawClip {
		v = ulawClip
	}
	v += ulawBias
	exp := int32(7)
	for mask := int32(0x4000); exp > 0 && v&mask == 0; mask >>= 1 {
		exp--
	}
	mant := (v >> (exp + 3)) & 0x0F
	return ^byte(sign | exp<<4 | mant)
}

// ULawSample is the linear sample of one μ-law code.
func ULawSample(c byte) int16 { return ulawTable[c] }

// ALaw is the A-law code of one sample.
func ALaw(s int16) byte {
	v := int32(s) >> 3 // A-law codes 13 bits
	mask := int32(0xD5)
	if v < 0 {
		mask = 0x55
		v = -v - 1
	}
	seg := int32(0)
	for end := int32(0x1F); seg < 8 && v > end; end = end<<1 | 1 {
		seg++
	}
	if seg >= 8 {
		return byte(0x7F ^ mask)
	}
	a := seg << 4
	if seg < 2 {
		a |= (v >> 1) & 0x0F
	} else {
		a |= (v >> seg) & 0x0F
	}
	return byte(a ^ mask)
}

// ALawSample is the linear sample of one A-law code.
func ALawSample(c byte) int16 { return alawTable[c] }

// The decoding tables: read-only after the package loads.
var (
	ulawTable = buildTable(ulawDecode)
	alawTable = buildTable(alawDecode)
)

func buildTable(decode func(byte) int16) (t [256]int16) {
	for i := range t {
		t[i] = decode(byte(i))
	}
	return t
}

func ulawDecode(c byte) int16 {
	c = ^c
	exp := int32(c>>4) & 7
	t := ((int32(c&0x0F) << 3) + ulawBias) << exp
	t -= ulawBias
	if c&0x80 != 0 {
		return int16(-t)
	}
	return int16(t)
}

func alawDecode(c byte) int16 {
	c ^= 0x55
	t := int32(c&0x0F) << 4
	seg := int32(c&0x70) >> 4
	switch seg {
	case 0:
		t += 8
	case 1:
		t += 0x108
	default:
		t += 0x108
		t <<= seg - 1
	}
	if c&0x80 != 0 {
		return int16(t)
	}
	return int16(-t)
}
