package config

import (
	"net"
	"strings"
	"time"
)

// Media configures the SFU of the media role: the Janus-compatible API, the
// media ports, codecs, bitrate control and how the node joins the cluster.
type Media struct {
	Codec       string   `yaml:"codec" doc:"video codec of the deployment: vp8, h264, vp9 or av1 (the seeds' codec)"`
	AudioCodecs []string `yaml:"audioCodecs" doc:"audio codecs accepted from publishers, in order of preference: opus, pcmu, pcma"`

	Bitrate     int           `yaml:"bitrate" doc:"cap per published video in kbps, sent to publishers with REMB (the seeds' dispatcher bitrate)"`
	RoomBitrate int           `yaml:"roomBitrate" doc:"cap in kbps on the sum of the videos published in one room, shared equally; 0 = no room cap"`
	LossPercent int           `yaml:"lossPercent" doc:"packet loss (percent) that, sustained for lossSeconds, cuts a video's cap by a third (down to a third of bitrate)"`
	LossTime    time.Duration `yaml:"lossSeconds" unit:"s" doc:"seconds of sustained loss before the cap is cut"`
	RecoverTime time.Duration `yaml:"recoverSeconds" unit:"s" doc:"seconds without loss before a cut cap is raised back by one step"`

	WebRTCIP        string `yaml:"webRtcIp" doc:"public IP announced in ICE candidates (the seeds' webRtcIp); empty = the addresses of the interfaces"`
	ListenIP        string `yaml:"listenIp" doc:"local IP the media sockets bind to; empty = all interfaces"`
	UDPPort         int    `yaml:"udpPort" doc:"one UDP port for all media (ICE UDP mux); 0 = one port per peer from webRtcStartPort-webRtcEndPort"`
	WebRTCStartPort int    `yaml:"webRtcStartPort" doc:"first UDP media port when udpPort is 0 (the seeds' webRtcStartPort); 0 = any port"`
	WebRTCEndPort   int    `yaml:"webRtcEndPort" doc:"last UDP media port when udpPort is 0 (the seeds' webRtcEndPort)"`
	TCPPort         int    `yaml:"tcpPort" doc:"ICE-TCP port (media over TCP when UDP is blocked); 0 = off"`
	DirectReceive   bool   `yaml:"directReceive" doc:"with udpPort on Linux, connected publishers' audio is decrypted by the port's reader and subscribers' audio encrypted and written to the port directly, past Pion's ICE, demultiplexer and SRTP layers (less CPU per packet); off = always Pion's path"`

	SessionTimeout   time.Duration `yaml:"sessionTimeout" unit:"s" doc:"seconds a Janus session lives without a keepalive (Janus default 60)"`
	MaxMessageBytes  int           `yaml:"maxMessageBytes" doc:"largest Janus API message accepted, in bytes"`
	MaxSessions      int           `yaml:"maxSessions" doc:"Janus sessions holding a room grant this node accepts at once (sessions without one yet: maxPendingSessions)"`
	Publishers       int           `yaml:"publishers" doc:"publishers per room at once (Janus publishers; the room object's participantsLimit)"`
	KeyframeInterval time.Duration `yaml:"keyframeInterval" unit:"ms" doc:"milliseconds between two keyframe requests (PLI/FIR) sent to one publisher stream"`
	FIRFreq          time.Duration `yaml:"firFreq" unit:"s" doc:"seconds between periodic keyframe requests to publishers (Janus fir_freq); 0 = only on demand"`
	NACKBuffer       int           `yaml:"nackBuffer" doc:"packets kept per subscriber stream for NACK retransmission (a power of two, up to 32768)"`
	AudioLevelEvent  bool          `yaml:"audioLevelEvent" doc:"send talking/stopped-talking events from the ssrc-audio-level extension (Janus audiolevel_event)"`
	AudioActive      int           `yaml:"audioActivePackets" doc:"audio packets averaged for a talking decision (Janus audio_active_packets)"`
	AudioLevelAvg    int           `yaml:"audioLevelAverage" doc:"average level (dBov, 0 loud .. 127 silent) under which a publisher is talking (Janus audio_level_average)"`
	AdminKey         string        `yaml:"adminKey" doc:"key that lets a videoroom create/destroy request manage any room (Janus admin_key); empty = rooms need a grant"`

	GrantTimeout                 time.Duration `yaml:"grantTimeout" unit:"s" doc:"seconds a Janus session may live without showing a valid room grant (a token at create, on a request, or in a join); then it ends with a timeout event"`
	MaxPendingSessions           int           `yaml:"maxPendingSessions" doc:"Janus sessions without a room grant yet this node holds at once, besides maxSessions; past it a new one ends the oldest"`
	MaxPendingSessionsPerAddress int           `yaml:"maxPendingSessionsPerAddress" doc:"Janus sessions without a room grant yet one client address may hold at once; more are refused with 472"`

	NodeID      string        `yaml:"nodeId" doc:"name of this media node in the cluster; empty = generated at start"`
	PublicURL   string        `yaml:"publicUrl" doc:"external base URL of this media node (https://host); empty = the public interface's URL"`
	Capacity    int           `yaml:"capacity" doc:"peer connections this node is sized for; the dispatcher places rooms by load/capacity"`
	Heartbeat   time.Duration `yaml:"heartbeatSeconds" unit:"s" doc:"seconds between two load reports of a media node"`
	NodeTimeout time.Duration `yaml:"nodeTimeout" unit:"s" doc:"seconds without a load report after which a media node is dead and its rooms end"`
}

// TURN configures the embedded TURN/STUN server.
type TURN struct {
	Enabled        bool          `yaml:"enabled" doc:"run the embedded TURN/STUN server"`
	Host           string        `yaml:"host" doc:"host name or IP clients reach the TURN server at (in the room object's ice list); empty = no TURN entry is handed out"`
	ListenIP       string        `yaml:"listenIp" doc:"local IP the TURN listeners bind to; empty = all interfaces"`
	UDPPort        int           `yaml:"udpPort" doc:"TURN/STUN UDP port; 0 = off"`
	TCPPort        int           `yaml:"tcpPort" doc:"TURN/STUN TCP port; 0 = off"`
	TLSPort        int           `yaml:"tlsPort" doc:"TURN over TLS port (443 gets through most firewalls); 0 = off; needs tlsCert and tlsKey"`
	TLSCert        string        `yaml:"tlsCert" doc:"TLS certificate file (PEM) of the TURN TLS listener"`
	TLSKey         string        `yaml:"tlsKey" doc:"TLS private key file (PEM) of the TURN TLS listener"`
	Realm          string        `yaml:"realm" doc:"TURN realm"`
	Secret         string        `yaml:"secret" doc:"shared secret of the TURN REST credentials (for an external coturn too); empty = derived from the cluster secret"`
	CredentialTTL  time.Duration `yaml:"credentialTtl" unit:"s" doc:"seconds a TURN credential handed to a client stays valid"`
	RelayIP        string        `yaml:"relayIp" doc:"IP announced for relayed addresses; empty = host when it is an IP, else listenIp, else the first global address of the machine"`
	RelayStartPort int           `yaml:"relayStartPort" doc:"first UDP port of relayed addresses"`
	RelayEndPort   int           `yaml:"relayEndPort" doc:"last UDP port of relayed addresses"`
	DeniedPeers    []string      `yaml:"deniedPeers" doc:"peer networks (CIDR) relays may not reach: private, loopback and link-local ranges by default"`
	AllowedPeers   []string      `yaml:"allowedPeers" doc:"peer networks (CIDR) allowed even when denied; media.webRtcIp is always allowed"`
	STUNServers    []string      `yaml:"stunServers" doc:"extra STUN URLs handed to clients (stun:host:port)"`
}

func defaultMedia() Media {
	return Media{
		Codec:            "vp8",
		AudioCodecs:      []string{"opus", "pcmu", "pcma"},
		Bitrate:          300,
		LossPercent:      5,
		LossTime:         3 * time.Second,
		RecoverTime:      10 * time.Second,
		SessionTimeout:   time.Minute,
		MaxMessageBytes:  256 << 10,
		MaxSessions:      10000,
		Publishers:       100,
		KeyframeInterval: 500 * time.Millisecond,
		NACKBuffer:       1024,
		DirectReceive:    true,
		AudioLevelEvent:  true,
		AudioActive:      100,
		AudioLevelAvg:    25,
		Capacity:         1000,
		Heartbeat:        5 * time.Second,
		NodeTimeout:      15 * time.Second,

		GrantTimeout:                 10 * time.Second,
		MaxPendingSessions:           1000,
		MaxPendingSessionsPerAddress: 20,
	}
}

func defaultTURN() TURN {
	return TURN{
		Enabled:        true,
		UDPPort:        3478,
		TCPPort:        3478,
		Realm:          "openwac",
		CredentialTTL:  24 * time.Hour,
		RelayStartPort: 49152,
		RelayEndPort:   65535,
		DeniedPeers: []string{"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
			"172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "240.0.0.0/4",
			"::1/128", "::ffff:0:0/96", "fc00::/7", "fe80::/10"},
	}
}

// validateMedia checks the media and turn keys.
func (c *Config) validateMedia(bad func(key, format string, args ...any)) {
	m, t := &c.Media, &c.TURN
	switch m.Codec {
	case "vp8", "h264", "vp9", "av1":
	default:
		bad("media.codec", "%q is not vp8, h264, vp9 or av1", m.Codec)
	}
	if len(m.AudioCodecs) == 0 {
		bad("media.audioCodecs", "needs at least one of opus, pcmu, pcma")
	}
	for _, a := range m.AudioCodecs {
		switch strings.ToLower(a) {
		case "opus", "pcmu", "pcma":
		default:
			bad("media.audioCodecs", "%q is not opus, pcmu or pcma", a)
		}
	}
	if m.Bitrate <= 0 {
		bad("media.bitrate", "must be positive (kbps)")
	}
	if m.RoomBitrate < 0 {
		bad("media.roomBitrate", "must not be negative (0 = no room cap)")
	}
	if m.LossPercent <= 0 || m.LossPercent >= 100 {
		bad("media.lossPercent", "must be between 1 and 99")
	}
	if m.LossTime <= 0 || m.RecoverTime <= 0 {
		bad("media.lossSeconds", "lossSeconds and recoverSeconds must be positive")
	}
	if m.WebRTCIP != "" {
		for _, ip := range strings.Split(m.WebRTCIP, ",") {
			if net.ParseIP(strings.TrimSpace(ip)) == nil {
				bad("media.webRtcIp", "%q is not an IP address", ip)
			}
		}
	}
	if m.ListenIP != "" && net.ParseIP(m.ListenIP) == nil {
		bad("media.listenIp", "%q is not an IP address", m.ListenIP)
	}
	for key, p := range map[string]int{"media.udpPort": m.UDPPort, "media.tcpPort": m.TCPPort,
		"media.webRtcStartPort": m.WebRTCStartPort, "media.webRtcEndPort": m.WebRTCEndPort} {
		if p < 0 || p > 65535 {
			bad(key, "%d is not a port", p)
		}
	}
	if (m.WebRTCStartPort == 0) != (m.WebRTCEndPort == 0) || m.WebRTCEndPort < m.WebRTCStartPort {
		bad("media.webRtcStartPort", "webRtcStartPort-webRtcEndPort %d-%d is not a port range", m.WebRTCStartPort, m.WebRTCEndPort)
	}
	if m.SessionTimeout <= 0 {
		bad("media.sessionTimeout", "must be positive (seconds)")
	}
	if m.MaxMessageBytes < 4096 {
		bad("media.maxMessageBytes", "must be at least 4096 (an SDP is several kilobytes)")
	}
	if m.MaxSessions <= 0 || m.Publishers <= 0 || m.Capacity <= 0 {
		bad("media.maxSessions", "maxSessions, publishers and capacity must be positive")
	}
	if m.GrantTimeout <= 0 {
		bad("media.grantTimeout", "must be positive (seconds)")
	}
	if m.MaxPendingSessions <= 0 {
		bad("media.maxPendingSessions", "must be positive")
	}
	if m.MaxPendingSessionsPerAddress <= 0 {
		bad("media.maxPendingSessionsPerAddress", "must be positive")
	}
	if m.KeyframeInterval < 0 || m.FIRFreq < 0 {
		bad("media.keyframeInterval", "keyframeInterval and firFreq must not be negative")
	}
	if n := m.NACKBuffer; n < 1 || n > 32768 || n&(n-1) != 0 {
		bad("media.nackBuffer", "%d is not a power of two up to 32768", n)
	}
	if m.AudioActive <= 0 || m.AudioLevelAvg < 0 || m.AudioLevelAvg > 127 {
		bad("media.audioActivePackets", "audioActivePackets must be positive and audioLevelAverage within 0-127")
	}
	if m.PublicURL != "" && !strings.HasPrefix(m.PublicURL, "http://") && !strings.HasPrefix(m.PublicURL, "https://") {
		bad("media.publicUrl", "%q is not an http(s) URL", m.PublicURL)
	}
	if m.Heartbeat <= 0 || m.NodeTimeout <= m.Heartbeat {
		bad("media.nodeTimeout", "heartbeatSeconds must be positive and nodeTimeout larger than it")
	}

	if !t.Enabled {
		return
	}
	for key, p := range map[string]int{"turn.udpPort": t.UDPPort, "turn.tcpPort": t.TCPPort, "turn.tlsPort": t.TLSPort,
		"turn.relayStartPort": t.RelayStartPort, "turn.relayEndPort": t.RelayEndPort} {
		if p < 0 || p > 65535 {
			bad(key, "%d is not a port", p)
		}
	}
	if t.UDPPort == 0 && t.TCPPort == 0 && t.TLSPort == 0 {
		bad("turn.udpPort", "an enabled TURN server needs udpPort, tcpPort or tlsPort")
	}
	if t.TLSPort != 0 && (t.TLSCert == "" || t.TLSKey == "") {
		bad("turn.tlsPort", "needs turn.tlsCert and turn.tlsKey")
	}
	if t.RelayStartPort <= 0 || t.RelayEndPort < t.RelayStartPort {
		bad("turn.relayStartPort", "relayStartPort-relayEndPort %d-%d is not a port range", t.RelayStartPort, t.RelayEndPort)
	}
	if t.Realm == "" {
		bad("turn.realm", "must not be empty")
	}
	if t.CredentialTTL <= 0 {
		bad("turn.credentialTtl", "must be positive (seconds)")
	}
	for _, ip := range []struct{ key, v string }{{"turn.listenIp", t.ListenIP}, {"turn.relayIp", t.RelayIP}} {
		if ip.v != "" && net.ParseIP(ip.v) == nil {
			bad(ip.key, "%q is not an IP address", ip.v)
		}
	}
	for _, list := range []struct {
		key  string
		nets []string
	}{{"turn.deniedPeers", t.DeniedPeers}, {"turn.allowedPeers", t.AllowedPeers}} {
		for _, n := range list.nets {
			if _, _, err := net.ParseCIDR(n); err != nil {
				bad(list.key, "%q is not a CIDR", n)
			}
		}
	}
	for _, u := range t.STUNServers {
		if !strings.HasPrefix(u, "stun:") && !strings.HasPrefix(u, "stuns:") {
			bad("turn.stunServers", "%q is not a stun: URL", u)
		}
	}
}
