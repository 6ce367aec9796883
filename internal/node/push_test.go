package node_test

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openwac/wac/client"
	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/logging"
	"github.com/openwac/wac/internal/node"
	"github.com/openwac/wac/internal/push/pushtest"
	"github.com/openwac/wac/internal/server"
)

// pushNode is a node whose push service talks to local APNs and FCM.
type pushNode struct {
	*node.Node
	base  string
	apns  *pushtest.APNs
	fcm   *pushtest.FCM
	admin *client.Client
}

func startPushNode(t testing.TB, tweak func(*config.Config)) *pushNode {
	t.Helper()
	p := &pushNode{apns: pushtest.NewAPNs(t), fcm: pushtest.NewFCM(t)}
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Roles = []string{"api", "signaling"}
	cfg.Password.Memory, cfg.Password.Iterations = 8*1024, 1
	cfg.HTTP.DDoSProtection = false
	cfg.Log.Level = "error"
	cfg.Wiface.Public = config.Iface{Iface: "127.0.0.1", Port: freePort(t)}
	cfg.Invites.Basic.ResolvePush = true
	cfg.Push.RetryDelay = 10 * time.Millisecond
	cfg.Push.APNs = config.APNs{KeyID: p.apns.KeyID, TeamID: p.apns.TeamID, Topic: p.apns.Topic, AuthKey: p.apns.KeyFile, URL: p.apns.URL}
	cfg.Push.FCM = config.FCM{FirebaseKey: p.fcm.KeyFile, URL: p.fcm.URL}
	if tweak != nil {
		tweak(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	n, err := node.New(context.Background(), &cfg, logging.Discard(), node.Options{Options: server.Options{
		Out: io.Discard, Environ: []string{server.AdminPasswordEnv + "=admin-secret-1"}}, PushHTTPClient: p.apns.Client()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { cancel(); <-done; n.Close() }) })
	p.Node, p.base = n, n.PublicURL()
	if p.admin, err = client.Login(ctx, p.base, "admin@wac", "admin-secret-1"); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *pushNode) user(t testing.TB, name string) *client.Client {
	t.Helper()
	ctx := context.Background()
	if err := p.admin.API(ctx, "POST", "/sapi/users", map[string]any{"username": name, "password": name + "-password-1"}, nil); err != nil {
		t.Fatal(err)
	}
	cl, err := client.Login(ctx, p.base, name+"@wac", name+"-password-1")
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

type tokenJSON struct {
	ID, TokenType, Token, DeviceID string
}

func register(t testing.TB, cl *client.Client, typ, tok, device string) tokenJSON {
	t.Helper()
	var out tokenJSON
	if err := cl.API(context.Background(), "POST", "/sapi/pushTokens", map[string]any{"tokenType": typ, "token": tok, "deviceId": device}, &out); err != nil {
		t.Fatalf("register %s %s: %v", typ, tok, err)
	}
	return out
}

// call makes a room and invites to from it; it returns the requestID and
// the caller's answers.
func call(t testing.TB, a *client.Conn, to string) (string, <-chan *client.Frame) {
	t.Helper()
	ctx := context.Background()
	f, err := a.Request(ctx, "createRoom", map[string]any{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var r struct{ Room string }
	f.DecodePayload(&r)
	if _, err := a.Request(ctx, "joinRoom", map[string]any{"room": r.Room}, nil); err != nil {
		t.Fatal(err)
	}
	id, ch, err := a.Start(ctx, "invitation", map[string]any{"room": r.Room, "mediatypes": map[string]bool{"audio": true, "video": false}},
		map[string]any{"to": to})
	if err != nil {
		t.Fatal(err)
	}
	return id, ch
}

// The end to end: bob's phones have no session. alice calls him
// over QSS; his iPhone gets a VoIP push through APNs and his Android phone
// a data message through FCM, each with what the app needs to connect and
// answer; a dead token is removed. alice cancels: both phones are told.
// The next call is answered by the iPhone, which connects once woken: the
// Android phone is told it was answered.
func TestInvitationWakesPhonesByPush(t *testing.T) {
	p := startPushNode(t, nil)
	ctx := context.Background()
	alice, bob := p.user(t, "alice"), p.user(t, "bob")
	register(t, bob, "apns-voip", "a1b2c3d4e5f6", "bob-iphone")
	register(t, bob, "fcm", "fcm-bob-pixel", "bob-pixel")
	register(t, bob, "apns", pushtest.GonePrefix+"0", "bob-old-ipad")

	a, err := alice.Connect(ctx, client.ConnectOptions{Platform: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	reqID, ch := call(t, a, "bob")
	pushes := map[string]pushtest.Push{}
	pushes["apns"] = p.apns.Wait(t, 10*time.Second)
	pushes["fcm"] = p.fcm.Wait(t, 10*time.Second)
	for svc, got := range pushes {
		info := got.Info()
		if got.Type() != "invitation" || info["from"] == "" || info["fromUsername"] != "alice" || info["room"] == "" ||
			info["invite"] == "" || info["kind"] != "invitation" {
			t.Errorf("%s push: %v", svc, got.Payload)
		}
	}
	if h := pushes["apns"].Headers; h.Get("apns-push-type") != "voip" || pushes["apns"].Token != "a1b2c3d4e5f6" {
		t.Errorf("APNs push to %s: %v", pushes["apns"].Token, h)
	}
	invite := pushes["apns"].Info()["invite"]
	// The Unregistered token went away; the others stayed.
	waitTokens(t, bob, 2)

	if err := a.Send(ctx, map[string]any{"cancel": "invitation", "requestID": reqID}); err != nil {
		t.Fatal(err)
	}
	if f := <-ch; f.Cancel != "invitation" || f.Error != 487 {
		t.Fatalf("caller's outcome: %s", f.Raw)
	}
	for _, got := range []pushtest.Push{p.apns.Wait(t, 10*time.Second), p.fcm.Wait(t, 10*time.Second)} {
		if got.Type() != "invitation-ended" || got.Info()["reason"] != "cancelled" || got.Info()["invite"] != invite {
			t.Errorf("%s follow-up: %v", got.Service, got.Payload)
		}
	}

	// The iPhone, woken, connects and answers.
	_, ch = call(t, a, "bob")
	woken := p.apns.Wait(t, 10*time.Second)
	p.fcm.Wait(t, 10*time.Second)
	phone, err := bob.Connect(ctx, client.ConnectOptions{Platform: "ios", DeviceID: "bob-iphone"})
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	f, err := phone.WaitIncoming(ctx, "invitation")
	if err != nil {
		t.Fatal(err)
	}
	if f.RequestID != woken.Info()["invite"] {
		t.Errorf("the phone rang for %s, the push was for %v", f.RequestID, woken.Info()["invite"])
	}
	if err := phone.Accept(ctx, f, nil); err != nil {
		t.Fatal(err)
	}
	if f := <-ch; f.Answer != "invitation" {
		t.Fatalf("caller's outcome: %s", f.Raw)
	}
	if got := p.fcm.Wait(t, 10*time.Second); got.Type() != "invitation-ended" || got.Info()["reason"] != "answered" {
		t.Errorf("Android follow-up: %v", got.Payload)
	}
	p.apns.Wait(t, 10*time.Second) // the iPhone's own follow-up

	// While the iPhone's session is live, only the Android phone is woken.
	carol := p.user(t, "carol")
	register(t, carol, "fcm", "fcm-carol", "carol-pixel")
	c, err := carol.Connect(ctx, client.ConnectOptions{Platform: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	call(t, c, "bob")
	if got := p.fcm.Wait(t, 10*time.Second); got.Token != "fcm-bob-pixel" {
		t.Errorf("pushed %s", got.Token)
	}
	if _, err := phone.WaitIncoming(ctx, "invitation"); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-p.apns.Pushes:
		t.Errorf("the iPhone, connected, was pushed: %v", got.Payload)
	case <-time.After(300 * time.Millisecond):
	}
	if e := append(p.apns.Errors(), p.fcm.Errors()...); len(e) > 0 {
		t.Errorf("the fakes refused requests: %v", e)
	}
}

// A callee with no session and no token that works is not connected: 480.
func TestInvitationWithoutReachableDevice(t *testing.T) {
	p := startPushNode(t, nil)
	ctx := context.Background()
	alice, bob := p.user(t, "alice"), p.user(t, "bob")
	a, err := alice.Connect(ctx, client.ConnectOptions{Platform: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	_, ch := call(t, a, "bob")
	if f := <-ch; f.Cancel != "invitation" || f.Error != 480 {
		t.Fatalf("no device: %s", f.Raw)
	}
	register(t, bob, "fcm", pushtest.BadPrefix+"-token", "")
	_, ch = call(t, a, "bob")
	if f := <-ch; f.Cancel != "invitation" || f.Error != 480 {
		t.Fatalf("a bad token only: %s", f.Raw)
	}
	waitTokens(t, bob, 0)
}

func waitTokens(t testing.TB, cl *client.Client, n int) {
	t.Helper()
	var list []tokenJSON
	for range 100 {
		if err := cl.API(context.Background(), "GET", "/sapi/pushTokens", nil, &list); err != nil {
			t.Fatal(err)
		}
		if len(list) == n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%d push tokens, want %d: %+v", len(list), n, list)
}

// What POST /sapi/pushTokens refuses, and what it does with a token
// registered again or by someone else.
func TestPushTokenRegistration(t *testing.T) {
	p := startPushNode(t, func(c *config.Config) { c.Push.MaxTokensPerUser = 3 })
	ctx := context.Background()
	alice, bob := p.user(t, "alice"), p.user(t, "bob")
	for _, c := range []struct {
		body  map[string]any
		code  int
		field string
	}{
		{map[string]any{"token": "abc"}, 422, "tokenType"},
		{map[string]any{"tokenType": "gcm", "token": "abc"}, 422, "tokenType"},
		{map[string]any{"tokenType": "apns"}, 422, "token"},
		{map[string]any{"tokenType": "apns", "token": "not-hex"}, 422, "token"},
		{map[string]any{"tokenType": "fcm", "token": "a b"}, 422, "token"},
		{map[string]any{"tokenType": "fcm", "token": strings.Repeat("a", 1025)}, 422, "token"},
		{map[string]any{"tokenType": "fcm", "token": "ok", "deviceId": "a\nb"}, 422, "deviceId"},
		{map[string]any{"tokenType": "fcm", "token": "ok", "extra": 1}, 400, "extra"},
		{map[string]any{"tokenType": "fcm", "token": 5}, 400, "token"},
	} {
		err := alice.API(ctx, "POST", "/sapi/pushTokens", c.body, nil)
		var ae *client.APIError
		if !asAPIError(err, &ae) || ae.Status != c.code || !strings.Contains(ae.Message, c.field) {
			t.Errorf("POST %v: %v, want %d naming %s", c.body, err, c.code, c.field)
		}
	}
	first := register(t, alice, "apns-voip", "aa01", "alice-iphone")
	// The same device's new token replaces the old one; the same token
	// again is the same record.
	second := register(t, alice, "apns-voip", "aa02", "alice-iphone")
	if again := register(t, alice, "apns-voip", "aa02", "alice-iphone"); again.ID != second.ID {
		t.Errorf("registered again: %s, was %s", again.ID, second.ID)
	}
	waitTokens(t, alice, 1)
	if err := alice.API(ctx, "GET", "/sapi/pushTokens/"+first.ID, nil, nil); !isStatus(err, 404) {
		t.Errorf("the replaced token: %v", err)
	}
	register(t, alice, "fcm", "fcm-1", "")
	register(t, alice, "fcm", "fcm-2", "")
	if err := alice.API(ctx, "POST", "/sapi/pushTokens", map[string]any{"tokenType": "fcm", "token": "fcm-3"}, nil); !isStatus(err, 409) {
		t.Errorf("a fourth token with push.maxTokensPerUser 3: %v", err)
	}
	// A phone that changes hands: bob registers alice's token, it is his.
	moved := register(t, bob, "fcm", "fcm-1", "")
	waitTokens(t, alice, 2)
	waitTokens(t, bob, 1)
	if err := alice.API(ctx, "DELETE", "/sapi/pushTokens/"+moved.ID, nil, nil); !isStatus(err, 404) {
		t.Errorf("alice deletes bob's token: %v", err)
	}
	if err := bob.API(ctx, "DELETE", "/sapi/pushTokens/"+moved.ID, nil, nil); err != nil {
		t.Errorf("bob deletes his token: %v", err)
	}
	waitTokens(t, bob, 0)
}

func asAPIError(err error, target **client.APIError) bool {
	e, ok := err.(*client.APIError)
	if ok {
		*target = e
	}
	return ok
}

func isStatus(err error, code int) bool {
	var ae *client.APIError
	return asAPIError(err, &ae) && ae.Status == code
}

// A call from the phone network to a user whose phones have no session
// wakes them by push (fromType phone, the number as the caller), the
// trunk hears 180 meanwhile, and the phone that connects answers it: the
// trunk gets its 200 and the other phone the follow-up. Nobody reachable
// at all is still 480.
func TestSIPCallWakesPhonesByPush(t *testing.T) {
	apns, fcm := pushtest.NewAPNs(t), pushtest.NewFCM(t)
	r := newSIPRigWith(t, func(c *config.Config) {
		c.Invites.Basic.ResolvePush = true
		c.Push.RetryDelay = 10 * time.Millisecond
		c.Push.APNs = config.APNs{KeyID: apns.KeyID, TeamID: apns.TeamID, Topic: apns.Topic, AuthKey: apns.KeyFile, URL: apns.URL}
		c.Push.FCM = config.FCM{FirebaseKey: fcm.KeyFile, URL: fcm.URL}
	}, node.Options{PushHTTPClient: apns.Client()})
	register(t, r.bob, "apns-voip", "b0b1c2d3", "bob-iphone")
	register(t, r.bob, "fcm", "fcm-bob-pixel", "bob-pixel")
	done := r.phone("uac_call.xml", "206", map[string]string{"PAUSE": "500"})
	woken := apns.Wait(t, 10*time.Second)
	fcm.Wait(t, 10*time.Second)
	info := woken.Info()
	if woken.Type() != "invitation" || info["fromType"] != "phone" || info["from"] != "phone-0034986999888" ||
		info["fromUsername"] != "+34986999888" || info["to"] != "206" || info["room"] == "" {
		t.Fatalf("push of the phone call: %v", woken.Payload)
	}
	ctx := wctx(t)
	phone, err := r.bob.Connect(ctx, client.ConnectOptions{Platform: "ios", DeviceID: "bob-iphone"})
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	ring, err := phone.WaitIncoming(ctx, "invitation")
	if err != nil {
		t.Fatal(err)
	}
	if ring.RequestID != info["invite"] || ring.String("fromType") != "phone" {
		t.Fatalf("the woken phone rang with %s (push for %v)", ring.Raw, info["invite"])
	}
	if err := phone.Accept(ctx, ring, nil); err != nil {
		t.Fatal(err)
	}
	var obj struct {
		Room string `json:"room"`
	}
	if err := json.Unmarshal(ring.Payload, &obj); err != nil {
		t.Fatal(err)
	}
	if _, err := phone.Request(ctx, "joinRoom", map[string]any{"room": obj.Room}, nil); err != nil {
		t.Fatal(err)
	}
	if got := fcm.Wait(t, 10*time.Second); got.Type() != "invitation-ended" || got.Info()["reason"] != "answered" {
		t.Errorf("Android follow-up: %v", got.Payload)
	}
	r.await(done) // 200 OK reached the phone, which hung up
	r.settled()
	// alice has neither a session nor a token: 480.
	r.await(r.phone("uac_refused.xml", "205", map[string]string{"FORMATS": "0", "CODE": "480"}))
	if e := append(apns.Errors(), fcm.Errors()...); len(e) > 0 {
		t.Errorf("the fakes refused requests: %v", e)
	}
}
