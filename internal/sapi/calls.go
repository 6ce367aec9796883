package sapi

import (
	"net/http"

	"github.com/openwac/wac/internal/auth"
	"github.com/openwac/wac/internal/store"
)

// callJSON is a call record: the room, who was in it when, the invitations
// made in it and the transfers (the seeds' call history).
type callJSON struct {
	ID           string                  `json:"id"`
	Room         string                  `json:"room"`
	Owner        string                  `json:"owner"`
	Creator      string                  `json:"creator"`
	Created      int64                   `json:"created"`
	Finished     int64                   `json:"finished"`
	Domains      []string                `json:"domains"`
	Participants []store.CallParticipant `json:"participants"`
	Invites      []store.CallInvite      `json:"invites"`
	Transfers    []store.CallTransfer    `json:"transfers"`
}

func toCallJSON(c *store.Call) callJSON {
	out := callJSON{ID: c.ID, Room: c.Room, Owner: c.OwnerID, Creator: c.Detail.Creator, Created: c.Created, Finished: c.Finished,
		Domains: c.Detail.Domains, Participants: c.Detail.Participants, Invites: c.Detail.Invites, Transfers: c.Detail.Transfers}
	if out.Domains == nil {
		out.Domains = []string{}
	}
	if out.Participants == nil {
		out.Participants = []store.CallParticipant{}
	}
	if out.Invites == nil {
		out.Invites = []store.CallInvite{}
	}
	if out.Transfers == nil {
		out.Transfers = []store.CallTransfer{}
	}
	return out
}

// requireCallHistory lets through admins and the users whose capabilities
// include the seeds' call-history ("ability to access the call history
// endpoint"; the callcontrol service brings it).
func (a *API) requireCallHistory(r *http.Request, p *auth.Principal) error {
	if p.IsAdmin() {
		return nil
	}
	caps, err := a.auth.Capabilities(r.Context(), p)
	if err != nil {
		return err
	}
	if !caps.Has("call-history") {
		return forbidden("the call-history capability is required")
	}
	return nil
}

// listCalls is GET /sapi/calls: the caller's own calls, newest first; admins
// see the calls of their scope (?user= narrows to one user).
func (a *API) listCalls(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	if err := a.requireCallHistory(r, p); err != nil {
		return err
	}
	f := store.CallFilter{UserID: p.UserID}
	if p.IsAdmin() {
		if f.DomainIDs, err = a.auth.Scope(r.Context(), p); err != nil {
			return err
		}
		if f.UserID, err = queryText(r, "user", maxQueryName); err != nil {
			return err
		}
	} else if p.UserID == "" {
		return forbidden("clients have no call history")
	}
	calls, err := a.st.ListCalls(r.Context(), f, pg)
	if err != nil {
		return err
	}
	out := make([]callJSON, 0, len(calls))
	for _, c := range calls {
		out = append(out, toCallJSON(c))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// getCall is GET /sapi/calls/{id}, for its users and the admins of their domains.
func (a *API) getCall(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	id, err := pathID(r, "id", "call")
	if err != nil {
		return err
	}
	if err := a.requireCallHistory(r, p); err != nil {
		return err
	}
	c, err := a.st.GetCall(r.Context(), id)
	if err != nil {
		return storeErr(err, "call")
	}
	users, err := a.st.CallUsers(r.Context(), id)
	if err != nil {
		return err
	}
	allowed := false
	if _, ok := users[p.UserID]; ok && p.UserID != "" {
		allowed = true
	} else if p.IsAdmin() {
		scope, err := a.auth.Scope(r.Context(), p)
		if err != nil {
			return err
		}
		for _, d := range users {
			if auth.InScope(scope, d) {
				allowed = true
			}
		}
	}
	if !allowed {
		return notFound("call")
	}
	writeJSON(w, http.StatusOK, toCallJSON(c))
	return nil
}
