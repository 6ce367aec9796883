package sapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openwac/wac/internal/auth"
	"github.com/openwac/wac/internal/config"
)

// After login.accountFailures failures an account's attempts wait, whether
// the account exists or not, with a wait that doubles with each further
// failure up to login.maxRetryDelay; a success clears the count.
func TestLoginThrottlePerAccount(t *testing.T) {
	eachDialect(t, func(c *config.Config) {
		c.Login.AccountFailures, c.Login.AddressFailures = 3, 0
		c.Login.RetryDelay, c.Login.MaxRetryDelay = time.Second, 4*time.Second
	}, func(t *testing.T, e *env) {
		clock := e.fakeClock()
		e.createUser(e.admin, "wac", "carol", "user", "carol-password")
		const msg = "too many failed logins for this account"
		for _, account := range []string{"carol@wac", "ghost@wac"} {
			for range 3 {
				e.want(e.grant(passwordBody(account, "wrong-password")), 400)
			}
			// The right password waits too: the account, not the guess, is held.
			e.wantThrottled(e.grant(passwordBody(account, "carol-password")), msg, 1)
		}
		// The bare name is the same account.
		e.wantThrottled(e.grant(passwordBody("Carol", "carol-password")), msg, 1)
		// Other accounts are not held up.
		e.login("admin@wac", adminPassword)

		// Each further failure doubles the wait, up to maxRetryDelay.
		wait := 1
		for _, next := range []int{2, 4, 4} {
			clock.add(time.Duration(wait) * time.Second)
			e.want(e.grant(passwordBody("carol@wac", "wrong-password")), 400)
			e.wantThrottled(e.grant(passwordBody("carol@wac", "wrong-password")), msg, next)
			wait = next
		}
		clock.add(time.Duration(wait-1) * time.Second)
		e.wantThrottled(e.grant(passwordBody("carol@wac", "carol-password")), msg, 1)
		// Once the wait ran out, a success clears the count: the next two
		// failures are answered as failures again.
		clock.add(time.Second)
		e.login("carol@wac", "carol-password")
		for range 2 {
			e.want(e.grant(passwordBody("carol@wac", "wrong-password")), 400)
		}
		// A quiet failureWindow after the wait forgets the failures.
		e.want(e.grant(passwordBody("ghost@wac", "wrong-password")), 400)
		e.wantThrottled(e.grant(passwordBody("ghost@wac", "wrong-password")), msg, 2)
		clock.add(2*time.Second + e.srv.Config.Login.FailureWindow)
		for range 3 {
			e.want(e.grant(passwordBody("ghost@wac", "wrong-password")), 400)
		}
		e.wantThrottled(e.grant(passwordBody("ghost@wac", "wrong-password")), msg, 1)
	})
}

// After login.addressFailures failures from one client address, its
// attempts wait, whatever account they name. With the default
// http.trustedProxies a client on loopback cannot pose as other addresses
// with X-Forwarded-For; behind a configured proxy the forwarded address is
// the client's.
func TestLoginThrottlePerAddress(t *testing.T) {
	tweak := func(c *config.Config) { c.Login.AccountFailures, c.Login.AddressFailures = 0, 3 }
	const msg = "too many failed logins from your address"
	e := newEnv(t, "sqlite", tweak)
	for i := range 3 {
		e.want(e.do("POST", "/sapi/o/token", "", passwordBody(fmt.Sprintf("user%d@wac", i), "wrong-password"),
			"X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i+1)), 400)
	}
	e.wantThrottled(e.do("POST", "/sapi/o/token", "", passwordBody("admin@wac", adminPassword),
		"X-Forwarded-For", "203.0.113.99"), msg, 1)
	e.wantThrottled(e.grant(passwordBody("user9@wac", "wrong-password")), msg, 1)

	e = newEnv(t, "sqlite", func(c *config.Config) {
		tweak(c)
		c.HTTP.TrustedProxies = []string{"127.0.0.0/8", "::1/128"}
	})
	for i := range 6 {
		e.want(e.do("POST", "/sapi/o/token", "", passwordBody(fmt.Sprintf("user%d@wac", i), "wrong-password"),
			"X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i+1)), 400)
	}
	for i := range 2 {
		e.want(e.do("POST", "/sapi/o/token", "", passwordBody(fmt.Sprintf("other%d@wac", i), "wrong-password"),
			"X-Forwarded-For", "203.0.113.1"), 400)
	}
	e.wantThrottled(e.do("POST", "/sapi/o/token", "", passwordBody("admin@wac", adminPassword),
		"X-Forwarded-For", "203.0.113.1"), msg, 1)
	e.login("admin@wac", adminPassword) // the proxy itself is another address
}

type alarm struct {
	Type    string         `json:"type"`
	Message string         `json:"message"`
	Data    map[string]any `json:"data"`
}

// alarmsOf lists the alarms of one type, newest first.
func (e *env) alarmsOf(typ string) []alarm {
	e.t.Helper()
	var all, out []alarm
	e.want(e.do("GET", "/sapi/alarms", e.admin, nil), 200).json(e.t, &all)
	for _, a := range all {
		if a.Type == typ {
			out = append(out, a)
		}
	}
	return out
}

// One address failing logins to login.sprayAccounts different accounts
// raises one password-spraying alarm per failureWindow.
func TestPasswordSprayingAlarm(t *testing.T) {
	e := newEnv(t, "sqlite", func(c *config.Config) { c.Login.SprayAccounts, c.Login.AddressFailures = 4, 0 })
	clock := e.fakeClock()
	fail := func(account string) { e.want(e.grant(passwordBody(account, "wrong-password")), 400) }
	for _, u := range []string{"user0@wac", "user1@wac", "user2@wac", "user0@wac", "USER1"} {
		fail(u)
	}
	if a := e.alarmsOf("password-spraying"); len(a) != 0 {
		t.Fatalf("alarm after 3 different accounts of 4: %+v", a)
	}
	fail("admin@wac")
	a := e.alarmsOf("password-spraying")
	if len(a) != 1 || a[0].Data["ip"] != "127.0.0.1" || a[0].Data["accounts"] != float64(4) ||
		!strings.Contains(a[0].Message, "4 different accounts from 127.0.0.1") {
		t.Fatalf("alarms after 4 different accounts: %+v", a)
	}
	for i := range 6 {
		fail(fmt.Sprintf("more%d@wac", i))
	}
	if a := e.alarmsOf("password-spraying"); len(a) != 1 {
		t.Fatalf("%d alarms within one window, want 1", len(a))
	}
	clock.add(e.srv.Config.Login.FailureWindow)
	for i := range 4 {
		fail(fmt.Sprintf("next%d@wac", i))
	}
	if a := e.alarmsOf("password-spraying"); len(a) != 2 {
		t.Fatalf("%d alarms after a second window, want 2", len(a))
	}
}

type stat struct {
	Type    string         `json:"type"`
	Data    map[string]any `json:"data"`
	Created int64          `json:"created"`
}

func (e *env) failedLoginStats() []stat {
	e.t.Helper()
	var out []stat
	e.want(e.do("GET", "/sapi/stats?service=Login&limit=1000", e.admin, nil), 200).json(e.t, &out)
	return out
}

// 'Failed login' stats are written one by one up to login.failedLoginRows
// per account and per address in a window, then counted and written as one
// summary when the window ends; the cleanup keeps the newest
// login.maxFailedLoginRows.
func TestFailedLoginRowsBounded(t *testing.T) {
	e := newEnv(t, "sqlite", func(c *config.Config) {
		c.Login.FailedLoginRows, c.Login.MaxFailedLoginRows = 3, 6
		c.Login.AccountFailures, c.Login.AddressFailures = 0, 0
		c.HTTP.TrustedProxies = []string{"127.0.0.0/8"}
	})
	clock := e.fakeClock()
	window := e.srv.Config.Login.FailureWindow
	ctx := context.Background()
	for range 10 {
		e.want(e.grant(passwordBody("admin@wac", "wrong-password")), 400)
	}
	if s := e.failedLoginStats(); len(s) != 3 {
		t.Fatalf("%d stats after 10 failures of one account, want 3", len(s))
	}
	clock.add(window)
	if err := e.srv.Auth.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	s := e.failedLoginStats()
	var sum []stat
	for _, st := range s {
		if st.Data["summary"] == true {
			sum = append(sum, st)
		}
	}
	if len(s) != 4 || len(sum) != 1 || sum[0].Data["count"] != float64(7) || sum[0].Data["username"] != "admin@wac" {
		t.Fatalf("stats after the window: %+v, want 3 and a summary of 7", s)
	}

	// One address naming many accounts is bounded the same way.
	for i := range 5 {
		e.want(e.do("POST", "/sapi/o/token", "", passwordBody(fmt.Sprintf("user%d@wac", i), "wrong-password"),
			"X-Forwarded-For", "203.0.113.50"), 400)
	}
	if s := e.failedLoginStats(); len(s) != 7 {
		t.Fatalf("%d stats after 5 failures from one address, want 7", len(s))
	}
	// Failures from many addresses to many accounts are written, and the
	// cleanup keeps the newest maxFailedLoginRows.
	clock.add(time.Second)
	for i := range 5 {
		e.want(e.do("POST", "/sapi/o/token", "", passwordBody(fmt.Sprintf("other%d@wac", i), "wrong-password"),
			"X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i)), 400)
	}
	clock.add(window)
	if err := e.srv.Auth.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	s = e.failedLoginStats()
	newest := 0
	for _, st := range s {
		if u, _ := st.Data["username"].(string); strings.HasPrefix(u, "other") {
			newest++
		}
	}
	if len(s) != 6 || newest != 5 {
		t.Fatalf("cleanup kept %d stats (%d of the newest 5), want 6 with the newest 5", len(s), newest)
	}
}

// An overlong username is refused before any lookup, naming the field; a
// long one is stored cut short.
func TestOverlongUsername(t *testing.T) {
	e := newEnv(t, "sqlite", nil)
	huge := strings.Repeat("a", 100000)
	for _, body := range []map[string]string{
		passwordBody(huge+"@wac", "wrong-password"),
		{"grant_type": "anonymous", "username": "@" + huge},
	} {
		b := e.wantErr(e.grant(body), 400, "username")
		if !strings.Contains(b.Message, "longer than the 320 allowed") || len(b.Message) > 200 {
			t.Fatalf("message %q", b.Message)
		}
	}
	if s := e.failedLoginStats(); len(s) != 0 {
		t.Fatalf("refused usernames were recorded: %+v", s)
	}
	long := strings.Repeat("b", 300) + "@wac"
	var oe oauthErr
	e.want(e.grant(passwordBody(long, "wrong-password")), 400).json(t, &oe)
	if oe.Error != "invalid_grant" {
		t.Fatalf("a 304-character username: %+v", oe)
	}
	s := e.failedLoginStats()
	u, _ := s[0].Data["username"].(string)
	if len(s) != 1 || u != strings.Repeat("b", 128)+"...[176 more bytes]" {
		t.Fatalf("stored username %q", u)
	}
}

// Anonymous logins are limited per client address and per domain within
// login.anonymousWindow; the refusal names the limit.
func TestAnonymousQuotas(t *testing.T) {
	e := newEnv(t, "sqlite", func(c *config.Config) {
		c.Login.AnonymousPerAddress, c.Login.AnonymousPerDomain, c.Login.AnonymousWindow = 3, 5, 10*time.Minute
		c.HTTP.TrustedProxies = []string{"127.0.0.0/8"}
	})
	clock := e.fakeClock()
	e.createDomain(e.admin, map[string]any{"domain": "demo.example", "enableAnonymous": true})
	e.createDomain(e.admin, map[string]any{"domain": "other.example", "enableAnonymous": true})
	anon := func(domain, addr string) *response {
		return e.do("POST", "/sapi/o/token", "", map[string]string{"grant_type": "anonymous", "username": "@" + domain},
			"X-Forwarded-For", addr)
	}
	for range 3 {
		e.want(anon("demo.example", "203.0.113.1"), 200)
	}
	e.wantThrottled(anon("other.example", "203.0.113.1"), "too many anonymous logins from your address (limit 3 per 600 s)", 600)
	e.want(anon("demo.example", "203.0.113.2"), 200)
	e.want(anon("demo.example", "203.0.113.3"), 200)
	clock.add(100 * time.Second)
	e.wantThrottled(anon("demo.example", "203.0.113.4"),
		`too many anonymous logins into the domain "demo.example" (limit 5 per 600 s)`, 500)
	e.want(anon("other.example", "203.0.113.4"), 200)
	// Password logins are not counted.
	e.login("admin@wac", adminPassword)
	clock.add(500 * time.Second)
	e.want(anon("demo.example", "203.0.113.1"), 200)
	e.want(anon("demo.example", "203.0.113.4"), 200)
}

// A refresh token used again after it was exchanged is taken for a stolen
// copy: it is refused, and every token of its grant is revoked, the new
// ones from the legitimate exchange too, with the revocation announced so
// that open sessions close, and an alarm.
func TestRefreshTokenReuse(t *testing.T) {
	eachDialect(t, nil, func(t *testing.T, e *env) {
		var mu sync.Mutex
		var heard []auth.Revocation
		e.srv.Auth.OnRevoke(func(r auth.Revocation) {
			mu.Lock()
			heard = append(heard, r)
			mu.Unlock()
		})
		carol := e.createUser(e.admin, "wac", "carol", "user", "carol-password")
		other := e.login("carol@wac", "carol-password")
		p := e.loginPair("carol@wac", "carol-password")
		refresh := func(token string) *response {
			return e.grant(map[string]string{"grant_type": "refresh_token", "refresh_token": token})
		}
		var q tokenPair
		e.want(refresh(p.RefreshToken), 200).json(t, &q)
		e.want(e.do("GET", "/sapi/capabilities", q.AccessToken, nil), 200)

		var oe oauthErr
		e.want(refresh(p.RefreshToken), 400).json(t, &oe)
		if oe.Error != "invalid_grant" || !strings.Contains(oe.Message, "already used") {
			t.Fatalf("reused refresh token: %+v", oe)
		}
		e.wantErr(e.do("GET", "/sapi/capabilities", q.AccessToken, nil), 401, "")
		e.want(refresh(q.RefreshToken), 400)
		mu.Lock()
		if len(heard) != 1 || heard[0].UserID != carol.ID || len(heard[0].GrantIDs) != 1 ||
			!contains(heard[0].Hashes, auth.HashToken(q.AccessToken)) || !contains(heard[0].Hashes, auth.HashToken(q.RefreshToken)) {
			t.Fatalf("revocations heard: %+v", heard)
		}
		mu.Unlock()
		a := e.alarmsOf("refresh-token-reuse")
		if len(a) != 1 || !strings.Contains(a[0].Message, "carol@wac") || a[0].Data["ip"] != "127.0.0.1" {
			t.Fatalf("alarms: %+v", a)
		}
		// Another replay finds nothing left to revoke and raises no alarm;
		// a token never issued is merely invalid; carol's other login stays.
		e.want(refresh(p.RefreshToken), 400)
		e.want(refresh(strings.Repeat("0", 64)), 400)
		if a := e.alarmsOf("refresh-token-reuse"); len(a) != 1 {
			t.Fatalf("%d alarms, want 1", len(a))
		}
		e.want(e.do("GET", "/sapi/capabilities", other, nil), 200)
	})
}

// Two exchanges of one refresh token at once: one gets new tokens, the
// other is a reuse, which ends the grant; nothing fails with a 500.
func TestRefreshTokenExchangedTwiceAtOnce(t *testing.T) {
	eachDialect(t, nil, func(t *testing.T, e *env) {
		p := e.loginPair("admin@wac", adminPassword)
		body := fmt.Sprintf(`{"grant_type": "refresh_token", "refresh_token": %q}`, p.RefreshToken)
		var wg sync.WaitGroup
		results := make([]*response, 2)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := http.Post(e.http.URL+"/sapi/o/token", "application/json", strings.NewReader(body))
				if err != nil {
					t.Error(err)
					return
				}
				defer resp.Body.Close()
				data, _ := io.ReadAll(resp.Body)
				results[i] = &response{status: resp.StatusCode, header: resp.Header, body: data}
			}()
		}
		wg.Wait()
		var won *tokenPair
		reused := 0
		for _, r := range results {
			switch {
			case r == nil:
				t.Fatal("a request failed")
			case r.status == 200:
				won = new(tokenPair)
				r.json(t, won)
			case r.status == 400 && strings.Contains(string(r.body), "already used"):
				reused++
			default:
				t.Fatalf("answer %d %s", r.status, r.body)
			}
		}
		if won == nil || reused != 1 {
			t.Fatalf("answers %d %s and %d %s, want one exchange and one reuse",
				results[0].status, results[0].body, results[1].status, results[1].body)
		}
		e.wantErr(e.do("GET", "/sapi/capabilities", won.AccessToken, nil), 401, "")
	})
}
