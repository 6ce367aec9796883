// Package audiocodec decodes and encodes the voice codecs of the mixer and
// the phone legs: G.711 μ-law (PCMU) and A-law (PCMA) at 8 kHz, and Opus at
// 48 kHz, all in pure Go (Opus is github.com/thesyncim/gopus). Every
// decoder writes, and every encoder reads, 16-bit mono PCM at 48 kHz
// (Rate): G.711 streams are resampled on the way, so that the mixer sums
// all legs in one format. Decoders and encoders keep the state of one
// stream and are not safe for concurrent use.
package audiocodec

import (
	"fmt"
	"math"
	"strings"

	"github.com/thesyncim/gopus"

	"github.com/openwac/wac/internal/media/g711"
	"github.com/openwac/wac/internal/media/resample"
)

// Rate is the sample rate of the PCM of decoders and encoders.
const Rate = 48000

// FrameSamples is the number of samples of one 20 ms frame at Rate: what
// an encoder takes at a time.
const FrameSamples = Rate / 50

// MaxFrameSamples is the most samples one packet can decode to at Rate
// (Opus: 120 ms); a decoder's PCM buffer must hold that many.
const MaxFrameSamples = 6 * FrameSamples

// MaxPayload is the largest payload an encoder writes (an Opus packet at
// its highest bitrate; G.711 writes 160 bytes).
const MaxPayload = 1275

// Codec describes one codec as SDP names it.
type Codec struct {
	Name        string // the SDP encoding name: PCMU, PCMA, opus
	ClockRate   int    // the RTP clock rate
	Channels    int    // the SDP channel count (opus/48000/2 is mono or stereo)
	PayloadType uint8  // the static payload type, or the usual dynamic one
	// FrameClock is how far the RTP timestamp moves per 20 ms frame.
	FrameClock int
}

// PCMU is G.711 μ-law.
func PCMU() Codec {
	return Codec{Name: "PCMU", ClockRate: 8000, Channels: 1, PayloadType: 0, FrameClock: 160}
}

// PCMA is G.711 A-law.
func PCMA() Codec {
	return Codec{Name: "PCMA", ClockRate: 8000, Channels: 1, PayloadType: 8, FrameClock: 160}
}

// Opus is Opus as WebRTC offers it (opus/48000/2, payload type 111 in
// browsers' offers).
func Opus() Codec {
	return Codec{Name: "opus", ClockRate: 48000, Channels: 2, PayloadType: 111, FrameClock: 960}
}

// Lookup finds a codec by its SDP encoding name (any case).
func Lookup(name string) (Codec, error) {
	for _, c := range []Codec{PCMU(), PCMA(), Opus()} {
		if strings.EqualFold(c.Name, name) {
			return c, nil
		}
	}
	return Codec{}, fmt.Errorf("audiocodec: unknown codec %q (PCMU, PCMA, opus)", name)
}

// Decoder turns a stream's payloads into PCM at Rate.
type Decoder interface {
	// Decode writes the samples of payload to pcm (at least
	// MaxFrameSamples long) and returns how many it wrote.
	Decode(payload []byte, pcm []int16) (int, error)
	// Conceal writes one 20 ms frame in place of a lost packet.
	Conceal(pcm []int16) (int, error)
}

// Encoder turns 20 ms frames of PCM at Rate into payloads.
type Encoder interface {
	// Encode encodes pcm (FrameSamples long) into out (at least
	// MaxPayload long) and returns the payload's length.
	Encode(pcm []int16, out []byte) (int, error)
}

// Recoverer is a Decoder that can rebuild a lost packet from the one
// after it (Opus in-band FEC, which browsers send with useinbandfec=1).
type Recoverer interface {
	// Recover writes the 20 ms lost before next from next's FEC data;
	// false when next carries none (then conceal).
	Recover(next []byte, pcm []int16) (int, bool, error)
}

// EncoderOptions tune an Opus encoder; G.711 has none.
type EncoderOptions struct {
	Bitrate    int  // bits per second; 0 is 32000
	Complexity int  // 0-10; 0 is 5, a fair cost for voice in a mixer
	FEC        bool // in-band FEC, tuned for 10% loss (more bits for the same quality)
}

// NewDecoder returns a decoder of one stream of c.
func (c Codec) NewDecoder() (Decoder, error) {
	switch c.Name {
	case "PCMU":
		return &g711Decoder{decode: g711.DecodeULaw}, nil
	case "PCMA":
		return &g711Decoder{decode: g711.DecodeALaw}, nil
	case "opus":
		d, err := gopus.NewDecoder(gopus.DefaultDecoderConfig(Rate, 1))
		if err != nil {
			return nil, fmt.Errorf("audiocodec: opus decoder: %w", err)
		}
		return &opusDecoder{dec: d}, nil
	}
	return nil, fmt.Errorf("audiocodec: no decoder for %q", c.Name)
}

// NewEncoder returns an encoder of one stream of c.
func (c Codec) NewEncoder(opt EncoderOptions) (Encoder, error) {
	switch c.Name {
	case "PCMU":
		return &g711Encoder{encode: g711.EncodeULaw}, nil
	case "PCMA":
		return &g711Encoder{encode: g711.EncodeALaw}, nil
	case "opus":
		e, err := gopus.NewEncoder(gopus.EncoderConfig{SampleRate: Rate, Channels: 1, Application: gopus.ApplicationVoIP})
		if err != nil {
			return nil, fmt.Errorf("audiocodec: opus encoder: %w", err)
		}
		if opt.Bitrate == 0 {
			opt.Bitrate = 32000
		}
		if opt.Complexity == 0 {
			opt.Complexity = 5
		}
		if err := e.SetBitrate(opt.Bitrate); err != nil {
			return nil, fmt.Errorf("audiocodec: opus bitrate %d: %w", opt.Bitrate, err)
		}
		if err := e.SetComplexity(opt.Complexity); err != nil {
			return nil, fmt.Errorf("audiocodec: opus complexity %d: %w", opt.Complexity, err)
		}
		if err := e.SetSignal(gopus.SignalVoice); err != nil {
			return nil, fmt.Errorf("audiocodec: opus signal: %w", err)
		}
		if opt.FEC {
			if err := e.SetInBandFEC(gopus.InBandFECEnabled); err != nil {
				return nil, fmt.Errorf("audiocodec: opus FEC: %w", err)
			}
			if err := e.SetPacketLoss(10); err != nil {
				return nil, fmt.Errorf("audiocodec: opus packet loss: %w", err)
			}
		}
		return &opusEncoder{enc: e}, nil
	}
	return nil, fmt.Errorf("audiocodec: no encoder for %q", c.Name)
}

// maxG711Payload is the longest G.711 payload decoded: 120 ms, so that it
// fits MaxFrameSamples once resampled.
const maxG711Payload = MaxFrameSamples / resample.Factor

type g711Decoder struct {
	decode func([]int16, []byte) []int16
	up     resample.Up
	narrow [maxG711Payload]int16
}

func (d *g711Decoder) Decode(payload []byte, pcm []int16) (int, error) {
	if len(payload) > maxG711Payload {
		return 0, fmt.Errorf("audiocodec: G.711 payload of %d bytes (more than %d)", len(payload), maxG711Payload)
	}
	n := d.decode(d.narrow[:], payload)
	return len(d.up.Process(pcm, n)), nil
}

// Conceal plays silence: G.711 has no concealment of its own, and a
// repeated frame buzzes more than a gap of 20 ms.
func (d *g711Decoder) Conceal(pcm []int16) (int, error) {
	clear(d.narrow[:FrameSamples/resample.Factor])
	return len(d.up.Process(pcm, d.narrow[:FrameSamples/resample.Factor])), nil
}

type g711Encoder struct {
	encode func([]byte, []int16) []byte
	down   resample.Down
	narrow [FrameSamples/resample.Factor + 1]int16
}

func (e *g711Encoder) Encode(pcm []int16, out []byte) (int, error) {
	if len(pcm) != FrameSamples {
		return 0, fmt.Errorf("audiocodec: %d samples to encode, want %d", len(pcm), FrameSamples)
	}
	n := e.down.Process(e.narrow[:], pcm)
	return len(e.encode(out, n)), nil
}

type opusDecoder struct {
	dec *gopus.Decoder
	fec [FrameSamples]float32
}

func (d *opusDecoder) Decode(payload []byte, pcm []int16) (int, error) {
	if len(payload) == 0 {
		return 0, fmt.Errorf("audiocodec: empty opus payload")
	}
	n, err := d.dec.DecodeInt16(payload, pcm)
	if err != nil {
		return 0, fmt.Errorf("audiocodec: opus decode: %w", err)
	}
	return n, nil
}

func (d *opusDecoder) Conceal(pcm []int16) (int, error) {
	n, err := d.dec.DecodeInt16(nil, pcm[:FrameSamples])
	if err != nil {
		return 0, fmt.Errorf("audiocodec: opus concealment: %w", err)
	}
	return n, nil
}

func (d *opusDecoder) Recover(next []byte, pcm []int16) (int, bool, error) {
	if len(next) == 0 || !gopus.PacketHasLBRR(next) {
		return 0, false, nil
	}
	n, err := d.dec.DecodeWithFEC(next, d.fec[:], true)
	if err != nil {
		return 0, false, fmt.Errorf("audiocodec: opus FEC: %w", err)
	}
	for i, f := range d.fec[:n] {
		pcm[i] = int16(max(-32768, min(32767, math.Round(float64(f)*32768))))
	}
	return n, true, nil
}

type opusEncoder struct {
	enc *gopus.Encoder
}

func (e *opusEncoder) Encode(pcm []int16, out []byte) (int, error) {
	if len(pcm) != FrameSamples {
		return 0, fmt.Errorf("audiocodec: %d samples to encode, want %d", len(pcm), FrameSamples)
	}
	n, err := e.enc.EncodeInt16(pcm, out)
	if err != nil {
		return 0, fmt.Errorf("audiocodec: opus encode: %w", err)
	}
	return n, nil
}
