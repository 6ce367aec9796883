// Package reachability answers the seeds' reachability question (§6.3.3)
// for a user or a group: by which transports can each of its users be
// reached now, its live signaling sessions (the seeds' Wapi connections)
// and the push tokens of its devices. The invitations layer asks it which
// devices of a callee a push must wake: those with a token and no live
// session.
package reachability

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/openwac/wac/internal/qss/session"
	"github.com/openwac/wac/internal/store"
)

// Sessions is what reachability needs of the sessions layer.
type Sessions interface {
	Sessions(ctx context.Context, userIDs []string) ([]session.Info, error)
	Ringable(si session.Info, now time.Time) bool
}

// Tokens is what it needs of the store.
type Tokens interface {
	ListPushTokens(ctx context.Context, userID string, domainIDs []string, p store.Page) ([]*store.PushToken, error)
	GroupMembers(ctx context.Context, groupID string) ([]string, error)
}

// Resolver gives the reachability of users and groups.
type Resolver struct {
	Sessions Sessions
	Store    Tokens
	// Push says whether a push service is configured; without one the
	// tokens are not transports (the seeds: without PushNotifications,
	// pushes are not resolved).
	Push bool
}

// Session is one live (or resuming) signaling session of a user.
type Session struct {
	ID       string `json:"id"`
	DeviceID string `json:"deviceId,omitempty"`
	Node     string `json:"node"`
}

// Token is one push transport of a user.
type Token struct {
	ID        string `json:"id"`
	TokenType string `json:"tokenType"`
	DeviceID  string `json:"deviceId,omitempty"`
	// Online says a live session runs on the token's device: a push to it
	// is not needed to reach the user there.
	Online bool `json:"online"`
}

// User is the reachability of one user.
type User struct {
	ID         string    `json:"id"`
	Online     bool      `json:"online"`
	Sessions   []Session `json:"sessions"`
	PushTokens []Token   `json:"pushTokens"`
	Reachable  bool      `json:"reachable"`
}

// Answer is the reachability of a resource: a user, or a group and its
// participants.
type Answer struct {
	Resource string `json:"resource"`
	Type     string `json:"type"` // user or group
	Users    []User `json:"users"`
}

// User answers for one user.
func (r *Resolver) User(ctx context.Context, userID string) (*Answer, error) {
	users, err := r.Users(ctx, []string{userID})
	if err != nil {
		return nil, err
	}
	return &Answer{Resource: userID, Type: "user", Users: users}, nil
}

// Group answers for a group: each of its participants.
func (r *Resolver) Group(ctx context.Context, groupID string) (*Answer, error) {
	ids, err := r.Store.GroupMembers(ctx, groupID)
	if err != nil {
		return nil, fmt.Errorf("reachability of group %s: %w", groupID, err)
	}
	users, err := r.Users(ctx, ids)
	if err != nil {
		return nil, err
	}
	return &Answer{Resource: groupID, Type: "group", Users: users}, nil
}

// Users answers for some users, in the order given.
func (r *Resolver) Users(ctx context.Context, ids []string) ([]User, error) {
	list, err := r.Sessions.Sessions(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("reachability: list sessions: %w", err)
	}
	now := time.Now()
	out := make([]User, len(ids))
	for i, id := range ids {
		u := User{ID: id, Sessions: []Session{}, PushTokens: []Token{}}
		for _, si := range list {
			if si.User == id && r.Sessions.Ringable(si, now) {
				u.Sessions = append(u.Sessions, Session{ID: si.ID, DeviceID: si.DeviceID, Node: si.Node})
			}
		}
		u.Online = len(u.Sessions) > 0
		if r.Push {
			toks, err := r.Store.ListPushTokens(ctx, id, nil, store.Page{})
			if err != nil {
				return nil, fmt.Errorf("reachability: push tokens of %s: %w", id, err)
			}
			for _, t := range toks {
				u.PushTokens = append(u.PushTokens, Token{ID: t.ID, TokenType: t.TokenType, DeviceID: t.DeviceID,
					Online: online(u.Sessions, t.DeviceID)})
			}
		}
		u.Reachable = u.Online || len(u.PushTokens) > 0
		out[i] = u
	}
	return out, nil
}

// online says whether a token's device runs a live session: a session of
// that deviceId or, for a token registered without one, any session (the
// device cannot be told apart, so the user counts as reached).
func online(sessions []Session, deviceID string) bool {
	if deviceID == "" {
		return len(sessions) > 0
	}
	return slices.ContainsFunc(sessions, func(s Session) bool { return s.DeviceID == deviceID })
}

// Offline lists the ids of the tokens a push must go to: those of devices
// without a live session.
func (u User) Offline() []string {
	var ids []string
	for _, t := range u.PushTokens {
		if !t.Online {
			ids = append(ids, t.ID)
		}
	}
	return ids
}
