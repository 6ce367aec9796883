package sip

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// sourceLimiter bounds the INVITEs of each source address
// (trunk.invitesPerSecond, trunk.invitesBurst); sources quiet for a minute
// are forgotten.
type sourceLimiter struct {
	mu      sync.Mutex
	every   rate.Limit
	burst   int
	sources map[string]*sourceEntry
	swept   time.Time
}

type sourceEntry struct {
	lim  *rate.Limiter
	seen time.Time
}

// maxSources bounds the sources remembered; past it, the quiet ones go
// first and a flood of new sources shares one limiter.
const maxSources = 10000

func newSourceLimiter(perSecond float64, burst int) *sourceLimiter {
	return &sourceLimiter{every: rate.Limit(perSecond), burst: burst, sources: map[string]*sourceEntry{}, swept: time.Now()}
}

// allow says whether source may send one more INVITE now.
func (l *sourceLimiter) allow(source string) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute || len(l.sources) >= maxSources {
		for k, e := range l.sources {
			if now.Sub(e.seen) > time.Minute {
				delete(l.sources, k)
			}
		}
		l.swept = now
		if len(l.sources) >= maxSources {
			source = "overflow"
		}
	}
	e := l.sources[source]
	if e == nil {
		e = &sourceEntry{lim: rate.NewLimiter(l.every, l.burst)}
		l.sources[source] = e
	}
	e.seen = now
	return e.lim.AllowN(now, 1)
}
