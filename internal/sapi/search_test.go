package sapi_test

import (
	"net/url"
	"strings"
	"testing"
)

// Free-text filters are bounded and literal: a search longer than 128
// characters is refused with 400 naming search (it used to reach the
// database, where SQLite failed with "LIKE or GLOB pattern too complex",
// a 500); LIKE's wildcards and its escape character match themselves; and
// query values that are not UTF-8 text or hold control characters are
// refused with 400 naming them (PostgreSQL failed on them, a 500).
func TestSearchInput(t *testing.T) {
	eachDialect(t, nil, func(t *testing.T, e *env) {
		var u1, u2 user
		e.want(e.do("POST", "/sapi/users", e.admin, map[string]any{"username": "u1", "email": "x_y%z@example.org"}), 201).json(t, &u1)
		e.want(e.do("POST", "/sapi/users", e.admin, map[string]any{"username": "u2", "email": "xay@example.org"}), 201).json(t, &u2)
		search := func(s string) []user {
			t.Helper()
			var list []user
			e.want(e.do("GET", "/sapi/users?search="+url.QueryEscape(s), e.admin, nil), 200).json(t, &list)
			return list
		}
		for s, want := range map[string]string{"x_y": u1.ID, "y%z": u1.ID, "_y%": u1.ID, "xay": u2.ID} {
			if list := search(s); len(list) != 1 || list[0].ID != want {
				t.Errorf("search %q found %+v, want only %s", s, list, want)
			}
		}
		for _, s := range []string{"x%y", "%%", "__y", `\`, `x\_y`} {
			if list := search(s); len(list) != 0 {
				t.Errorf("search %q found %+v, want none (wildcards are literal)", s, list)
			}
		}
		if list := search(strings.Repeat("é", 128)); len(list) != 0 {
			t.Errorf("a search of 128 characters found %+v", list)
		}
		for _, bad := range []string{strings.Repeat("a", 50000), strings.Repeat("%", 129)} {
			e.wantErr(e.do("GET", "/sapi/users?search="+url.QueryEscape(bad), e.admin, nil), 400, "search")
		}
		for _, q := range []struct{ path, name string }{
			{"/sapi/users", "search"}, {"/sapi/users", "domain"}, {"/sapi/calls", "user"},
			{"/sapi/credentials", "user"}, {"/sapi/stats", "service"},
		} {
			for _, v := range []string{"%FF", "a%00b", "%C3%28", "a%0Ab"} {
				e.wantErr(e.do("GET", q.path+"?"+q.name+"="+v, e.admin, nil), 400, q.name)
			}
			e.wantErr(e.do("GET", q.path+"?"+q.name+"="+strings.Repeat("a", 256), e.admin, nil), 400, q.name)
			e.want(e.do("GET", q.path+"?"+q.name+"=nobody", e.admin, nil), 200)
		}
		// A NUL in a client's name failed in PostgreSQL too.
		e.wantErr(e.do("POST", "/sapi/clients", e.admin, `{"name":"a\u0000b"}`), 422, "name")
	})
}
