package sip

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/openwac/wac/internal/auth"
	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/store"
)

// mappingStore is a store with the SIP mappings of users (only what the
// registrar reads).
type mappingStore struct {
	store.Store
	byOwner map[string]*store.SipMapping
}

func (m mappingStore) SipMappingByOwner(_ context.Context, ownerType, ownerID string) (*store.SipMapping, error) {
	if mp, ok := m.byOwner[ownerID]; ok && ownerType == store.SipOwnerUser {
		return mp, nil
	}
	return nil, store.ErrNotFound
}

// registered is one REGISTER the test registrar took.
type registered struct {
	user, callID, contact string
	cseq                  uint32
	expires               int
	authorized            bool
}

// testRegistrar is a registrar on a loopback UDP port (sipgo's server):
// it challenges REGISTERs without credentials (digest MD5, realm "test"),
// checks the response against the users' passwords, and answers what
// answer says.
type testRegistrar struct {
	t         *testing.T
	port      int
	passwords map[string]string
	got       chan registered
	// answer is the response to an authorized REGISTER: status and the
	// expires given to the contact (-1: none, the Expires header then).
	answer func(r registered, req *sip.Request) *sip.Response
}

var (
	digestField = regexp.MustCompile(`(\w+)="?([^",]*)"?`)
)

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

func startRegistrar(t *testing.T, passwords map[string]string, answer func(registered, *sip.Request) *sip.Response) *testRegistrar {
	t.Helper()
	reg := &testRegistrar{t: t, passwords: passwords, got: make(chan registered, 64), answer: answer}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("test-registrar"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg.port = conn.LocalAddr().(*net.UDPAddr).Port
	srv.OnRegister(func(req *sip.Request, tx sip.ServerTransaction) {
		r := registered{user: req.To().Address.User, callID: req.CallID().Value(), cseq: req.CSeq().SeqNo, expires: -1}
		if c := req.Contact(); c != nil {
			r.contact = c.Address.String()
		}
		if h := req.GetHeader("Expires"); h != nil {
			r.expires, _ = strconv.Atoi(h.Value())
		}
		h := req.GetHeader("Authorization")
		if h == nil {
			res := sip.NewResponseFromRequest(req, 401, "Unauthorized", nil)
			res.AppendHeader(sip.NewHeader("WWW-Authenticate", `Digest realm="test", nonce="n0nce`+strconv.Itoa(int(r.cseq))+`", algorithm=MD5`))
			_ = tx.Respond(res)
			return
		}
		f := map[string]string{}
		for _, m := range digestField.FindAllStringSubmatch(h.Value(), -1) {
			f[m[1]] = m[2]
		}
		want := md5hex(md5hex(f["username"]+":test:"+passwords[f["username"]]) + ":" + f["nonce"] + ":" + md5hex("REGISTER:"+f["uri"]))
		if f["username"] != r.user || f["response"] != want {
			_ = tx.Respond(sip.NewResponseFromRequest(req, 403, "Forbidden", nil))
			return
		}
		r.authorized = true
		reg.got <- r
		_ = tx.Respond(reg.answer(r, req))
	})
	go func() { _ = srv.ServeUDP(conn) }()
	t.Cleanup(func() {
		conn.Close()
		srv.Close()
		ua.Close()
	})
	return reg
}

// ok is a 200 to REGISTER granting our contact expires seconds.
func ok(req *sip.Request, expires int) *sip.Response {
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	if c := req.Contact(); c != nil && expires >= 0 {
		cc := c.Clone()
		cc.Params = sip.NewParams()
		cc.Params.Add("expires", strconv.Itoa(expires))
		res.AppendHeader(cc)
	}
	return res
}

func (reg *testRegistrar) next(ctx context.Context) registered {
	reg.t.Helper()
	select {
	case r := <-reg.got:
		return r
	case <-ctx.Done():
		reg.t.Fatal("no REGISTER came")
		return registered{}
	}
}

// registrarRig is a sip role whose trunk is a test registrar, with users
// whose presence the test sets.
type registrarRig struct {
	s      *Server
	reg    *testRegistrar
	mu     sync.Mutex
	online map[string]bool
}

func newRegistrarRig(t *testing.T, mappings map[string]*store.SipMapping, passwords map[string]string,
	answer func(registered, *sip.Request) *sip.Response) *registrarRig {
	t.Helper()
	reg := startRegistrar(t, passwords, answer)
	cfg := config.Default()
	cfg.Trunk.Address = "127.0.0.1"
	cfg.Trunk.Port = reg.port
	cfg.Trunk.Listen.Port = 0
	cfg.Trunk.Register = true
	cfg.Trunk.RegisterExpires = 600 * time.Second
	secret := []byte("a cluster secret of the test, long enough")
	key, err := auth.DeriveKey(secret, "sip mapping passwords")
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := auth.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	byOwner := map[string]*store.SipMapping{}
	for owner, m := range mappings {
		if m.Password != "" {
			m.Password = sealer.Seal([]byte(m.Password), "sip-mapping:"+m.ID)
		}
		byOwner[owner] = m
	}
	rig := &registrarRig{reg: reg, online: map[string]bool{}}
	s, err := New(Options{Config: &cfg, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Store: mappingStore{byOwner: byOwner},
		Secret: secret, Online: func(id string) bool {
			rig.mu.Lock()
			defer rig.mu.Unlock()
			return rig.online[id]
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	rig.s = s
	t.Cleanup(s.Close)
	return rig
}

func (rig *registrarRig) set(user string, online bool) {
	rig.mu.Lock()
	rig.online[user] = online
	rig.mu.Unlock()
	rig.s.UserPresence(user)
}

// A user coming registers the mapping's username (digest answered with
// its password, Contact at the node's SIP address, the configured
// Expires); the registration is refreshed within what the registrar
// granted (2 s here, not the 600 s asked), with the same Call-ID and a
// higher CSeq; the user going unregisters (Expires 0); and the role
// closing unregisters whoever is registered before it returns. Users
// without a mapping or without a password are not registered.
func TestRegisterRefreshUnregister(t *testing.T) {
	rig := newRegistrarRig(t, map[string]*store.SipMapping{
		"u-carol": {ID: "m1", OwnerType: store.SipOwnerUser, OwnerID: "u-carol", Username: "207", Password: "pw-207"},
		"u-dave":  {ID: "m2", OwnerType: store.SipOwnerUser, OwnerID: "u-dave", Username: "208"},
	}, map[string]string{"207": "pw-207"}, func(r registered, req *sip.Request) *sip.Response {
		if r.expires == 0 {
			return ok(req, -1)
		}
		return ok(req, 2)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rig.set("u-dave", true) // no password: nothing to register
	rig.set("u-erin", true) // no mapping
	rig.set("u-carol", true)
	first := rig.reg.next(ctx)
	contact := "sip:207@127.0.0.1:" + strconv.Itoa(rig.s.Addr().Port)
	if first.user != "207" || first.expires != 600 || first.contact != contact {
		t.Fatalf("first REGISTER %+v, want 207 for 600 s at %s", first, contact)
	}
	// A second session's presence call changes nothing.
	rig.s.UserPresence("u-carol")
	refresh := rig.reg.next(ctx)
	if refresh.user != "207" || refresh.callID != first.callID || refresh.cseq <= first.cseq || refresh.expires != 600 {
		t.Fatalf("refresh %+v after %+v", refresh, first)
	}
	rig.set("u-carol", false)
	gone := rig.reg.next(ctx)
	if gone.expires != 0 || gone.callID != first.callID || gone.cseq <= refresh.cseq {
		t.Fatalf("unregister %+v", gone)
	}
	rig.set("u-carol", true)
	if again := rig.reg.next(ctx); again.expires != 600 {
		t.Fatalf("register again %+v", again)
	}
	rig.s.Close()
	if last := rig.reg.next(ctx); last.expires != 0 {
		t.Fatalf("close sent %+v, want an unregister", last)
	}
	select {
	case r := <-rig.reg.got:
		t.Fatalf("a REGISTER of a user without a password or mapping, or after close: %+v", r)
	default:
	}
	// Presence calls after close start nothing.
	rig.set("u-carol", true)
	rig.s.reg.mu.Lock()
	n := len(rig.s.reg.bindings)
	rig.s.reg.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d bindings after close", n)
	}
	noRegistrarGoroutines(t)
}

// A registrar that fails is tried again (500, then again), one that wants
// a longer expiry (423 Min-Expires) gets it, and its own Expires header is
// honoured when the contact has none.
func TestRegisterRetryAndMinExpires(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	rig := newRegistrarRig(t, map[string]*store.SipMapping{
		"u-carol": {ID: "m1", OwnerType: store.SipOwnerUser, OwnerID: "u-carol", Username: "207", Password: "pw-207"},
	}, map[string]string{"207": "pw-207"}, func(r registered, req *sip.Request) *sip.Response {
		mu.Lock()
		defer mu.Unlock()
		calls++
		switch {
		case r.expires == 0:
			return ok(req, -1)
		case calls == 1:
			return sip.NewResponseFromRequest(req, 500, "Server Internal Error", nil)
		case r.expires < 1200:
			res := sip.NewResponseFromRequest(req, 423, "Interval Too Brief", nil)
			res.AppendHeader(sip.NewHeader("Min-Expires", "1200"))
			return res
		}
		res := ok(req, -1)
		res.AppendHeader(sip.NewHeader("Expires", "1200"))
		return res
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rig.set("u-carol", true)
	for i, want := range []int{600, 600, 1200} {
		if r := rig.reg.next(ctx); r.expires != want {
			t.Fatalf("REGISTER %d asked %d s, want %d", i+1, r.expires, want)
		}
	}
	rig.s.Close()
	if last := rig.reg.next(ctx); last.expires != 0 {
		t.Fatalf("close sent %+v, want an unregister", last)
	}
	noRegistrarGoroutines(t)
}

// noRegistrarGoroutines waits until no goroutine of the registrar is
// left.
func noRegistrarGoroutines(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		var left []string
		for _, g := range strings.Split(stacks, "\n\n") {
			if strings.Contains(g, "internal/sip.(*registrar)") {
				left = append(left, g)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d registrar goroutines left:\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
