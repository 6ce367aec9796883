package sapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzRequestBodies sends arbitrary bodies to every endpoint that decodes
// JSON: whatever arrives, the answer is a clean 2xx or 4xx with the
// {code, message} body, never a 500 or a panic.
func FuzzRequestBodies(f *testing.F) {
	targets := []struct{ method, path string }{
		{"POST", "/sapi/o/token"},
		{"POST", "/sapi/domains"},
		{"POST", "/sapi/users"},
		{"POST", "/sapi/credentials"},
		{"POST", "/sapi/permissions/domain/"},
		{"POST", "/sapi/clients"},
		{"POST", "/sapi/o/revoke"},
		{"POST", "/sapi/meetings"},
	}
	for i := range targets {
		f.Add(uint8(i), `{"grant_type":"password","username":"admin@wac","password":"x"}`)
		f.Add(uint8(i), `{"domain":"a.b","origins":[null],"services":{"login":[]}}`)
		f.Add(uint8(i), `{"username":"u","mobilePhone":["123"],"capabilities":["+x"]}`)
		f.Add(uint8(i), `{"type":"ims","data":{"username":"u","iceserver":[{"urls":"turn:x"}]}}`)
		f.Add(uint8(i), `{"receiveCalls":{"enabled":false}}`)
		f.Add(uint8(i), `{"name":"m","validSince":1,"validUntil":99999999999999,"participants":[{"email":"a@b.c"},{"phone":"+34600000000"},{"user":"admin"}]}`)
		f.Add(uint8(i), `{"a":`)
		f.Add(uint8(i), `[]`)
	}
	e := newEnv(f, "sqlite", nil)
	h := e.srv.Handler()
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		tg := targets[int(which)%len(targets)]
		path := tg.path
		if strings.HasSuffix(path, "/") {
			path += e.domain
		}
		req := httptest.NewRequest(tg.method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+e.admin)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", tg.method, path, body, w.Code, w.Body)
		}
		if w.Code >= 400 {
			var b struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil || b.Code != w.Code || b.Message == "" {
				t.Fatalf("%s %s %q: error body %s", tg.method, path, body, w.Body)
			}
		}
		if w.Code == http.StatusOK || w.Code == http.StatusCreated {
			if w.Body.Len() > 0 && !json.Valid(w.Body.Bytes()) {
				t.Fatalf("invalid JSON answer %s", w.Body)
			}
		}
	})
}
