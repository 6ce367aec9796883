package qss

import "github.com/openwac/wac/internal/qss/session"

// Presence is told when a user's first session connects to this node and
// when the last one is removed (session.Presence: read the truth with
// HasLocalSessions). The sip role registers users' SIP identities towards
// the PBX with it. It sees this node's sessions only: a user connected to
// two nodes is present on both.
type Presence = session.Presence

// OnPresence adds p to the functions told of users' first and last
// sessions on this node; call it before serving.
func (h *Hub) OnPresence(p Presence) { h.sessions.OnPresence(p) }

// HasLocalSessions says whether the user has a session on this node.
func (h *Hub) HasLocalSessions(userID string) bool { return h.sessions.HasLocalSessions(userID) }
