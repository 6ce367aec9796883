package auth

import (
	"fmt"
	"hash/maphash"
	"slices"
	"sync"
	"time"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/store"
)

// maxTracked bounds each in-memory table of the login guard, so that a flood
// of names or addresses cannot exhaust memory.
const maxTracked = 100000

// bounded is a map whose entries expire and whose size is capped: when it is
// full, expired entries go first, then the sixteenth that expire soonest
// (the least failures, the shortest waits).
type bounded[K comparable, V any] struct {
	m      map[K]*V
	max    int
	expiry func(*V) time.Time
}

func newBounded[K comparable, V any](max int, expiry func(*V) time.Time) *bounded[K, V] {
	return &bounded[K, V]{m: make(map[K]*V), max: max, expiry: expiry}
}

// add returns k's entry, creating an empty one (and making room) if there
// is none or it expired. drop, when not nil, hears of every entry forgotten.
func (b *bounded[K, V]) add(k K, now time.Time, drop func(K, *V)) *V {
	if v, ok := b.m[k]; ok {
		if now.Before(b.expiry(v)) {
			return v
		}
		delete(b.m, k)
		if drop != nil {
			drop(k, v)
		}
	}
	if len(b.m) >= b.max {
		b.makeRoom(now, drop)
	}
	v := new(V)
	b.m[k] = v
	return v
}

// get returns k's entry if it has one that has not expired.
func (b *bounded[K, V]) get(k K, now time.Time) *V {
	v, ok := b.m[k]
	if !ok || !now.Before(b.expiry(v)) {
		return nil
	}
	return v
}

// sweep forgets the expired entries.
func (b *bounded[K, V]) sweep(now time.Time, drop func(K, *V)) {
	for k, v := range b.m {
		if !now.Before(b.expiry(v)) {
			delete(b.m, k)
			if drop != nil {
				drop(k, v)
			}
		}
	}
}

func (b *bounded[K, V]) makeRoom(now time.Time, drop func(K, *V)) {
	b.sweep(now, drop)
	if len(b.m) < b.max {
		return
	}
	type entry struct {
		k  K
		v  *V
		at time.Time
	}
	all := make([]entry, 0, len(b.m))
	for k, v := range b.m {
		all = append(all, entry{k, v, b.expiry(v)})
	}
	slices.SortFunc(all, func(a, b entry) int { return a.at.Compare(b.at) })
	n := len(b.m) - b.max + max(b.max/16, 1)
	for _, e := range all[:min(n, len(all))] {
		delete(b.m, e.k)
		if drop != nil {
			drop(e.k, e.v)
		}
	}
}

// backoff counts the login attempts of an account or an address that
// failed, or are still being checked.
type backoff struct {
	attempts int
	last     time.Time // when the last one was let through
}

// spray is the different accounts one address failed to log into within
// a window.
type spray struct {
	start    time.Time
	accounts []uint64 // hashes, up to sprayAccounts
	alarmed  bool
}

// rowBudget counts the 'Failed login' stats of an account or an address in
// a window: those written one by one, and those only counted, to be
// written as one summary when the window ends.
type rowBudget struct {
	start, end     time.Time
	written        int
	counted        int
	first, last    time.Time // of the counted failures
	field, value   string    // "username" or "ip", and which
	domainID, user string
}

// loginGuard throttles password guessing, per account and per client
// address, watches for password spraying, and bounds the failed-login stats,
// in this node's memory.
type loginGuard struct {
	cfg  *config.Login
	seed maphash.Seed

	mu        sync.Mutex
	accounts  *bounded[uint64, backoff] // by the hash of user@domain
	addresses *bounded[string, backoff]
	sprays    *bounded[string, spray]
	acctRows  *bounded[uint64, rowBudget]
	addrRows  *bounded[string, rowBudget]
	anonAddr  *bounded[string, quota]
	anonDom   *bounded[string, quota] // by domain id
}

// quota counts events in a fixed window that starts with the first.
type quota struct {
	start time.Time
	n     int
}

func newLoginGuard(cfg *config.Login, limit int) *loginGuard {
	g := &loginGuard{cfg: cfg, seed: maphash.MakeSeed()}
	window := cfg.FailureWindow
	g.accounts = newBounded[uint64](limit, func(b *backoff) time.Time {
		return b.last.Add(g.delay(b.attempts, cfg.AccountFailures) + window)
	})
	g.addresses = newBounded[string](limit, func(b *backoff) time.Time {
		return b.last.Add(g.delay(b.attempts, cfg.AddressFailures) + window)
	})
	g.sprays = newBounded[string](limit, func(s *spray) time.Time { return s.start.Add(window) })
	rowsEnd := func(b *rowBudget) time.Time { return b.end }
	g.acctRows = newBounded[uint64](limit, rowsEnd)
	g.addrRows = newBounded[string](limit, rowsEnd)
	anonWindow := cfg.AnonymousWindow
	g.anonAddr = newBounded[string](limit, func(q *quota) time.Time { return q.start.Add(anonWindow) })
	g.anonDom = newBounded[string](limit, func(q *quota) time.Time { return q.start.Add(anonWindow) })
	return g
}

// take counts one event of key against limit within anonymousWindow, or
// refuses it (what names the limit) with the wait until the window ends.
func (g *loginGuard) take(tb *bounded[string, quota], key string, limit int, what string, now time.Time) *GrantError {
	if limit <= 0 {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	q := tb.add(key, now, nil)
	if q.start.IsZero() {
		q.start = now
	}
	if q.n >= limit {
		return tooMany(tb.expiry(q).Sub(now), fmt.Sprintf("%s (limit %d per %d s)", what, limit, int64(g.cfg.AnonymousWindow/time.Second)))
	}
	q.n++
	return nil
}

// anonymousFrom counts an anonymous login attempt from addr
// (login.anonymousPerAddress).
func (g *loginGuard) anonymousFrom(addr string, now time.Time) *GrantError {
	if addr == "" {
		return nil
	}
	return g.take(g.anonAddr, addr, g.cfg.AnonymousPerAddress, "too many anonymous logins from your address", now)
}

// anonymousInto counts an anonymous login into a domain
// (login.anonymousPerDomain).
func (g *loginGuard) anonymousInto(domainID, name string, now time.Time) *GrantError {
	return g.take(g.anonDom, domainID, g.cfg.AnonymousPerDomain, fmt.Sprintf("too many anonymous logins into the domain %q", name), now)
}

// delay is how long after the last of attempts the next one waits: nothing
// below threshold, then retryDelay, doubled for each attempt past the
// threshold, up to maxRetryDelay.
func (g *loginGuard) delay(attempts, threshold int) time.Duration {
	if threshold <= 0 || attempts < threshold {
		return 0
	}
	d := g.cfg.RetryDelay
	limit := g.cfg.MaxRetryDelay
	for i := threshold; i < attempts && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// wait is how long b must still wait at now.
func (g *loginGuard) wait(b *backoff, threshold int, now time.Time) time.Duration {
	if b == nil {
		return 0
	}
	return b.last.Add(g.delay(b.attempts, threshold)).Sub(now)
}

func (g *loginGuard) accountKey(account string) uint64 { return maphash.String(g.seed, account) }

// loginTicket is an attempt the guard let through; settle it with its
// outcome.
type loginTicket struct {
	g       *loginGuard
	account uint64
	counted bool // the account's attempt was counted
	addr    string
}

// admit lets a password attempt for account from addr through, or refuses
// it with the wait left. An attempt let through counts as a failure until
// it is settled otherwise, so that guesses sent at once cannot all slip in
// before the first failure is known.
func (g *loginGuard) admit(account, addr string, now time.Time) (*loginTicket, *GrantError) {
	g.mu.Lock()
	defer g.mu.Unlock()
	t := &loginTicket{g: g, account: g.accountKey(account)}
	if addr != "" && g.cfg.AddressFailures > 0 {
		if w := g.wait(g.addresses.get(addr, now), g.cfg.AddressFailures, now); w > 0 {
			return nil, tooMany(w, "too many failed logins from your address")
		}
	}
	if g.cfg.AccountFailures > 0 {
		if w := g.wait(g.accounts.get(t.account, now), g.cfg.AccountFailures, now); w > 0 {
			return nil, tooMany(w, "too many failed logins for this account")
		}
		b := g.accounts.add(t.account, now, nil)
		b.attempts++
		b.last = now
		t.counted = true
	}
	if addr != "" && g.cfg.AddressFailures > 0 {
		b := g.addresses.add(addr, now, nil)
		b.attempts++
		b.last = now
		t.addr = addr
	}
	return t, nil
}

// failed leaves the attempt counted.
func (t *loginTicket) failed() {}

// succeeded forgets the account's failures and uncounts the attempt from
// the address (a success there does not clear the others' failures).
func (t *loginTicket) succeeded() {
	t.g.mu.Lock()
	defer t.g.mu.Unlock()
	if t.counted {
		delete(t.g.accounts.m, t.account)
	}
	t.uncountAddr()
}

// aborted uncounts an attempt whose password was never checked (the
// database failed, the client went away).
func (t *loginTicket) aborted() {
	t.g.mu.Lock()
	defer t.g.mu.Unlock()
	if b := t.g.accounts.m[t.account]; t.counted && b != nil && b.attempts > 0 {
		b.attempts--
	}
	t.uncountAddr()
}

func (t *loginTicket) uncountAddr() {
	if b := t.g.addresses.m[t.addr]; t.addr != "" && b != nil && b.attempts > 0 {
		b.attempts--
	}
}

// sprayed records that addr failed to log into account, and reports
// whether that makes sprayAccounts different accounts within the window,
// the first time in that window.
func (g *loginGuard) sprayed(addr, account string, now time.Time) (alarm bool, accounts int) {
	if addr == "" || g.cfg.SprayAccounts <= 0 {
		return false, 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	sp := g.sprays.add(addr, now, nil)
	if sp.start.IsZero() {
		sp.start = now
	}
	h := g.accountKey(account)
	if len(sp.accounts) < g.cfg.SprayAccounts && !slices.Contains(sp.accounts, h) {
		sp.accounts = append(sp.accounts, h)
	}
	if len(sp.accounts) < g.cfg.SprayAccounts || sp.alarmed {
		return false, len(sp.accounts)
	}
	sp.alarmed = true
	return true, len(sp.accounts)
}

// failedLogin is a failed login as its stat records it.
type failedLogin struct {
	account, shown string // the account, and as logged
	addr           string
	domainID, user string
}

// failedRow reports whether a failed login gets a stat of its own: while
// neither its account nor its address has written failedLoginRows in their
// windows. Otherwise it is counted for the summary of the one that is full
// (the account first). due lists the summaries of windows that ended.
func (g *loginGuard) failedRow(f failedLogin, now time.Time) (write bool, due []*store.Stat) {
	g.mu.Lock()
	defer g.mu.Unlock()
	collect := func(b *rowBudget) {
		if b.counted > 0 {
			due = append(due, b.summary())
		}
	}
	window := g.cfg.FailureWindow
	open := func(b *rowBudget, field, value string) *rowBudget {
		if b.start.IsZero() {
			b.start, b.end, b.field, b.value = now, now.Add(window), field, value
		}
		return b
	}
	acct := open(g.acctRows.add(g.accountKey(f.account), now, func(_ uint64, b *rowBudget) { collect(b) }), "username", f.shown)
	acct.domainID, acct.user = f.domainID, f.user
	var addr *rowBudget
	if f.addr != "" {
		addr = open(g.addrRows.add(f.addr, now, func(_ string, b *rowBudget) { collect(b) }), "ip", f.addr)
	}
	limit := g.cfg.FailedLoginRows
	switch {
	case acct.written >= limit:
		acct.count(now)
	case addr != nil && addr.written >= limit:
		addr.count(now)
	default:
		acct.written++
		if addr != nil {
			addr.written++
		}
		write = true
	}
	return write, due
}

func (b *rowBudget) count(now time.Time) {
	if b.counted == 0 {
		b.first = now
	}
	b.counted++
	b.last = now
}

// summary is the stat of the failures counted but not written.
func (b *rowBudget) summary() *store.Stat {
	return &store.Stat{
		Service: "Login", Type: "Failed login", DomainID: b.domainID, UserID: b.user, Created: b.last.UnixMilli(),
		Data: map[string]any{
			b.field: b.value, "count": b.counted, "summary": true,
			"first": b.first.UnixMilli(), "last": b.last.UnixMilli(),
		},
	}
}

// sweep forgets expired entries, returning the summaries of the row
// windows that ended.
func (g *loginGuard) sweep(now time.Time) (due []*store.Stat) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.accounts.sweep(now, nil)
	g.addresses.sweep(now, nil)
	g.sprays.sweep(now, nil)
	g.anonAddr.sweep(now, nil)
	g.anonDom.sweep(now, nil)
	g.acctRows.sweep(now, func(_ uint64, b *rowBudget) {
		if b.counted > 0 {
			due = append(due, b.summary())
		}
	})
	g.addrRows.sweep(now, func(_ string, b *rowBudget) {
		if b.counted > 0 {
			due = append(due, b.summary())
		}
	})
	return due
}

// tooMany is the refusal of an attempt that must wait w, rounded up to
// whole seconds.
func tooMany(w time.Duration, what string) *GrantError {
	secs := max(int64((w+time.Second-1)/time.Second), 1)
	return &GrantError{
		Code:       "too_many_requests",
		Message:    fmt.Sprintf("%s; try again in %d s", what, secs),
		RetryAfter: time.Duration(secs) * time.Second,
	}
}
