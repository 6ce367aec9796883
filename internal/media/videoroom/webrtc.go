package videoroom

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/media/forward"
	"github.com/openwac/wac/internal/media/udpport"
	"github.com/openwac/wac/internal/pionlog"
)

// RTP header extensions the SFU negotiates with publishers.
const (
	extAudioLevel = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
	extTWCC       = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
)

// codecs returns the codecs of the deployment: the configured audio codecs
// and the one video codec (the seeds' codec), with the RTCP feedback
// publishers (withTWCC) or subscribers get.
func codecs(cfg config.Media, withTWCC bool) (audio, video []webrtc.RTPCodecParameters) {
	fb := []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}}
	var afb []webrtc.RTCPFeedback
	if withTWCC {
		fb = append(fb, webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC})
		afb = []webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBTransportCC}}
	}
	for _, a := range cfg.AudioCodecs {
		switch strings.ToLower(a) {
		case "opus":
			audio = append(audio, webrtc.RTPCodecParameters{PayloadType: 111, RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1", RTCPFeedback: afb}})
		case "pcmu":
			audio = append(audio, webrtc.RTPCodecParameters{PayloadType: 0, RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: webrtc.MimeTypePCMU, ClockRate: 8000, RTCPFeedback: afb}})
		case "pcma":
			audio = append(audio, webrtc.RTPCodecParameters{PayloadType: 8, RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: webrtc.MimeTypePCMA, ClockRate: 8000, RTCPFeedback: afb}})
		}
	}
	v := func(pt webrtc.PayloadType, mime, fmtp string) webrtc.RTPCodecParameters {
		return webrtc.RTPCodecParameters{PayloadType: pt, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: mime, ClockRate: 90000, SDPFmtpLine: fmtp, RTCPFeedback: fb}}
	}
	switch cfg.Codec {
	case "vp8":
		video = append(video, v(96, webrtc.MimeTypeVP8, ""))
	case "vp9":
		video = append(video, v(98, webrtc.MimeTypeVP9, "profile-id=0"), v(100, webrtc.MimeTypeVP9, "profile-id=2"))
	case "h264":
		video = append(video,
			v(102, webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f"),
			v(108, webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"),
			v(112, webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f"),
			v(127, webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f"))
	case "av1":
		video = append(video, v(45, webrtc.MimeTypeAV1, ""))
	}
	return audio, video
}

// apis builds the two Pion APIs of a node: one for publisher peer
// connections (NACK generator, receiver reports, transport-cc feedback,
// simulcast and audio-level extensions, over one parse of each header)
// and one for subscriber peer connections (NACK responder with the
// retransmission buffer and sender reports). Both share the node's
// sockets.
func apis(cfg config.Media, se webrtc.SettingEngine) (pub, sub *webrtc.API, err error) {
	if pub, err = newAPI(cfg, se, true, nil, nil); err != nil {
		return nil, nil, err
	}
	if sub, err = newAPI(cfg, se, false, nil, nil); err != nil {
		return nil, nil, err
	}
	return pub, sub, nil
}

// newAPI builds the API of publisher or subscriber connections (apis);
// a publisher connection's own when it has a direct receive (direct.go),
// a subscriber connection's own when it has a direct send.
func newAPI(cfg config.Media, se webrtc.SettingEngine, publisher bool, direct *directPeer, send *directSend) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	audio, video := codecs(cfg, publisher)
	for _, c := range audio {
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, fmt.Errorf("register %s: %w", c.MimeType, err)
		}
	}
	for _, c := range video {
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, fmt.Errorf("register %s: %w", c.MimeType, err)
		}
	}
	reg := &interceptor.Registry{}
	if publisher {
		// First, so that it is the innermost (headers.go).
		reg.Add(headerOnce{direct: direct})
		for _, ext := range []struct {
			uri  string
			kind webrtc.RTPCodecType
		}{
			{sdp.SDESMidURI, webrtc.RTPCodecTypeVideo}, {sdp.SDESMidURI, webrtc.RTPCodecTypeAudio},
			{sdp.SDESRTPStreamIDURI, webrtc.RTPCodecTypeVideo}, {sdp.SDESRepairRTPStreamIDURI, webrtc.RTPCodecTypeVideo},
			{extAudioLevel, webrtc.RTPCodecTypeAudio},
			{extTWCC, webrtc.RTPCodecTypeVideo}, {extTWCC, webrtc.RTPCodecTypeAudio},
		} {
			if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: ext.uri}, ext.kind); err != nil {
				return nil, fmt.Errorf("register extension %s: %w", ext.uri, err)
			}
		}
		gen, err := nack.NewGeneratorInterceptor(nack.GeneratorMaxNacksPerPacket(5))
		if err != nil {
			return nil, err
		}
		reg.Add(gen)
		rr, err := report.NewReceiverInterceptor()
		if err != nil {
			return nil, err
		}
		reg.Add(rr)
		fbSender, err := twcc.NewSenderInterceptor(twcc.SendInterval(100 * time.Millisecond))
		if err != nil {
			return nil, err
		}
		reg.Add(fbSender)
	} else {
		if send != nil {
			// First, so that it is the innermost (direct.go).
			reg.Add(sendDirect{ds: send})
		}
		// Forwarded packets are never reused, so the retransmission
		// buffer keeps references instead of copies.
		resp, err := nack.NewResponderInterceptor(nack.ResponderSize(uint16(cfg.NACKBuffer)), nack.DisableCopy())
		if err != nil {
			return nil, err
		}
		reg.Add(resp)
		sr, err := report.NewSenderInterceptor()
		if err != nil {
			return nil, err
		}
		reg.Add(sr)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)), nil
}

// sockets are the node's shared media sockets.
type sockets struct {
	udp    net.PacketConn
	tcp    net.Listener
	udpMux ice.UDPMux
	tcpMux ice.TCPMux
}

// batcher returns the shared UDP port's batching, or nil.
func (s *sockets) batcher() forward.Batcher {
	b, _ := s.udp.(forward.Batcher)
	return b
}

func (s *sockets) close() {
	if s.udpMux != nil {
		s.udpMux.Close()
	}
	if s.tcpMux != nil {
		s.tcpMux.Close()
	}
	if s.udp != nil {
		s.udp.Close()
	}
	if s.tcp != nil {
		s.tcp.Close()
	}
}

// settingEngine opens the media sockets and configures ICE: one UDP port
// (mux) or a port range, ICE-TCP, the public IP to announce, and the
// interfaces to use.
func settingEngine(cfg config.Media, log *slog.Logger) (webrtc.SettingEngine, *sockets, error) {
	var se webrtc.SettingEngine
	lf := pionlog.Factory{Log: log}
	se.LoggerFactory = lf
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetICETimeouts(5*time.Second, 20*time.Second, 2*time.Second)
	socks := &sockets{}
	listen := cfg.ListenIP
	networks := []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
	if listen != "" {
		ip := net.ParseIP(listen)
		if ip.IsLoopback() {
			se.SetIncludeLoopbackCandidate(true)
		}
		if !ip.IsUnspecified() {
			se.SetIPFilter(func(c net.IP) bool { return c.Equal(ip) })
		}
	}
	host := listen
	if host == "" {
		host = "0.0.0.0"
	}
	if cfg.UDPPort != 0 {
		conn, err := udpport.Listen(net.JoinHostPort(host, strconv.Itoa(cfg.UDPPort)), log)
		if err != nil {
			return se, nil, fmt.Errorf("listen on media UDP port (config key media.udpPort): %w", err)
		}
		socks.udp = conn
		socks.udpMux = webrtc.NewICEUDPMux(lf.NewLogger("udpmux"), conn)
		se.SetICEUDPMux(socks.udpMux)
	} else if cfg.WebRTCStartPort != 0 {
		if err := se.SetEphemeralUDPPortRange(uint16(cfg.WebRTCStartPort), uint16(cfg.WebRTCEndPort)); err != nil {
			return se, nil, fmt.Errorf("config key media.webRtcStartPort: %w", err)
		}
	}
	if cfg.TCPPort != 0 {
		ln, err := net.Listen("tcp4", net.JoinHostPort(host, strconv.Itoa(cfg.TCPPort)))
		if err != nil {
			socks.close()
			return se, nil, fmt.Errorf("listen on ICE-TCP port (config key media.tcpPort): %w", err)
		}
		socks.tcp = ln
		socks.tcpMux = webrtc.NewICETCPMux(lf.NewLogger("tcpmux"), ln, 64)
		se.SetICETCPMux(socks.tcpMux)
		networks = append(networks, webrtc.NetworkTypeTCP4)
	}
	se.SetNetworkTypes(networks)
	if cfg.WebRTCIP != "" {
		var ips []string
		for _, ip := range strings.Split(cfg.WebRTCIP, ",") {
			ips = append(ips, strings.TrimSpace(ip))
		}
		se.SetNAT1To1IPs(ips, webrtc.ICECandidateTypeHost)
	}
	return se, socks, nil
}

// UDPAddr is the bound address of the media UDP port, when udpPort is set.
func (s *sockets) udpAddr() string {
	if s.udp == nil {
		return ""
	}
	return s.udp.LocalAddr().String()
}

// tcpAddr is the bound address of the ICE-TCP port, when tcpPort is set.
func (s *sockets) tcpAddr() string {
	if s.tcp == nil {
		return ""
	}
	return s.tcp.Addr().String()
}
