package session

import (
	"bytes"
	"context"

	"github.com/segmentio/encoding/json"

	"github.com/openwac/wac/internal/auth"
	"github.com/openwac/wac/internal/qss/cluster"
	"github.com/openwac/wac/internal/qss/wire"
)

// envelope is what travels on user subjects and wac.all.
type envelope struct {
	Kind     string          `json:"k"`                // frame, cancelPending, end; revoke, invalidate, or a notice's kind
	Sessions []string        `json:"s,omitempty"`      // target sessions; empty = all of the user
	Frame    json.RawMessage `json:"f,omitempty"`      // the frame to send
	Pending  *pendingNote    `json:"p,omitempty"`      // a server request the client will answer
	User     string          `json:"u,omitempty"`      // revoke: whose
	Grants   []string        `json:"g,omitempty"`      // revoke: which grants (empty = all)
	Hashes   []string        `json:"h,omitempty"`      // revoke: token hashes to forget
	Reason   string          `json:"r,omitempty"`      //
	Except   string          `json:"x,omitempty"`      // a session (a node, for invalidate) not to send to
	Room     string          `json:"room,omitempty"`   // joined/left bookkeeping; what a notice is about
	Joined   *bool           `json:"joined,omitempty"` //
}

// pendingNote is a server request on its way to the session it rings.
type pendingNote struct {
	ReqID string `json:"x"`
	Pending
}

// marshal writes an envelope as its JSON header, a newline, and the frame
// as it is: frames cross the bus without being parsed again.
func (e *envelope) marshal() []byte {
	head := wire.Encode(e)
	out := make([]byte, 0, len(head)+1+len(e.Frame))
	out = append(append(head, '\n'), e.Frame...)
	return out
}

func (e *envelope) unmarshal(data []byte) error {
	head, frame, _ := bytes.Cut(data, []byte{'\n'})
	if err := json.Unmarshal(head, e); err != nil {
		return err
	}
	if len(frame) > 0 {
		e.Frame = frame
	}
	return nil
}

// send sends an envelope to sessions of a user (all when sessions is
// empty), wherever they are connected.
func (srv *Server) send(ctx context.Context, user string, sessions []string, env *envelope) error {
	env.Sessions = sessions
	if srv.single {
		// Alone on its bus: every session is here, nothing to encode.
		srv.toSessions(user, env)
		return nil
	}
	return srv.node.Bus.Publish(ctx, cluster.UserSubject(user), env.marshal())
}

// deliver sends an envelope as send does, and logs a failure.
func (srv *Server) deliver(ctx context.Context, user string, sessions []string, env *envelope) {
	if err := srv.send(ctx, user, sessions, env); err != nil {
		srv.log.Warn("qss: deliver", "user", user, "sessions", sessions, "kind", env.Kind, "err", err)
	}
}

// Deliver sends frame to sessions of a user (all of them when sessions is
// empty), wherever they are connected.
func (srv *Server) Deliver(ctx context.Context, user string, sessions []string, frame []byte) {
	srv.deliver(ctx, user, sessions, &envelope{Kind: "frame", Frame: frame})
}

// SetJoined tells sessions of a user, wherever they are connected, that
// they joined room (joined) or left it: a session leaves its rooms when
// it goes.
func (srv *Server) SetJoined(ctx context.Context, user string, sessions []string, room string, joined bool) {
	srv.deliver(ctx, user, sessions, &envelope{Kind: "frame", Room: room, Joined: &joined})
}

// Ring sends the server request frame (requestID reqID) to a session of a
// user; the session's answer goes where p says. A session that cannot take
// it (away too long) is reported gone to p's owner (Invitations).
func (srv *Server) Ring(ctx context.Context, user, session, reqID string, p Pending, frame []byte) {
	srv.deliver(ctx, user, []string{session}, &envelope{Kind: "frame", Frame: frame, Pending: &pendingNote{ReqID: reqID, Pending: p}})
}

// StopRinging tells a session of a user that the server request reqID is
// over, with frame (its cancel).
func (srv *Server) StopRinging(ctx context.Context, user, session, reqID string, frame []byte) {
	srv.deliver(ctx, user, []string{session}, &envelope{Kind: "cancelPending", Frame: frame, Pending: &pendingNote{ReqID: reqID}})
}

// End closes a session wherever it runs (SAPI's DELETE).
func (srv *Server) End(ctx context.Context, user, session, reason string) error {
	return srv.send(ctx, user, []string{session}, &envelope{Kind: "end", Reason: reason})
}

// Receive handles what the bus delivers to this node: a delivery to a
// user's sessions, or a notice to every node.
func (srv *Server) Receive(subject string, data []byte) {
	var env envelope
	if err := env.unmarshal(data); err != nil {
		srv.log.Warn("qss: bad bus message", "subject", subject, "err", err)
		return
	}
	if subject == cluster.SubjectAll {
		srv.onNotice(&env)
		return
	}
	if user, ok := cluster.UserOfSubject(subject); ok {
		srv.toSessions(user, &env)
	}
}

// toSessions hands an envelope to the targeted sessions of a user that are
// connected to this node.
func (srv *Server) toSessions(user string, env *envelope) {
	srv.mu.RLock()
	var targets []*Session
	if u := srv.users[user]; u != nil {
		if len(env.Sessions) == 0 {
			for _, s := range u.sessions {
				targets = append(targets, s)
			}
		} else {
			for _, id := range env.Sessions {
				if s := u.sessions[id]; s != nil {
					targets = append(targets, s)
				}
			}
		}
	}
	srv.mu.RUnlock()
	for _, s := range targets {
		if s.ID == env.Except {
			continue
		}
		switch env.Kind {
		case "frame":
			if env.Joined != nil {
				s.SetJoined(env.Room, *env.Joined)
			}
			switch {
			case env.Pending != nil:
				p := env.Pending.Pending
				if !s.sendRequest(env.Pending.ReqID, p, env.Frame) {
					// Away too long (or too much held): not a candidate.
					srv.tasks.Go(func(ctx context.Context) { srv.invites.DropRequests(ctx, s, []Pending{p}) })
				}
			case len(env.Frame) > 0:
				s.Send(env.Frame)
			}
		case "cancelPending":
			var frame []byte
			if len(env.Frame) > 0 {
				frame = env.Frame
			}
			s.cancelRequest(env.Pending.ReqID, frame)
		case "end":
			srv.tasks.Go(func(ctx context.Context) {
				s.end(env.Reason)
				srv.remove(ctx, s, env.Reason)
			})
		}
	}
}

// OnNotice runs fn, as a task, when a notice of kind reaches this node
// (Broadcast).
func (srv *Server) OnNotice(kind string, fn func(ctx context.Context, about string)) {
	srv.notices[kind] = fn
}

// Broadcast tells every node, this one included, a notice of kind about
// something (a room that ended).
func (srv *Server) Broadcast(ctx context.Context, kind, about string) {
	srv.publish(ctx, &envelope{Kind: kind, Room: about})
}

// publish sends env to every node.
func (srv *Server) publish(ctx context.Context, env *envelope) {
	if err := srv.node.Bus.Publish(ctx, cluster.SubjectAll, env.marshal()); err != nil {
		srv.log.Warn("qss: broadcast", "kind", env.Kind, "err", err)
	}
}

// onRevoke tells every node that grants ended, so sessions opened with them
// close (exclusive login, logout, deletion) and caches forget the tokens.
func (srv *Server) onRevoke(r auth.Revocation) {
	srv.tasks.Do(func(ctx context.Context) {
		srv.publish(ctx, &envelope{Kind: "revoke", User: r.UserID, Grants: r.GrantIDs, Hashes: r.Hashes, Reason: r.Reason})
	})
}

// onInvalidate tells the other nodes that cached records changed.
func (srv *Server) onInvalidate(inv auth.Invalidation) {
	srv.tasks.Do(func(ctx context.Context) {
		srv.publish(ctx, &envelope{Kind: "invalidate", Reason: inv.Kind, User: inv.ID, Except: srv.node.ID})
	})
}

func (srv *Server) onNotice(env *envelope) {
	switch env.Kind {
	case "revoke":
		srv.revoked(env)
	case "invalidate":
		if env.Except != srv.node.ID {
			srv.auth.Apply(auth.Invalidation{Kind: env.Reason, ID: env.User})
		}
	default:
		if fn := srv.notices[env.Kind]; fn != nil {
			about := env.Room
			srv.tasks.Go(func(ctx context.Context) { fn(ctx, about) })
		}
	}
}

// revoked ends the sessions opened with grants that ended.
func (srv *Server) revoked(env *envelope) {
	srv.auth.Forget(env.Hashes)
	if env.User == "" {
		return
	}
	grants := map[string]bool{}
	for _, g := range env.Grants {
		grants[g] = true
	}
	srv.mu.RLock()
	var victims []*Session
	if u := srv.users[env.User]; u != nil {
		for _, s := range u.sessions {
			if len(grants) == 0 || grants[s.User.GrantID] {
				victims = append(victims, s)
			}
		}
	}
	srv.mu.RUnlock()
	for _, s := range victims {
		srv.tasks.Go(func(ctx context.Context) {
			srv.log.Info("qss: ending session", "session", s.ID, "user", s.User.Username, "reason", env.Reason)
			s.end(env.Reason)
			srv.remove(ctx, s, env.Reason)
		})
	}
}
