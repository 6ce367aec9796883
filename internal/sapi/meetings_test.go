package sapi_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/openwac/wac/internal/config"
)

type meeting struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Description  string `json:"description"`
	Domain       string `json:"domain"`
	User         string `json:"user"`
	ValidSince   int64  `json:"validSince"`
	ValidUntil   int64  `json:"validUntil"`
	Language     string `json:"language"`
	Participants []struct {
		Type, User, Username, Email, Phone string
	} `json:"participants"`
	Users    []string `json:"users"`
	URL      string   `json:"url"`
	URI      string   `json:"uri"`
	DDI      *struct{ Extension, PIN string }
	Sequence int64 `json:"sequence"`
}

// Meetings: scheduling with the seeds' fields, validation naming the
// field, who sees and changes them, and the capability.
func TestMeetings(t *testing.T) {
	eachDialect(t, func(c *config.Config) {
		c.Meetings.LinkHost = "https://meet.example.com"
		c.Meetings.PSTNExtension = "+34999999999"
		c.Meetings.MaxParticipants = 3
	}, func(t *testing.T, e *env) {
		alice := e.createUser(e.admin, "wac", "alice", "user", "alice-password-1")
		bob := e.createUser(e.admin, "wac", "bob", "user", "bob-password-1")
		e.createUser(e.admin, "wac", "carol", "user", "carol-password-1")
		e.createDomain(e.admin, map[string]any{"domain": "other"})
		mallory := e.createUser(e.admin, "other", "mallory", "user", "mallory-password-1")
		aliceTok := e.login("alice@wac", "alice-password-1")
		bobTok := e.login("bob@wac", "bob-password-1")
		carolTok := e.login("carol@wac", "carol-password-1")
		malloryTok := e.login("mallory@other", "mallory-password-1")

		now := time.Now().UnixMilli()
		body := map[string]any{"name": "Weekly", "description": "Agenda:\n1. news", "validSince": now + 3600000,
			"validUntil": now + 7200000, "language": "es",
			"participants": []map[string]string{{"user": "bob"}, {"email": "guest@example.org"}, {"phone": "+34600000001"}}}
		var m meeting
		r := e.want(e.do("POST", "/sapi/meetings", aliceTok, body), 201)
		r.json(t, &m)
		if r.header.Get("Location") != "/sapi/meetings/"+m.ID {
			t.Errorf("Location %q", r.header.Get("Location"))
		}
		if m.User != alice.ID || m.Name != "Weekly" || m.Language != "es" || m.Domain != "wac" || m.Sequence != 0 {
			t.Errorf("meeting %+v", m)
		}
		if m.URL != "https://meet.example.com/meeting/"+m.ID+"?domain=wac" || m.URI != "wac-meeting:"+m.ID {
			t.Errorf("url %q uri %q", m.URL, m.URI)
		}
		if m.DDI == nil || m.DDI.Extension != "+34999999999" || len(m.DDI.PIN) != 8 {
			t.Errorf("ddi %+v", m.DDI)
		}
		if len(m.Participants) != 3 || m.Participants[0].User != bob.ID || m.Participants[0].Username != "bob" ||
			m.Participants[1].Email != "guest@example.org" || m.Participants[2].Phone != "+34600000001" {
			t.Errorf("participants %+v", m.Participants)
		}
		if len(m.Users) != 1 || m.Users[0] != bob.ID {
			t.Errorf("users %v", m.Users)
		}

		// Who sees it: the owner, the invited user, the admin; not carol
		// (same domain, not invited) nor another tenant's user.
		for _, tok := range []string{aliceTok, bobTok, e.admin} {
			e.want(e.do("GET", "/sapi/meetings/"+m.ID, tok, nil), 200)
		}
		for _, tok := range []string{carolTok, malloryTok} {
			e.wantErr(e.do("GET", "/sapi/meetings/"+m.ID, tok, nil), 404, "")
			e.wantErr(e.do("PUT", "/sapi/meetings/"+m.ID, tok, map[string]any{"name": "x"}), 404, "")
			e.wantErr(e.do("DELETE", "/sapi/meetings/"+m.ID, tok, nil), 404, "")
		}
		list := func(tok, q string) []meeting {
			var out []meeting
			e.want(e.do("GET", "/sapi/meetings"+q, tok, nil), 200).json(t, &out)
			return out
		}
		if n := len(list(bobTok, "")); n != 1 {
			t.Errorf("bob lists %d meetings", n)
		}
		if n := len(list(carolTok, "")); n != 0 {
			t.Errorf("carol lists %d meetings", n)
		}
		if n := len(list(malloryTok, "")); n != 0 {
			t.Errorf("mallory lists %d meetings", n)
		}
		if n := len(list(e.admin, "?user="+alice.ID)); n != 1 {
			t.Errorf("the admin lists %d of alice's meetings", n)
		}
		if n := len(list(aliceTok, fmt.Sprintf("?from=%d", now+8000000))); n != 0 {
			t.Errorf("alice lists %d meetings ending after the window", n)
		}
		e.want(e.do("GET", "/sapi/meetings?user="+bob.ID, aliceTok, nil), 403)

		// The invited user cannot change it (403); its owner can.
		e.want(e.do("PUT", "/sapi/meetings/"+m.ID, bobTok, map[string]any{"name": "x"}), 403)
		var up meeting
		e.want(e.do("PUT", "/sapi/meetings/"+m.ID, aliceTok, map[string]any{"name": "Weekly (moved)",
			"validSince": now + 7200000, "validUntil": now + 9000000, "participants": []map[string]string{{"email": "guest@example.org"}}}), 200).json(t, &up)
		if up.Sequence != 1 || up.Name != "Weekly (moved)" || len(up.Participants) != 1 || up.DDI == nil || up.DDI.PIN != m.DDI.PIN {
			t.Errorf("updated %+v", up)
		}
		e.wantErr(e.do("GET", "/sapi/meetings/"+m.ID, bobTok, nil), 404, "") // no longer invited

		// Bad input: 4xx naming the field.
		for _, c := range []struct {
			body   map[string]any
			status int
			field  string
		}{
			{map[string]any{"validSince": now + 1000, "validUntil": now + 2000}, 422, "name"},
			{map[string]any{"name": "x", "validUntil": now + 2000}, 422, "validSince"},
			{map[string]any{"name": "x", "validSince": now + 3000, "validUntil": now + 2000}, 422, "validUntil"},
			{map[string]any{"name": "x", "validSince": now - 7200000, "validUntil": now - 3600000}, 422, "validUntil"},
			{map[string]any{"name": "x", "validSince": now, "validUntil": now + 8*24*3600000}, 422, "validUntil"},
			{map[string]any{"name": "x", "validSince": "tomorrow", "validUntil": now + 2000}, 400, "validSince"},
			{map[string]any{"name": strings.Repeat("n", 129), "validSince": now, "validUntil": now + 2000}, 422, "name"},
			{map[string]any{"name": "x", "validSince": now, "validUntil": now + 2000, "language": "<es>"}, 422, "language"},
			{map[string]any{"name": "x", "validSince": now, "validUntil": now + 2000, "participants": []map[string]string{{"email": "not an address"}}}, 422, "participants[0].email"},
			{map[string]any{"name": "x", "validSince": now, "validUntil": now + 2000, "participants": []map[string]string{{"email": "Bob <bob@example.org>"}}}, 422, "participants[0].email"},
			{map[string]any{"name": "x", "validSince": now, "validUntil": now + 2000, "participants": []map[string]string{{"email": "a@b.c"}, {"phone": "12"}}}, 422, "participants[1].phone"},
			{map[string]any{"name": "x", "validSince": now, "validUntil": now + 2000, "participants": []map[string]string{{"user": "mallory@other"}}}, 422, "participants[0].user"},
			{map[string]any{"name": "x", "validSince": now, "validUntil": now + 2000, "participants": []map[string]string{{"user": mallory.ID}}}, 422, "participants[0].user"},
			{map[string]any{"name": "x", "validSince": now, "validUntil": now + 2000, "participants": []map[string]string{{"user": "bob", "email": "a@b.c"}}}, 422, "participants[0]"},
			{map[string]any{"name": "x", "validSince": now, "validUntil": now + 2000, "participants": []map[string]string{{"email": "a@b.c"}, {"email": "b@b.c"}, {"email": "c@b.c"}, {"email": "d@b.c"}}}, 422, "participants"},
			{map[string]any{"name": "x", "validSince": now, "validUntil": now + 2000, "colour": "red"}, 400, "colour"},
		} {
			e.wantErr(e.do("POST", "/sapi/meetings", aliceTok, c.body), c.status, c.field)
		}
		if n := len(list(aliceTok, "")); n != 1 {
			t.Errorf("a refused meeting was kept: alice has %d", n)
		}

		// A deleted user leaves the meetings it was invited to.
		dave := e.createUser(e.admin, "wac", "dave", "user", "dave-password-1")
		e.want(e.do("PUT", "/sapi/meetings/"+m.ID, aliceTok, map[string]any{"participants": []map[string]string{{"email": "guest@example.org"}, {"user": "dave"}}}), 200)
		e.want(e.do("DELETE", "/sapi/users/"+dave.ID, e.admin, nil), 204)
		var after meeting
		e.want(e.do("GET", "/sapi/meetings/"+m.ID, aliceTok, nil), 200).json(t, &after)
		if len(after.Participants) != 1 || len(after.Users) != 0 {
			t.Errorf("after deleting dave: %+v", after)
		}

		// Cancelling removes it.
		e.want(e.do("DELETE", "/sapi/meetings/"+m.ID, aliceTok, nil), 204)
		e.wantErr(e.do("GET", "/sapi/meetings/"+m.ID, aliceTok, nil), 404, "")
	})
}

// Scheduling needs the meetings capability: a domain without the
// meetings service cannot, an anonymous visitor never.
func TestMeetingsCapability(t *testing.T) {
	e := newEnv(t, "sqlite", nil)
	e.createDomain(e.admin, map[string]any{"domain": "plain", "services": map[string]any{"login": []string{}}, "enableAnonymous": true})
	e.createUser(e.admin, "plain", "dave", "user", "dave-password-1")
	tok := e.login("dave@plain", "dave-password-1")
	now := time.Now().UnixMilli()
	body := map[string]any{"name": "x", "validSince": now + 1000, "validUntil": now + 2000}
	b := e.wantErr(e.do("POST", "/sapi/meetings", tok, body), 403, "")
	if !strings.Contains(b.Message, "meetings capability") {
		t.Errorf("refusal %q does not name the capability", b.Message)
	}
	var anon tokenPair
	e.want(e.grant(map[string]string{"grant_type": "anonymous", "username": "@plain"}), 200).json(t, &anon)
	e.want(e.do("POST", "/sapi/meetings", anon.AccessToken, body), 403)
	var out []meeting
	e.want(e.do("GET", "/sapi/meetings", anon.AccessToken, nil), 200).json(t, &out)
	if len(out) != 0 {
		t.Errorf("an anonymous visitor lists %d meetings", len(out))
	}
}

// Each user's meeting changes invite at most meetings.maxInvitationsPerHour
// participants an hour (429 past it); another user has a budget of its own.
func TestMeetingInvitationBudget(t *testing.T) {
	e := newEnv(t, "sqlite", func(c *config.Config) { c.Meetings.MaxInvitationsPerHour = 5 })
	e.createUser(e.admin, "wac", "alice", "user", "alice-password-1")
	e.createUser(e.admin, "wac", "bob", "user", "bob-password-1")
	alice, bob := e.login("alice@wac", "alice-password-1"), e.login("bob@wac", "bob-password-1")
	now := time.Now().UnixMilli()
	three := []map[string]string{{"email": "a@example.org"}, {"email": "b@example.org"}, {"phone": "+34600000001"}}
	body := map[string]any{"name": "x", "validSince": now + 60000, "validUntil": now + 120000, "participants": three}
	var m meeting
	e.want(e.do("POST", "/sapi/meetings", alice, body), 201).json(t, &m)
	b := e.wantErr(e.do("PUT", "/sapi/meetings/"+m.ID, alice, map[string]any{"name": "y"}), 429, "")
	if !strings.Contains(b.Message, "meetings.maxInvitationsPerHour") {
		t.Errorf("refusal %q", b.Message)
	}
	var still meeting
	e.want(e.do("GET", "/sapi/meetings/"+m.ID, alice, nil), 200).json(t, &still)
	if still.Name != "x" || still.Sequence != 0 {
		t.Errorf("a refused change was kept: %+v", still)
	}
	e.want(e.do("POST", "/sapi/meetings", bob, body), 201)
}
