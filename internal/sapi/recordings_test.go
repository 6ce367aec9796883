package sapi_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/openwac/wac/internal/store"
)

// The listing of recordings: a user's own, filtered by room and by when
// they started (unix ms or RFC 3339 dates), with bad filters named; admins
// may name a user, users only themselves.
func TestRecordingsListing(t *testing.T) {
	eachDialect(t, nil, func(t *testing.T, e *env) {
		ctx := context.Background()
		alice := e.createUser(e.admin, "wac", "alice", "user", "alice-password-1")
		bob := e.createUser(e.admin, "wac", "bob", "user", "bob-password-1")
		at := func(day string) int64 {
			d, _ := time.Parse(time.DateOnly, day)
			return d.UnixMilli()
		}
		for i, day := range []string{"2026-01-10", "2026-01-20", "2026-02-01"} {
			r := &store.Recording{DomainID: e.domain, Room: fmt.Sprintf("room-%d", i), Started: at(day), Stopped: at(day) + 60000,
				Status: store.RecordingReady}
			if err := e.srv.Store.SaveRecording(ctx, r, map[string]string{alice.ID: e.domain}); err != nil {
				t.Fatal(err)
			}
		}
		aliceTok := e.login("alice@wac", "alice-password-1")
		list := func(token, query string) []map[string]any {
			t.Helper()
			var out []map[string]any
			e.want(e.do("GET", "/sapi/recordings"+query, token, nil), 200).json(t, &out)
			return out
		}
		for _, c := range []struct {
			query string
			want  int
		}{
			{"", 3},
			{"?from=2026-01-15", 2},
			{"?to=2026-01-15", 1},
			{fmt.Sprintf("?from=%d&to=%d", at("2026-01-15"), at("2026-01-25")), 1},
			{"?from=2026-01-19T00:00:00Z", 2},
			{"?room=room-2", 1},
			{"?room=nowhere", 0},
		} {
			if got := list(aliceTok, c.query); len(got) != c.want {
				t.Errorf("alice %s: %d recordings, want %d", c.query, len(got), c.want)
			}
		}
		e.wantErr(e.do("GET", "/sapi/recordings?from=yesterday", aliceTok, nil), 400, "from")
		e.wantErr(e.do("GET", "/sapi/recordings?from=2026-02-01&to=2026-01-01", aliceTok, nil), 400, "to")
		e.want(e.do("GET", "/sapi/recordings?user="+bob.ID, aliceTok, nil), 403)
		if got := list(e.login("bob@wac", "bob-password-1"), ""); len(got) != 0 {
			t.Errorf("bob sees %d recordings of alice's", len(got))
		}
		if got := list(e.admin, "?user="+alice.ID); len(got) != 3 {
			t.Errorf("the admin sees %d of alice's recordings", len(got))
		}
		if got := list(e.admin, "?user="+bob.ID); len(got) != 0 {
			t.Errorf("the admin sees %d of bob's recordings", len(got))
		}
		rec := list(aliceTok, "?room=room-0")[0]
		if rec["status"] != "ready" || rec["duration"] != float64(0) || rec["media"] != nil {
			t.Errorf("recording %v", rec)
		}
		// No file store on this server (the node gives one): files are 404/503, never a panic.
		id := rec["id"].(string)
		e.want(e.do("GET", "/sapi/recordings/"+id+"/media", aliceTok, nil), 404)
		e.want(e.do("GET", "/sapi/recordings/"+id+"/tracks/0", aliceTok, nil), 404)
		e.want(e.do("GET", "/sapi/recordings/"+id+"/media?u=x&exp=1&sig=abc", "", nil), 401)
	})
}

// A domain's recordingRetentionDays: set and read by admins above it,
// bounded, and not changed by the domain's own admins.
func TestDomainRecordingRetention(t *testing.T) {
	eachDialect(t, nil, func(t *testing.T, e *env) {
		d := e.createDomain(e.admin, map[string]any{"domain": "acme", "recordingRetentionDays": 30})
		var got map[string]any
		e.want(e.do("GET", "/sapi/domains/"+d.ID, e.admin, nil), 200).json(t, &got)
		if got["recordingRetentionDays"] != float64(30) {
			t.Fatalf("domain %v", got)
		}
		e.wantErr(e.do("PUT", "/sapi/domains/"+d.ID, e.admin, map[string]any{"domain": "acme", "recordingRetentionDays": -1}), 422, "recordingRetentionDays")
		e.createUser(e.admin, "acme", "boss", "admin", "boss-password-1")
		boss := e.login("boss@acme", "boss-password-1")
		r := e.want(e.do("PUT", "/sapi/domains/"+d.ID, boss, map[string]any{"domain": "acme", "recordingRetentionDays": 3650}), 403)
		var eb errBody
		r.json(t, &eb)
		if eb.Message == "" {
			t.Errorf("refusal %s", r.body)
		}
		e.want(e.do("PUT", "/sapi/domains/"+d.ID, boss, map[string]any{"domain": "acme", "recordingRetentionDays": 30}), 200)
	})
}
