package config

import (
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Trunk is the SIP side of the node (the seeds' trunk service, with the
// SIP stack that the seeds' AudioMixer carried): the trunk or PBX that
// calls to the phone network go to and come from, where the node listens
// for SIP, and the limits of the SIP role. The sip role runs when
// trunk.address is set (or when roles names sip).
type Trunk struct {
	Match  string      `yaml:"match" doc:"regular expression the to of an invitation must match for the call to go to the SIP trunk (the seeds' trunk.match)"`
	Prefix TrunkPrefix `yaml:"prefix"`

	Address                 string   `yaml:"address" doc:"host or IP of the SIP trunk or PBX that outbound calls go to and inbound calls come from; empty = no trunk, the sip role is off"`
	Port                    int      `yaml:"port" doc:"SIP port of the trunk or PBX"`
	Domain                  string   `yaml:"domain" doc:"SIP domain of the identities towards the trunk (From, To, request URI); empty = trunk.address"`
	Transport               string   `yaml:"transport" doc:"transport to the trunk: udp or tcp"`
	DialInFailuresPerMinute int      `yaml:"dialInFailuresPerMinute" doc:"failed dial-ins a node takes in a minute from all callers together (a room number of no room, a wrong meeting PIN) before it refuses dial-ins (503) and hangs up on callers keying a PIN: a bound on guessing room numbers and PINs (a caller's number proves nothing); 0 = no limit"`
	DTMFMode                string   `yaml:"dtmfMode" doc:"how the apps' digits (sendDTMF) reach a phone: auto (RFC 4733 telephone-events when the call agreed them, else SIP INFO), rfc4733 (events only), info (SIP INFO, application/dtmf-relay); digits the trunk sends by INFO are taken in every mode"`
	Codecs                  []string `yaml:"codecs" doc:"audio codecs offered to and accepted from the trunk, in order of preference: pcmu, pcma, opus"`

	AcceptFrom []string `yaml:"acceptFrom" doc:"addresses (IPs or CIDRs) INVITEs are taken from; others get 403; empty = the addresses trunk.address resolves to"`

	Listen          TrunkListen `yaml:"listen"`
	ExternalAddress string      `yaml:"externalAddress" doc:"address put in Contact, Via and SDP towards the trunk; empty = trunk.listen.address (which must then not be 0.0.0.0)"`
	RTPPortMin      int         `yaml:"rtpPortMin" doc:"lowest UDP port of the RTP sockets of calls with the trunk"`
	RTPPortMax      int         `yaml:"rtpPortMax" doc:"highest UDP port of the RTP sockets of calls with the trunk (each call takes one)"`
	MaxCalls        int         `yaml:"maxCalls" doc:"calls with the trunk at once on this node; more are refused with 503"`

	InvitesPerSecond float64       `yaml:"invitesPerSecond" doc:"INVITEs accepted per second from one source address; more are answered 503 with Retry-After"`
	InvitesBurst     int           `yaml:"invitesBurst" doc:"INVITEs one source address may send at once before invitesPerSecond applies"`
	MediaTimeout     time.Duration `yaml:"mediaTimeout" unit:"s" doc:"how long an answered call may go without RTP from the trunk before it is hung up (BYE), 0 = never; a number is seconds"`
	AnswerTimeout    time.Duration `yaml:"answerTimeout" unit:"s" doc:"how long an outbound INVITE may go without a final response before it is cancelled and the caller gets 408; a number is seconds"`

	Register        bool          `yaml:"register" doc:"REGISTER the SIP mappings that have a password with the trunk (a PBX's registrar) while their user has a session on this node: the first session registers, the last one leaving unregisters"`
	RegisterExpires time.Duration `yaml:"registerExpires" unit:"s" doc:"the Expires asked for in REGISTER; the registration is refreshed at 85% of what the registrar grants; a number is seconds"`
}

// TrunkPrefix holds the seeds' trunk.prefix keys.
type TrunkPrefix struct {
	ParallelSip string `yaml:"parallelSip" doc:"the seeds' parallel SIP prefix: a phone dialling <prefix>888<6 digits><number> joins the room of <number>, as 888<number> does (forking invitations through the phone network, invites.parallelSip, is not done)"`
}

// SipMappings is the seeds' [sipmappings]: the SIP identities made on
// request for anonymous users.
type SipMappings struct {
	DynamicMappingPrefix string `yaml:"dynamicMappingPrefix" doc:"prefix of the SIP usernames of anonymous users (prefix + user id); empty = anonymous users have no SIP identity and cannot call or be called from the phone network"`
	DynamicMappingDomain string `yaml:"dynamicMappingDomain" doc:"host of the anonymous users' SIP identities (From of their calls); empty = trunk.domain"`
}

// TrunkListen is where the node takes SIP from the trunk.
type TrunkListen struct {
	Address string `yaml:"address" doc:"IP the SIP listener binds"`
	Port    int    `yaml:"port" doc:"port of the SIP listener (UDP and TCP)"`
}

func defaultTrunk() Trunk {
	return Trunk{
		Match:                   "^tel:.*$",
		Prefix:                  TrunkPrefix{ParallelSip: "777"},
		Port:                    5060,
		Transport:               "udp",
		DTMFMode:                "auto",
		DialInFailuresPerMinute: 30,
		Codecs:                  []string{"pcmu", "pcma"},
		Listen:                  TrunkListen{Address: "127.0.0.1", Port: 5080},
		RTPPortMin:              30000,
		RTPPortMax:              31999,
		MaxCalls:                1000,
		InvitesPerSecond:        50,
		InvitesBurst:            100,
		MediaTimeout:            30 * time.Second,
		AnswerTimeout:           60 * time.Second,
		RegisterExpires:         600 * time.Second,
	}
}

// SIPEnabled says whether this node runs the sip role: a trunk is
// configured and the node runs signaling (the sip role places calls
// through it), or roles names sip.
func (c *Config) SIPEnabled() bool {
	if c.HasRole("sip") {
		return true
	}
	return c.Trunk.Address != "" && c.HasRole("signaling")
}

// TrunkHost is the domain of SIP identities towards the trunk.
func (c *Config) TrunkHost() string {
	if c.Trunk.Domain != "" {
		return c.Trunk.Domain
	}
	return c.Trunk.Address
}

// SIPAddress is the address the node gives the trunk in Contact, Via and
// SDP.
func (c *Config) SIPAddress() string {
	if c.Trunk.ExternalAddress != "" {
		return c.Trunk.ExternalAddress
	}
	return c.Trunk.Listen.Address
}

func (c *Config) validateTrunk(bad func(key, format string, args ...any)) {
	t := c.Trunk
	if _, err := regexp.Compile(t.Match); err != nil {
		bad("trunk.match", "is not a regular expression: %v", err)
	}
	if !c.SIPEnabled() {
		return
	}
	if c.HasRole("sip") && !c.HasRole("signaling") {
		bad("roles", "the sip role needs the signaling role on the same node (it rings the apps' sessions)")
	}
	if t.Address == "" {
		bad("trunk.address", "is required with the sip role: the host or IP of the SIP trunk or PBX")
	} else if strings.ContainsAny(t.Address, " :/@;") && net.ParseIP(t.Address) == nil {
		bad("trunk.address", "%q is not a host name or IP (give the port in trunk.port)", t.Address)
	}
	if t.Port < 1 || t.Port > 65535 {
		bad("trunk.port", "%d is not a port (1-65535)", t.Port)
	}
	if t.Domain != "" && strings.ContainsAny(t.Domain, " :/@;<>") {
		bad("trunk.domain", "%q is not a SIP domain", t.Domain)
	}
	switch strings.ToLower(t.Transport) {
	case "udp", "tcp":
	default:
		bad("trunk.transport", "%q is not udp or tcp", t.Transport)
	}
	if t.DialInFailuresPerMinute < 0 {
		bad("trunk.dialInFailuresPerMinute", "%d is negative (0 = no limit)", t.DialInFailuresPerMinute)
	}
	switch strings.ToLower(t.DTMFMode) {
	case "auto", "rfc4733", "info":
	default:
		bad("trunk.dtmfMode", "%q is not auto, rfc4733 or info", t.DTMFMode)
	}
	if len(t.Codecs) == 0 {
		bad("trunk.codecs", "needs at least one codec: pcmu, pcma or opus")
	}
	for _, codec := range t.Codecs {
		switch strings.ToLower(codec) {
		case "pcmu", "pcma", "opus":
		default:
			bad("trunk.codecs", "%q is not pcmu, pcma or opus", codec)
		}
	}
	for _, a := range t.AcceptFrom {
		if _, _, err := net.ParseCIDR(a); err != nil && net.ParseIP(a) == nil {
			bad("trunk.acceptFrom", "%q is not an IP or a CIDR", a)
		}
	}
	if net.ParseIP(t.Listen.Address) == nil {
		bad("trunk.listen.address", "%q is not an IP address", t.Listen.Address)
	}
	if t.Listen.Port < 1 || t.Listen.Port > 65535 {
		bad("trunk.listen.port", "%d is not a port (1-65535)", t.Listen.Port)
	}
	if ip := net.ParseIP(c.SIPAddress()); t.ExternalAddress == "" && ip != nil && ip.IsUnspecified() {
		bad("trunk.externalAddress", "is required when trunk.listen.address is %s: the trunk needs an address to send to", t.Listen.Address)
	}
	if t.RTPPortMin < 1024 || t.RTPPortMax > 65535 || t.RTPPortMin > t.RTPPortMax {
		bad("trunk.rtpPortMin", "%d-%d is not a port range within 1024-65535", t.RTPPortMin, t.RTPPortMax)
	}
	if t.MaxCalls < 1 {
		bad("trunk.maxCalls", "must be positive")
	}
	if t.InvitesPerSecond <= 0 || t.InvitesBurst < 1 {
		bad("trunk.invitesPerSecond", "invitesPerSecond and invitesBurst must be positive")
	}
	if t.MediaTimeout < 0 {
		bad("trunk.mediaTimeout", "must be 0 (never) or a duration")
	}
	if t.AnswerTimeout < time.Second {
		bad("trunk.answerTimeout", "must be at least a second")
	}
	if t.Register && (t.RegisterExpires < 10*time.Second || t.RegisterExpires > 24*time.Hour) {
		bad("trunk.registerExpires", "must be between 10s and 24h")
	}
}

// RoomSIPDomain is the host:port of rooms' sipUri: qss.sipDomain, or the
// sip role's own address; "" = rooms have no sipUri.
func (c *Config) RoomSIPDomain() string {
	if c.QSS.SIPDomain != "" {
		return c.QSS.SIPDomain
	}
	if !c.SIPEnabled() {
		return ""
	}
	return net.JoinHostPort(c.SIPAddress(), strconv.Itoa(c.Trunk.Listen.Port))
}
