package session

import (
	"context"
	"sort"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/openwac/wac/internal/qss/wire"
)

// Info is a session as the directory (and SAPI) shows it.
type Info struct {
	ID        string `json:"id"`
	User      string `json:"user"`
	Username  string `json:"username"`
	Domain    string `json:"domain"`
	DomainID  string `json:"domainId"`
	Role      string `json:"role"`
	Node      string `json:"node"`
	Connected bool   `json:"connected"`
	Created   int64  `json:"created"`
	// Disconnected is when the connection of a session waiting to be
	// resumed dropped (unix ms); absent while connected.
	Disconnected int64 `json:"disconnected,omitempty"`
	Device
}

// sessionsKey is the shared set of a user's sessions: session id → Info.
func sessionsKey(user string) string { return "sessions." + user }

func (srv *Server) info(s *Session) Info {
	s.mu.Lock()
	d, connected, abandoned := s.device, s.conn != nil && !s.closed, s.abandoned
	s.mu.Unlock()
	si := Info{ID: s.ID, User: s.User.UserID, Username: s.User.Username, Domain: s.User.DomainName,
		DomainID: s.User.DomainID, Role: s.User.Role, Node: srv.node.ID, Connected: connected,
		Created: s.start.UnixMilli(), Device: d}
	if !connected && !abandoned.IsZero() {
		si.Disconnected = abandoned.UnixMilli()
	}
	return si
}

// Ringable reports whether an invitation may ring the session: it is
// connected, or it dropped less than invites.basic.removeAfter ago and gets
// the invitation when it resumes.
func (srv *Server) Ringable(si Info, now time.Time) bool {
	if si.Connected {
		return true
	}
	window := srv.cfg.Invites.Basic.RemoveAfter
	return si.Disconnected > 0 && now.Sub(time.UnixMilli(si.Disconnected)) < window
}

// save writes the session into the shared directory.
func (srv *Server) save(ctx context.Context, s *Session) {
	if srv.single {
		return // Sessions reads this node's own map
	}
	srv.node.State.SetPut(ctx, sessionsKey(s.User.UserID), s.ID, srv.info(s))
}

// Sessions lists the sessions of some users (nil = everyone) from the shared
// directory, skipping (and removing) those of dead nodes.
func (srv *Server) Sessions(ctx context.Context, userIDs []string) ([]Info, error) {
	if srv.single {
		return srv.localSessions(userIDs), nil
	}
	var keys []string
	if userIDs == nil {
		k, err := srv.node.State.Keys(ctx, "sessions.")
		if err != nil {
			return nil, err
		}
		keys = k
	} else {
		for _, u := range userIDs {
			keys = append(keys, sessionsKey(u))
		}
	}
	alive := map[string]bool{}
	var out []Info
	for _, k := range keys {
		m, err := srv.node.State.SetGet(ctx, k)
		if err != nil {
			return nil, err
		}
		var dead []string
		for id, raw := range m {
			var si Info
			if json.Unmarshal(raw, &si) != nil {
				continue
			}
			live, known := alive[si.Node]
			if !known {
				live = srv.node.Alive(ctx, si.Node)
				alive[si.Node] = live
			}
			if !live {
				dead = append(dead, id)
				continue
			}
			out = append(out, si)
		}
		if len(dead) > 0 { // a dead node's leftovers
			srv.node.State.SetChange(ctx, k, func(m map[string]json.RawMessage) {
				for _, id := range dead {
					delete(m, id)
				}
			})
		}
	}
	sortInfos(out)
	return out, nil
}

// localSessions lists this node's sessions of some users (nil = everyone).
func (srv *Server) localSessions(userIDs []string) []Info {
	var list []*Session
	srv.mu.RLock()
	if userIDs == nil {
		for _, s := range srv.sessions {
			list = append(list, s)
		}
	} else {
		for _, id := range userIDs {
			if u := srv.users[id]; u != nil {
				for _, s := range u.sessions {
					list = append(list, s)
				}
			}
		}
	}
	srv.mu.RUnlock()
	out := make([]Info, 0, len(list))
	for _, s := range list {
		s.mu.Lock()
		gone := s.closed
		s.mu.Unlock()
		if !gone {
			out = append(out, srv.info(s))
		}
	}
	sortInfos(out)
	return out
}

// sortInfos orders sessions oldest first.
func sortInfos(list []Info) {
	sort.Slice(list, func(i, j int) bool {
		return list[i].Created < list[j].Created || list[i].Created == list[j].Created && list[i].ID < list[j].ID
	})
}

// updateSession records the device context of the session.
func (srv *Server) updateSession(ctx context.Context, s *Session, f *wire.Frame) (any, error) {
	var d Device
	if err := f.DecodePayload(&d); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.device.update(d.clipped())
	s.mu.Unlock()
	srv.save(ctx, s)
	return srv.info(s), nil
}
