package auth_test

import (
	"net/http/httptest"
	"testing"

	"github.com/openwac/wac/internal/auth"
)

func TestBearerToken(t *testing.T) {
	for _, tc := range []struct {
		name, header, url string
		want, wantHeader  string
	}{
		{"bearer header", "Bearer abc", "/qss", "abc", "abc"},
		{"scheme in any case, spaces trimmed", "bEaReR   abc  ", "/qss", "abc", "abc"},
		{"query without a header", "", "/qss?token=q1", "q1", ""},
		{"the header wins over the query", "Bearer h1", "/qss?token=q1", "h1", "h1"},
		{"another scheme gives none, not the query", "Basic dXNlcjpwdw==", "/qss?token=q1", "", ""},
		{"a scheme without a token", "Bearer", "/qss?token=q1", "", ""},
		{"nothing", "", "/qss", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tc.url, nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			if got := auth.BearerToken(r); got != tc.want {
				t.Errorf("BearerToken = %q, want %q", got, tc.want)
			}
			if got := auth.HeaderToken(r); got != tc.wantHeader {
				t.Errorf("HeaderToken = %q, want %q", got, tc.wantHeader)
			}
		})
	}
}
