// Package videoroom is the media server of OpenWAC as its clients see
// it: a selective forwarding unit (SFU) on Pion that speaks the Janus API
// with the VideoRoom plugin. It is the top of the media layers: it turns
// Janus sessions, handles and VideoRoom requests into peer connections
// and forwarding (package forward), on the node's shared UDP port
// (package udpport); package placement places its rooms on media nodes
// (SFU.PlacementHost is what placement.RunAgent serves).
//
// Its files: gateway.go is the Janus core (sessions, handles, their
// limits), transport.go its REST and WebSocket transports, videoroom.go
// the plugin's requests, room.go, publisher.go and subscriber.go the
// rooms and their participants, webrtc.go the Pion APIs and sockets,
// sfu.go the SFU that holds them.
//
// # What clients use
//
// SFU.Handler serves the Janus API at /janus: the REST transport (POST
// /janus, /janus/{session}, /janus/{session}/{handle}; long poll GET
// /janus/{session}) and the WebSocket transport (an upgrade on /janus with
// the janus-protocol subprotocol). janus.js works against it unchanged.
// A join (as publisher or subscriber) needs the room's grant, given in the
// request's "token" or at the core level as Janus token auth does; rooms
// are addressed by their uuid or by their number. A session that has shown
// no valid grant is pending: it ends after media.grantTimeout, holds few
// handles, and is counted apart from media.maxSessions (per client address
// and in all), so that sessions without a grant cannot take the node's
// places from clients with one. docs/media.md lists the requests, the
// session limits and how they differ from Janus.
//
// # Media
//
// Publishers' RTP is read once and written to each subscriber's down track
// by package forward, which the VideoRoom gives each published m-line to
// (a forward.Stream) and each subscribed one (a forward.DownTrack). NACKs
// are answered from a retransmission buffer and generated toward
// publishers (the interceptors of webrtc.go).
package videoroom
