package sip

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/pion/sdp/v3"
)

// Codec is an audio codec spoken with the trunk.
type Codec struct {
	Name        string // PCMU, PCMA
	PayloadType uint8
	ClockRate   uint32
}

// The G.711 codecs, by their names in trunk.codecs.
var codecsByName = map[string]Codec{
	"pcmu": {Name: "PCMU", PayloadType: 0, ClockRate: 8000},
	"pcma": {Name: "PCMA", PayloadType: 8, ClockRate: 8000},
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
	// Events is the payload type of telephone-event/8000 (RFC 4733 DTMF)
	// in the SDP; 0 = not offered (0 is PCMU, never an event type).
	Events uint8
}

// DefaultEventPT is the payload type of telephone-event/8000 in our
// offers (a dynamic one, the usual choice of phones and PBXs).
const DefaultEventPT = 101

// parseSDP reads the audio of an SDP from the trunk: the first audio
// stream with a port, its connection address (the stream's, else the
// session's), and the first of its formats that is one of ours (in the
// order of the SDP, which is the sender's preference). A stream on hold
// (0.0.0.0) keeps its address unset.
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
		var events uint8
		for _, f := range md.MediaName.Formats {
			pt, err := strconv.Atoi(f)
			if err != nil || pt < 0 || pt > 127 {
				continue
			}
			if events == 0 && pt >= 96 && isTelephoneEvent(md, pt) {
				events = uint8(pt)
				continue
			}
			if found != nil {
				continue
			}
			for _, c := range ours {
				if codecMatches(md, pt, c) {
					found = &remoteMedia{Addr: &net.UDPAddr{IP: ip, Port: port}, Codec: Codec{Name: c.Name, PayloadType: uint8(pt), ClockRate: c.ClockRate}}
					break
				}
			}
		}
		if found == nil {
			return nil, errNoCodec
		}
		found.Events = events
		return found, nil
	}
	return nil, errNoCodec
}

// codecMatches says whether payload type pt of md is codec c: by its
// rtpmap, or by the static payload type when there is none.
func codecMatches(md *sdp.MediaDescription, pt int, c Codec) bool {
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		num, enc, ok := strings.Cut(a.Value, " ")
		if !ok || num != strconv.Itoa(pt) {
			continue
		}
		name, rest, _ := strings.Cut(enc, "/")
		rate, _, _ := strings.Cut(rest, "/")
		return strings.EqualFold(name, c.Name) && rate == strconv.Itoa(int(c.ClockRate))
	}
	return pt == int(c.PayloadType)
}

// isTelephoneEvent says whether the dynamic payload type pt of md is
// telephone-event/8000 (RFC 4733): the events at our codecs' clock.
func isTelephoneEvent(md *sdp.MediaDescription, pt int) bool {
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		num, enc, ok := strings.Cut(a.Value, " ")
		if !ok || num != strconv.Itoa(pt) {
			continue
		}
		name, rest, _ := strings.Cut(enc, "/")
		rate, _, _ := strings.Cut(rest, "/")
		return strings.EqualFold(name, "telephone-event") && rate == "8000"
	}
	return false
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
// codecs, telephone-event/8000 as payload type events (0 = none: an
// answer to an offer without it), and a session id from the time.
func buildSDP(ip string, port int, codecs []Codec, events uint8) []byte {
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
	if events != 0 {
		fmt.Fprintf(&b, " %d", events)
	}
	b.WriteString("\r\n")
	for _, c := range codecs {
		fmt.Fprintf(&b, "a=rtpmap:%d %s/%d\r\n", c.PayloadType, c.Name, c.ClockRate)
	}
	if events != 0 {
		fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-15\r\n", events, events)
	}
	b.WriteString("a=ptime:20\r\na=sendrecv\r\n")
	return []byte(b.String())
}
