package session

// Presence is told when a user's sessions on this node go from none to
// some (the first one connects) and from some to none (the last one is
// removed). It is called outside the server's locks, possibly from
// several goroutines at once, so two calls for one user may arrive in
// either order: it must not block, and should read the truth with
// HasLocalSessions rather than trust the order of calls.
type Presence func(userID string)

// OnPresence adds p to the functions told of users' first and last
// sessions on this node.
func (srv *Server) OnPresence(p Presence) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	srv.presence = append(srv.presence, p)
}

// HasLocalSessions says whether the user has a session on this node (a
// session whose connection dropped counts until it is removed).
func (srv *Server) HasLocalSessions(userID string) bool {
	srv.mu.RLock()
	defer srv.mu.RUnlock()
	return srv.users[userID] != nil
}

// presenceChanged tells the Presence functions of userID.
func (srv *Server) presenceChanged(userID string) {
	srv.mu.RLock()
	list := srv.presence
	srv.mu.RUnlock()
	for _, p := range list {
		p(userID)
	}
}
