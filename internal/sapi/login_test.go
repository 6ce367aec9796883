package sapi_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/openwac/wac/internal/config"
)

// After login.accountFailures failures an account's attempts wait, whether
// the account exists or not, with a wait that doubles with each further
// failure up to login.maxRetryDelay; a success clears the count.
func TestLoginThrottlePerAccount(t *testing.T) {
	eachDialect(t, func(c *config.Config) {
		c.Login.AccountFailures, c.Login.AddressFailures = 3, 0
		c.Login.RetryDelay, c.Login.MaxRetryDelay = 1, 4
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
		clock.add(time.Duration(2+e.srv.Config.Login.FailureWindow) * time.Second)
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
