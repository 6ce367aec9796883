package sip

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pion/sdp/v3"
)

// Codec is an audio codec spoken with the trunk.
type Codec struct {
	Name        string // PCMU, PCMA, opus (the SDP encoding name)
	PayloadType uint8
	ClockRate   uint32
	// Channels is the rtpmap's channel count when it has one (opus/48000/2,
	// RFC 7587: always 2, whether the stream is mono or stereo); 0 = none.
	Channels uint8
	// Fmtp is what we ask of the codec in our SDP (a=fmtp); "" = nothing.
	Fmtp string
}

// frameClock is how far the RTP timestamp moves in 20 ms, the packet time
// of everything sent to the trunk.
func (c Codec) frameClock() uint32 { return c.ClockRate / 50 }

// The codecs of trunk.codecs, by their names there. Opus takes the payload
// type browsers give it (dynamic: the trunk's own type is used once it
// answers or offers). minptime=10 and useinbandfec=1 are what browsers ask
// of a sender; the audiocodec decoder reads in-band FEC.
var codecsByName = map[string]Codec{
	"pcmu": {Name: "PCMU", PayloadType: 0, ClockRate: 8000},
	"pcma": {Name: "PCMA", PayloadType: 8, ClockRate: 8000},
	"opus": {Name: "opus", PayloadType: 111, ClockRate: 48000, Channels: 2, Fmtp: "minptime=10;useinbandfec=1"},
}

// errNoCodec is an offer or answer without a codec of trunk.codecs (488).
var errNoCodec = errors.New("no common audio codec")

// maxSDP bounds a session description from the trunk.
const maxSDP = 16 << 10

// remoteMedia is what an SDP offer or answer from the trunk says about its
// audio: where to send RTP and with which codec.
type remoteMedia struct {
	Addr  *net.UDPAddr
	Codec Codec
	// Events is the payload type of the SDP's telephone-event (RFC 4733
	// DTMF); 0 = none (0 is PCMU, never an event type). EventClock is its
	// clock rate: Codec's, or 8000 next to Opus from a phone that offers
	// telephone-event/8000 alone.
	Events     uint8
	EventClock uint32
}

// eventTypes are the telephone-events of our answer to m: its own.
func (m *remoteMedia) eventTypes() []eventType {
	if m.Events == 0 {
		return nil
	}
	return []eventType{{pt: m.Events, clock: m.EventClock}}
}

// DefaultEventPT is the payload type of telephone-event/8000 in our
// offers of G.711 first (a dynamic one, the usual choice of phones and
// PBXs); the events at the next clock rate of the offer take the next type
// (buildSDP).
const DefaultEventPT = 101

// parseSDP reads the audio of an SDP from the trunk: the first audio
// stream with a port, its connection address (the stream's, else the
// session's), the first of its formats that is one of ours (in the order
// of the SDP, which is the sender's preference) and the telephone-event at
// that codec's clock rate (eventsOf). A stream on hold (0.0.0.0) keeps its
// address unset.
func parseSDP(body []byte, ours []Codec) (*remoteMedia, error) {
	if len(body) == 0 {
		return nil, errors.New("no SDP")
	}
	if len(body) > maxSDP {
		return nil, fmt.Errorf("SDP larger than %d bytes", maxSDP)
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(string(body)); err != nil {
		return nil, fmt.Errorf("bad SDP: %w", err)
	}
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "audio" || md.MediaName.Port.Value == 0 {
			continue
		}
		if !slicesContainsFold(md.MediaName.Protos, "RTP") || slicesContainsFold(md.MediaName.Protos, "SAVP") {
			continue // SRTP or something else than plain RTP
		}
		conn := md.ConnectionInformation
		if conn == nil {
			conn = sd.ConnectionInformation
		}
		if conn == nil || conn.Address == nil {
			return nil, errors.New("SDP has no connection address")
		}
		host, _, _ := strings.Cut(conn.Address.Address, "/")
		ip := net.ParseIP(host)
		if ip == nil {
			return nil, fmt.Errorf("SDP connection address %q is not an IP", host)
		}
		port := md.MediaName.Port.Value
		if port < 1 || port > 65535 {
			return nil, fmt.Errorf("SDP audio port %d", port)
		}
		var found *remoteMedia
		var dynamic []int // the dynamic payload types: events, maybe
		for _, f := range md.MediaName.Formats {
			pt, err := strconv.Atoi(f)
			if err != nil || pt < 0 || pt > 127 {
				continue
			}
			if pt >= 96 {
				dynamic = append(dynamic, pt)
			}
			if found != nil {
				continue
			}
			for _, c := range ours {
				if codecMatches(md, pt, c) {
					c.PayloadType = uint8(pt) // the trunk's type; our fmtp
					found = &remoteMedia{Addr: &net.UDPAddr{IP: ip, Port: port}, Codec: c}
					break
				}
			}
		}
		if found == nil {
			return nil, errNoCodec
		}
		found.Events, found.EventClock = eventsOf(md, dynamic, found.Codec.ClockRate)
		return found, nil
	}
	return nil, errNoCodec
}

// codecMatches says whether payload type pt of md is codec c: by its
// rtpmap (name, clock rate and, for Opus, the 2 channels of RFC 7587), or
// by the static payload type when there is none (a dynamic
// type without an rtpmap names nothing).
func codecMatches(md *sdp.MediaDescription, pt int, c Codec) bool {
	if c.PayloadType >= 96 && pt < 96 {
		return false // Opus on a static type (PCMU's 0, say) is a broken SDP
	}
	if name, rate, channels, ok := rtpmapOf(md, pt); ok {
		// opus/48000 without its channels is taken too: RFC 7587 asks for
		// the /2, but it says nothing else; another count is not Opus.
		if c.Channels != 0 && channels != "" && channels != strconv.Itoa(int(c.Channels)) {
			return false
		}
		return strings.EqualFold(name, c.Name) && rate == strconv.Itoa(int(c.ClockRate))
	}
	return pt < 96 && pt == int(c.PayloadType)
}

// eventsOf picks the telephone-event among the dynamic payload types of
// md for a codec of clock Hz: the one at that clock (RFC 4733 §2.1 asks
// for the audio's clock: telephone-event/48000 with Opus), else, next to
// Opus, telephone-event/8000, what baresip 1.0 and older PBXs offer with
// any codec (the events then run at 8 kHz in the codec's stream, as those
// phones send and read them). 0 = none.
func eventsOf(md *sdp.MediaDescription, dynamic []int, clock uint32) (pt uint8, rate uint32) {
	for _, rate := range []uint32{clock, 8000} {
		for _, pt := range dynamic {
			if isTelephoneEvent(md, pt, rate) {
				return uint8(pt), rate
			}
		}
	}
	return 0, 0
}

// isTelephoneEvent says whether the dynamic payload type pt of md is
// telephone-event (RFC 4733) at clock rate: the events of a codec of
// that clock.
func isTelephoneEvent(md *sdp.MediaDescription, pt int, clock uint32) bool {
	name, rate, _, ok := rtpmapOf(md, pt)
	return ok && strings.EqualFold(name, "telephone-event") && rate == strconv.Itoa(int(clock))
}

// rtpmapOf reads the a=rtpmap of payload type pt in md: encoding name,
// clock rate and channels ("" when it has none); false = no rtpmap.
func rtpmapOf(md *sdp.MediaDescription, pt int) (name, rate, channels string, ok bool) {
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		num, enc, found := strings.Cut(a.Value, " ")
		if !found || num != strconv.Itoa(pt) {
			continue
		}
		name, rest, _ := strings.Cut(enc, "/")
		rate, channels, _ := strings.Cut(rest, "/")
		return name, rate, channels, true
	}
	return "", "", "", false
}

func slicesContainsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.Contains(strings.ToUpper(v), s) {
			return true
		}
	}
	return false
}

// buildSDP is our offer or answer: one audio stream at ip:port with the
// codecs, the telephone-events evs (none: an answer to an offer without
// them), and a session id from the time.
func buildSDP(ip string, port int, codecs []Codec, evs []eventType) []byte {
	id := strconv.FormatInt(time.Now().UnixNano()/1000, 10)
	ipv := "IP4"
	if p := net.ParseIP(ip); p != nil && p.To4() == nil {
		ipv = "IP6"
	}
	var b strings.Builder
	b.WriteString("v=0\r\n")
	fmt.Fprintf(&b, "o=wac %s %s IN %s %s\r\n", id, id, ipv, ip)
	b.WriteString("s=wac\r\n")
	fmt.Fprintf(&b, "c=IN %s %s\r\n", ipv, ip)
	b.WriteString("t=0 0\r\n")
	fmt.Fprintf(&b, "m=audio %d RTP/AVP", port)
	for _, c := range codecs {
		fmt.Fprintf(&b, " %d", c.PayloadType)
	}
	for _, e := range evs {
		fmt.Fprintf(&b, " %d", e.pt)
	}
	b.WriteString("\r\n")
	for _, c := range codecs {
		fmt.Fprintf(&b, "a=rtpmap:%d %s/%d", c.PayloadType, c.Name, c.ClockRate)
		if c.Channels != 0 {
			fmt.Fprintf(&b, "/%d", c.Channels)
		}
		b.WriteString("\r\n")
		if c.Fmtp != "" {
			fmt.Fprintf(&b, "a=fmtp:%d %s\r\n", c.PayloadType, c.Fmtp)
		}
	}
	for _, e := range evs {
		fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/%d\r\na=fmtp:%d 0-15\r\n", e.pt, e.clock, e.pt)
	}
	b.WriteString("a=ptime:20\r\na=sendrecv\r\n")
	return []byte(b.String())
}

// eventType is one telephone-event of an SDP of ours.
type eventType struct {
	pt    uint8
	clock uint32
}

// eventTypes are the telephone-events that go with codecs: one per clock
// rate, in the codecs' order (RFC 4733: the events of a stream run at its
// audio's clock, so an offer of Opus and G.711 has telephone-event/48000
// and telephone-event/8000), the first at payload type first and the next
// ones at the next free types; none when first is 0. An answer or a
// re-INVITE has one codec, so its events keep the type agreed.
func eventTypes(codecs []Codec, first uint8) []eventType {
	if first == 0 {
		return nil
	}
	var out []eventType
	pt := first
	for _, c := range codecs {
		if slices.ContainsFunc(out, func(e eventType) bool { return e.clock == c.ClockRate }) {
			continue
		}
		for pt < 127 && slices.ContainsFunc(codecs, func(o Codec) bool { return o.PayloadType == pt }) {
			pt++
		}
		out = append(out, eventType{pt: pt, clock: c.ClockRate})
		pt++
	}
	return out
}
