package config

import (
	"regexp"
	"time"
)

// IO is the seeds' io section: the QSS WebSocket on its own interface.
type IO struct {
	Websockets Websockets `yaml:"websockets"`
}

// Websockets configures the separate QSS WebSocket listener (the socket is
// always also served at /qss on the public interface).
type Websockets struct {
	Iface string `yaml:"iface" doc:"address of the separate QSS WebSocket listener"`
	Port  int    `yaml:"port" doc:"port of the separate QSS WebSocket listener, 0 = only /qss on the public interface"`
	SSL   struct {
		Key  string `yaml:"key" doc:"TLS key of the separate QSS WebSocket listener"`
		Cert string `yaml:"cert" doc:"TLS certificate of the separate QSS WebSocket listener"`
	} `yaml:"ssl"`
}

// QSS holds the signaling server's own limits.
type QSS struct {
	PingInterval  time.Duration `yaml:"pingInterval" unit:"ms" doc:"milliseconds between WebSocket pings to each session"`
	PingTimeout   time.Duration `yaml:"pingTimeout" unit:"ms" doc:"milliseconds a ping may wait for its pong before the session is dead"`
	MaxFrameBytes int64         `yaml:"maxFrameBytes" doc:"largest WebSocket frame accepted from a client"`
	RequestRate   float64       `yaml:"requestRate" doc:"requests per second per session (burst twice that); more are refused with 429"`
	SendQueue     int           `yaml:"sendQueue" doc:"frames queued for a slow session before it is disconnected"`
	SIPDomain     string        `yaml:"sipDomain" doc:"host:port of the SIP side for rooms' sipUri (sip:888<number>@sipDomain, what a phone dials to join the room); empty = the sip role's own address (trunk.externalAddress or trunk.listen) where it runs, else rooms have no sipUri"`
}

// Rooms is the seeds' rooms service configuration.
type Rooms struct {
	SetOwner                  bool          `yaml:"setOwner" doc:"rooms have an owner; only the owner updates, expels and destroys"`
	UpdateRoomOwnerWhenLeaves bool          `yaml:"updateRoomOwnerWhenLeaves" doc:"when the owner leaves, a remaining participant becomes owner"`
	RemoveAfter               time.Duration `yaml:"removeAfter" unit:"ms" doc:"milliseconds a disconnected session stays in its rooms (0 = it leaves at once, 480 connection lost); a reconnect within this or invites.basic.removeAfter, whichever is larger, resumes the session"`
	ParticipantsLimit         int           `yaml:"participantsLimit" doc:"most participants in a room"`
	NotInACall                bool          `yaml:"notInACall" doc:"a user in a call may create a room only if conferenceState.allowInvitesWhileInCall"`
	UserIDAsRoomID            bool          `yaml:"userIdAsRoomId" doc:"the room of a user is named after the user (one room per user)"`
	Bitrate                   int           `yaml:"bitrate" doc:"the room object's bitrate (kbps) announced to clients"`
	IdleTimeout               time.Duration `yaml:"idleTimeout" unit:"ms" doc:"milliseconds after which a room nobody is in is destroyed, 0 = never (rooms live until destroyed)"`
	TokenTTL                  time.Duration `yaml:"tokenTtl" unit:"s" doc:"seconds a room token (media grant) is valid"`
	MaxPerUser                int           `yaml:"maxPerUser" doc:"rooms one user may have open at once on a node (created and not destroyed), 0 = no limit; more are refused with 429"`
}

// ConferenceState is the seeds' conferenceState service configuration.
type ConferenceState struct {
	AllowInvitesWhileInCall bool `yaml:"allowInvitesWhileInCall" doc:"users already in a call may be rung (false: the caller gets 486)"`
}

// Invites is the seeds' invites service configuration.
type Invites struct {
	Basic                        InvitesBasic `yaml:"basic"`
	OnlyOneDeviceWithInvitations bool         `yaml:"onlyOneDeviceWithInvitations" doc:"accepting a call on one device stops the user's other ringing calls"`
}

// InvitesBasic is the seeds' invites.basic section.
type InvitesBasic struct {
	RemoveAfter               time.Duration `yaml:"removeAfter" unit:"ms" doc:"milliseconds a disconnected session is still rung: invitations ringing it or made meanwhile wait for its resume; after it, it is dropped from them and new ones do not count it (0 = at once); counted apart from rooms.removeAfter"`
	ResolveGroups             bool          `yaml:"resolveGroups" doc:"invitations to a group ring its participants (hunt group); ignored when legacyUserGroupResolution is false"`
	ResolvePush               bool          `yaml:"resolvePush" doc:"also wake the devices of callees that have a push token and no live session (push.apns, push.fcm; docs/notifications.md); ignored when legacyUserGroupResolution is false"`
	LegacyUserGroupResolution bool          `yaml:"legacyUserGroupResolution" doc:"false = the seeds' one-step resolution: resolveGroups and resolvePush are ignored, groups always ring their participants and callees are pushed when a push service exists"`
}

// Watchdog is the seeds' watchdog section.
type Watchdog struct {
	Invites WatchdogInvites `yaml:"invites"`
}

// WatchdogInvites stops invitations that ring too long.
type WatchdogInvites struct {
	Enabled    bool          `yaml:"enabled" doc:"cancel invitations that ring longer than expiration"`
	Period     time.Duration `yaml:"period" unit:"ms" doc:"milliseconds between checks for expired invitations"`
	Expiration time.Duration `yaml:"expiration" unit:"ms" doc:"milliseconds an invitation may ring before everyone gets 408"`
}

// QuickConference is the seeds' quickConference section.
type QuickConference struct {
	URIRegex string `yaml:"uriRegex" doc:"pattern a conference URI must match"`
}

// Bus selects how nodes reach each other.
type Bus struct {
	Driver   string `yaml:"driver" doc:"local (one node) or nats (a cluster)"`
	URL      string `yaml:"url" doc:"NATS server URL(s); empty with driver nats = start an embedded NATS server"`
	Listen   string `yaml:"listen" doc:"host:port of the embedded NATS server"`
	NodeID   string `yaml:"nodeId" doc:"this node's name in the cluster; empty = generated at each start"`
	Replicas int    `yaml:"replicas" doc:"JetStream replicas of the shared state (1 on a single NATS server)"`
}

func defaultSignaling(c *Config) {
	c.IO.Websockets.Iface = "127.0.0.1"
	c.QSS = QSS{PingInterval: 20 * time.Second, PingTimeout: 10 * time.Second, MaxFrameBytes: 64 << 10, RequestRate: 20, SendQueue: 512}
	// A dropped connection keeps its calls for 10 s (the seeds say 0 for
	// rooms): a network blip or a page reload resumes the call.
	c.Rooms = Rooms{SetOwner: true, ParticipantsLimit: 100, Bitrate: 1024, TokenTTL: 24 * time.Hour, RemoveAfter: 10 * time.Second, MaxPerUser: 100}
	c.ConferenceState = ConferenceState{AllowInvitesWhileInCall: true}
	c.Invites = Invites{Basic: InvitesBasic{RemoveAfter: 10 * time.Second, ResolveGroups: true, LegacyUserGroupResolution: true}}
	c.Watchdog = Watchdog{Invites: WatchdogInvites{Enabled: true, Period: 5 * time.Second, Expiration: time.Minute}}
	c.QuickConference = QuickConference{URIRegex: `^wac-conf\d{20}$`}
	c.CallHistoryDays = 7
	c.Bus = Bus{Driver: "local", Listen: "127.0.0.1:4222", Replicas: 1}
}

func (c *Config) validateSignaling(bad func(key, format string, args ...any)) {
	if c.IO.Websockets.Port < 0 || c.IO.Websockets.Port > 65535 {
		bad("io.websockets.port", "%d is not a port", c.IO.Websockets.Port)
	}
	if (c.IO.Websockets.SSL.Key == "") != (c.IO.Websockets.SSL.Cert == "") {
		bad("io.websockets.ssl", "needs both key and cert")
	}
	if c.QSS.PingInterval < time.Second {
		bad("qss.pingInterval", "%s is less than 1s", c.QSS.PingInterval)
	}
	if c.QSS.PingTimeout < 100*time.Millisecond {
		bad("qss.pingTimeout", "%s is less than 100ms", c.QSS.PingTimeout)
	}
	if c.QSS.MaxFrameBytes < 1024 {
		bad("qss.maxFrameBytes", "must be at least 1024")
	}
	if c.QSS.RequestRate <= 0 {
		bad("qss.requestRate", "must be positive")
	}
	if c.QSS.SendQueue < 16 {
		bad("qss.sendQueue", "must be at least 16")
	}
	if c.Rooms.RemoveAfter < 0 {
		bad("rooms.removeAfter", "must not be negative")
	}
	if c.Rooms.ParticipantsLimit < 2 {
		bad("rooms.participantsLimit", "must be at least 2")
	}
	if c.Rooms.IdleTimeout < 0 {
		bad("rooms.idleTimeout", "must not be negative")
	}
	if c.Rooms.MaxPerUser < 0 {
		bad("rooms.maxPerUser", "must not be negative (0 = no limit)")
	}
	if c.Rooms.TokenTTL < time.Minute {
		bad("rooms.tokenTtl", "%s is less than 1m", c.Rooms.TokenTTL)
	}
	if c.Invites.Basic.RemoveAfter < 0 {
		bad("invites.basic.removeAfter", "must not be negative")
	}
	if w := c.Watchdog.Invites; w.Enabled {
		if w.Period <= 0 {
			bad("watchdog.invites.period", "is required (a positive duration) when the invites watchdog is enabled")
		}
		if w.Expiration <= 0 {
			bad("watchdog.invites.expiration", "is required (a positive duration) when the invites watchdog is enabled")
		}
	}
	if _, err := regexp.Compile(c.QuickConference.URIRegex); err != nil || c.QuickConference.URIRegex == "" {
		bad("quickConference.uriRegex", "not a valid pattern: %v", err)
	}
	if c.CallHistoryDays < 0 {
		bad("callHistoryDays", "must not be negative (0 keeps calls forever)")
	}
	switch c.Bus.Driver {
	case "local", "nats":
	default:
		bad("bus.driver", "%q is not local or nats", c.Bus.Driver)
	}
	if c.Bus.Replicas < 1 {
		bad("bus.replicas", "must be at least 1")
	}
}
