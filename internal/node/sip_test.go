package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openwac/wac/client"
	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/node"
	"github.com/openwac/wac/internal/testenv"
)

// sipRig is a node with the sip role whose trunk is a SIPp on loopback,
// and the users of the calls: alice (mapped to 205) and bob (mapped to
// 206).
type sipRig struct {
	t          testing.TB
	node       *node.Node
	base       string
	trunkPort  int // where the SIPp playing the trunk listens
	alice, bob *client.Client
	aliceID    string
	bobID      string
	admin      *client.Client
	stop       func() // stops the node (also at the end of the test)
}

// sippPorts spreads the RTP port ranges of the tests' nodes (the pool
// skips ports that are taken).
var sippPorts atomic.Int32

func newSIPRig(t testing.TB, tweak func(*config.Config)) *sipRig {
	t.Helper()
	return newSIPRigWith(t, tweak, node.Options{})
}

// newSIPRigWith is newSIPRig with node options.
func newSIPRigWith(t testing.TB, tweak func(*config.Config), opts node.Options) *sipRig {
	t.Helper()
	testenv.NeedPrograms(t, "sipp")
	r := &sipRig{t: t, trunkPort: freeUDPPort(t)}
	r.node, r.base, r.stop = runNodeWith(t, t.TempDir(), func(c *config.Config) {
		c.Trunk.Address = "127.0.0.1"
		c.Trunk.Port = r.trunkPort
		c.Trunk.Listen.Port = freeUDPPort(t)
		base := 32000 + int(sippPorts.Add(1))*200
		c.Trunk.RTPPortMin, c.Trunk.RTPPortMax = base, base+99
		c.Trunk.MediaTimeout = 0
		c.QSS.RequestRate = 1000
		if tweak != nil {
			tweak(c)
		}
	}, opts)
	ctx := context.Background()
	admin, err := client.Login(ctx, r.base, "admin@wac", "admin-secret-1")
	if err != nil {
		t.Fatal(err)
	}
	r.admin = admin
	r.alice, r.aliceID = r.user("alice", "205")
	r.bob, r.bobID = r.user("bob", "206")
	return r
}

// freeMediaPorts finds four consecutive free UDP ports from an even one,
// for SIPp's media (-mp: audio, its RTCP, video, its RTCP), probed rather
// than counted so that test processes running side by side do not take
// each other's.
func freeMediaPorts(t testing.TB) int {
	t.Helper()
	for range 100 {
		base := 20000 + 2*rand.IntN(10000)
		free := true
		for p := base; p < base+4 && free; p++ {
			c, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				free = false
				continue
			}
			c.Close()
		}
		if free {
			return base
		}
	}
	t.Fatal("no four free UDP ports in a row")
	return 0
}

// freeUDPPort finds a free UDP port on loopback whose TCP port and the
// next TCP port are free as well (for baresip).
func freeUDPPort(t testing.TB) int {
	t.Helper()
	for range 20 {
		p := freePort(t)
		c, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		c.Close()
		// baresip, given a SIP port, also listens on TCP there and for
		// TLS on the next port: that one must be free too.
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+1))
		if err != nil {
			continue
		}
		l.Close()
		return p
	}
	t.Fatal("no free UDP port")
	return 0
}

// user makes a user with a SIP mapping (number; empty = none) and logs in.
func (r *sipRig) user(name, number string) (*client.Client, string) {
	r.t.Helper()
	ctx := context.Background()
	var u struct{ ID string }
	if err := r.admin.API(ctx, "POST", "/sapi/users", map[string]any{"username": name, "password": "a-password-1"}, &u); err != nil {
		r.t.Fatal(err)
	}
	if number != "" {
		if err := r.admin.API(ctx, "POST", "/sapi/sipMappings", map[string]any{"ownerUri": "wac-user:" + u.ID,
			"credential": map[string]any{"username": number}}, nil); err != nil {
			r.t.Fatal(err)
		}
	}
	cl, err := client.Login(ctx, r.base, name+"@wac", "a-password-1")
	if err != nil {
		r.t.Fatal(err)
	}
	return cl, u.ID
}

func (r *sipRig) connect(cl *client.Client) *client.Conn {
	r.t.Helper()
	conn, err := cl.Connect(context.Background(), client.ConnectOptions{Platform: "test"})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(conn.Close)
	return conn
}

// sipp runs a SIPp scenario of testdata (with its words replaced) and
// returns a channel with its outcome: nil when the scenario passed.
// role is "uac" (it calls wac) or "uas" (it is the trunk wac calls).
func (r *sipRig) sipp(scenario string, words map[string]string, args ...string) <-chan error {
	r.t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "sip", "testdata", "sipp", scenario))
	if err != nil {
		r.t.Fatal(err)
	}
	text := string(data)
	for k, v := range words {
		text = strings.ReplaceAll(text, k, v)
	}
	dir := r.t.TempDir()
	file := filepath.Join(dir, scenario)
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		r.t.Fatal(err)
	}
	mp := freeMediaPorts(r.t)
	base := []string{"-sf", file, "-m", "1", "-i", "127.0.0.1", "-mi", "127.0.0.1", "-mp", strconv.Itoa(mp),
		"-timeout", "20s", "-timeout_error", "-trace_err", "-error_file", filepath.Join(dir, "errors.log")}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	cmd := exec.CommandContext(ctx, "sipp", append(base, args...)...)
	cmd.Dir = dir
	out := make(chan error, 1)
	var output strings.Builder
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Start(); err != nil {
		cancel()
		r.t.Fatal(err)
	}
	go func() {
		defer cancel()
		err := cmd.Wait()
		if err != nil {
			errs, _ := os.ReadFile(filepath.Join(dir, "errors.log"))
			var keep []string
			for _, l := range strings.Split(string(errs), "\n") {
				if !strings.Contains(l, "epoll") {
					keep = append(keep, l)
				}
			}
			errs = []byte(tail(strings.Join(keep, "\n"), 2000))
			err = fmt.Errorf("sipp %s: %v\n%s", scenario, err, errs)
		}
		out <- err
	}()
	r.t.Cleanup(func() {
		cancel()
	})
	return out
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// trunk runs a SIPp playing the trunk (it waits for wac's INVITE).
func (r *sipRig) trunk(scenario string, words map[string]string, args ...string) <-chan error {
	ch := r.sipp(scenario, words, append([]string{"-p", strconv.Itoa(r.trunkPort)}, args...)...)
	r.udpBound(r.trunkPort)
	return ch
}

// callPhone invites the phone +34986999888 into rm and waits until it
// answers.
func callPhone(ctx context.Context, t *testing.T, c *client.Conn, rm string) {
	t.Helper()
	_, answer, err := c.Start(ctx, "invitation", map[string]any{"room": rm}, map[string]any{"to": "tel:+34986999888"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Await(ctx, answer); err != nil {
		t.Fatal(err)
	}
}

// waitPhoneEvent waits for the event (participantAdded, participantRemoved)
// that names the phone +34986999888.
func waitPhoneEvent(ctx context.Context, t *testing.T, c *client.Conn, event string) {
	t.Helper()
	for {
		ev, err := c.WaitEvent(ctx, event)
		if err != nil {
			t.Fatalf("no %s of the phone: %v", event, err)
		}
		if strings.Contains(string(ev.Payload), "phone-0034986999888") {
			return
		}
	}
}

// udpBound waits until a process has bound UDP port on this machine (as
// /proc/net/udp lists it), so that a request sent to SIPp is not lost
// while it starts, however loaded the machine.
func (r *sipRig) udpBound(port int) {
	r.t.Helper()
	local := fmt.Sprintf(":%04X ", port)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, table := range []string{"/proc/net/udp", "/proc/net/udp6"} {
			b, err := os.ReadFile(table)
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(b), "\n")[1:] {
				if f := strings.Fields(line); len(f) > 1 && strings.HasSuffix(f[1]+" ", local) {
					return
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.t.Fatalf("nothing bound UDP port %d within 20 s (did SIPp start?)", port)
}

// phone runs a SIPp calling number on wac.
func (r *sipRig) phone(scenario, number string, words map[string]string) <-chan error {
	return r.sipp(scenario, words, "-s", number, "-p", strconv.Itoa(freeUDPPort(r.t)),
		"127.0.0.1:"+strconv.Itoa(r.node.SIP().Addr().Port))
}

func (r *sipRig) await(ch <-chan error) {
	r.t.Helper()
	select {
	case err := <-ch:
		if err != nil {
			r.t.Fatal(err)
		}
	case <-time.After(40 * time.Second):
		r.t.Fatal("sipp did not finish")
	}
}

// settled waits until the sip role has no call and no RTP port left.
func (r *sipRig) settled() {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if r.node.SIP().Calls() == 0 && r.node.SIP().PortsInUse() == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatalf("calls %d, RTP ports %d still in use", r.node.SIP().Calls(), r.node.SIP().PortsInUse())
}

func wctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// room makes a room of conn's user and joins it.
func room(t *testing.T, conn *client.Conn) string {
	t.Helper()
	ctx := wctx(t)
	f, err := conn.Request(ctx, "createRoom", map[string]any{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Room string `json:"room"`
	}
	if err := json.Unmarshal(f.Payload, &p); err != nil || p.Room == "" {
		t.Fatalf("createRoom: %s", f.Raw)
	}
	if _, err := conn.Request(ctx, "joinRoom", map[string]any{"room": p.Room}, nil); err != nil {
		t.Fatal(err)
	}
	return p.Room
}

// An INVITE from the trunk to 206 rings bob's devices as a phone call; bob
// answers, the phone gets 200 and joins the room, then hangs up (BYE) and
// leaves it.
func TestSIPInboundAnswered(t *testing.T) {
	r := newSIPRig(t, nil)
	bob1, bob2 := r.connect(r.bob), r.connect(r.bob)
	done := r.phone("uac_call.xml", "206", map[string]string{"PAUSE": "1500"})
	ctx := wctx(t)
	ring, err := bob1.WaitIncoming(ctx, "invitation")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob2.WaitIncoming(ctx, "invitation"); err != nil {
		t.Fatalf("bob's second device did not ring: %v", err)
	}
	if ring.String("fromType") != "phone" || ring.String("from") != "phone-0034986999888" {
		t.Fatalf("bob was rung with %s", ring.Raw)
	}
	var obj struct {
		Room string `json:"room"`
	}
	if err := json.Unmarshal(ring.Payload, &obj); err != nil || obj.Room == "" {
		t.Fatalf("ring payload %s", ring.Payload)
	}
	if err := bob1.Accept(ctx, ring, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := bob1.Request(ctx, "joinRoom", map[string]any{"room": obj.Room}, nil); err != nil {
		t.Fatal(err)
	}
	left := false
	for !left {
		ev, err := bob1.WaitEvent(ctx, "participantRemoved")
		if err != nil {
			t.Fatalf("the phone never left: %v", err)
		}
		var p struct {
			Participant string `json:"participant"`
		}
		_ = ev.Decode(&p)
		left = p.Participant == "phone-0034986999888"
	}
	r.await(done)
	r.settled()
}

// Calls from the trunk that cannot ring anyone are refused with the
// seeds' codes: an unknown number 404, a user without a session 480, a
// user who does not receive calls 403, an offer without G.711 488; a
// flood of INVITEs from one address is answered 503.
func TestSIPInboundRefused(t *testing.T) {
	// One INVITE per 1000 s after a burst of 4: however slow the machine,
	// no token comes back during the test.
	r := newSIPRig(t, func(c *config.Config) { c.Trunk.InvitesPerSecond, c.Trunk.InvitesBurst = 0.001, 4 })
	pcmu := map[string]string{"FORMATS": "0"}
	refused := func(number string, code int, codecs string) {
		t.Helper()
		r.await(r.phone("uac_refused.xml", number, map[string]string{"CODE": strconv.Itoa(code), "FORMATS": codecs}))
	}
	refused("999", 404, pcmu["FORMATS"])
	refused("206", 480, pcmu["FORMATS"]) // bob has no session
	r.connect(r.bob)
	refused("206", 488, "9") // G.722 only
	if err := r.admin.API(wctx(t), "POST", "/sapi/permissions/user/"+r.bobID,
		map[string]any{"receiveCalls": map[string]bool{"enabled": false}}, nil); err != nil {
		t.Fatal(err)
	}
	refused("206", 403, pcmu["FORMATS"])
	// Four INVITEs within the burst went through; the next ones are 503.
	refused("206", 503, pcmu["FORMATS"])
	r.settled()
}

// The phone gives up while bob's device rings: CANCEL gets 200 and the
// INVITE 487, and bob's device stops ringing with 487.
func TestSIPInboundCancelled(t *testing.T) {
	r := newSIPRig(t, nil)
	bob := r.connect(r.bob)
	done := r.phone("uac_cancel.xml", "206", map[string]string{"PAUSE": "500"})
	ctx := wctx(t)
	if _, err := bob.WaitIncoming(ctx, "invitation"); err != nil {
		t.Fatal(err)
	}
	r.await(done)
	for {
		select {
		case f := <-bob.Incoming():
			if f.Cancel == "invitation" {
				if f.Error != 487 {
					t.Fatalf("bob's ringing stopped with %s", f.Raw)
				}
				r.settled()
				return
			}
		case <-ctx.Done():
			t.Fatal("bob's device kept ringing")
		}
	}
}

// alice (mapped to 205) calls tel:+34986999888: the trunk gets an INVITE
// from 205, rings and answers; alice gets the answer, the phone joins her
// room; alice leaves and the trunk gets a BYE.
func TestSIPOutboundAnswered(t *testing.T) {
	r := newSIPRig(t, nil)
	trunk := r.trunk("uas_answer.xml", map[string]string{"FORMATS": "0"}, "-trace_msg", "-message_file", filepath.Join(t.TempDir(), "msgs.log"))
	alice := r.connect(r.alice)
	rm := room(t, alice)
	ctx := wctx(t)
	_, answer, err := alice.Start(ctx, "invitation", map[string]any{"room": rm}, map[string]any{"to": "tel:+34986999888"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := alice.Await(ctx, answer)
	if err != nil {
		t.Fatal(err)
	}
	if f.Answer != "invitation" || f.String("whoAccepted") != "tel:+34986999888" {
		t.Fatalf("alice got %s", f.Raw)
	}
	waitPhoneEvent(ctx, t, alice, "participantAdded")
	if _, err := alice.Request(ctx, "leaveRoom", map[string]any{"room": rm}, nil); err != nil {
		t.Fatal(err)
	}
	r.await(trunk)
	r.settled()
	// The call is in alice's history with the phone in it.
	var calls []json.RawMessage
	// Call records are written in the background (gathered for half a
	// second).
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := r.alice.API(ctx, "GET", "/sapi/calls", nil, &calls); err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(calls)
		if strings.Contains(string(raw), "phone-0034986999888") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice's history has no phone call: %s", raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The trunk's refusals reach alice as the seeds' codes.
func TestSIPOutboundRefused(t *testing.T) {
	r := newSIPRig(t, nil)
	alice := r.connect(r.alice)
	rm := room(t, alice)
	for _, c := range []struct{ sip, want int }{{486, 486}, {404, 404}, {480, 408}, {408, 408}, {603, 603}, {500, 503}} {
		trunk := r.trunk("uas_refuse.xml", map[string]string{"CODE": strconv.Itoa(c.sip)})
		ctx := wctx(t)
		_, answer, err := alice.Start(ctx, "invitation", map[string]any{"room": rm}, map[string]any{"to": "tel:+34986999888"})
		if err != nil {
			t.Fatal(err)
		}
		f, err := alice.Await(ctx, answer)
		if f == nil || f.Error != c.want {
			t.Fatalf("trunk %d: alice got %v %v, want %d", c.sip, f, err, c.want)
		}
		r.await(trunk)
	}
	// Without a SIP mapping, carol may not call the phone network: 403,
	// and no INVITE leaves.
	carol, _ := r.user("carol", "")
	cc := r.connect(carol)
	crm := room(t, cc)
	ctx := wctx(t)
	_, answer, err := cc.Start(ctx, "invitation", map[string]any{"room": crm}, map[string]any{"to": "tel:+34986999888"})
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := cc.Await(ctx, answer); f == nil || f.Error != 403 {
		t.Fatalf("a caller without a SIP mapping got %v", f)
	}
	if n := r.node.SIP().Stats.InvitesOut.Load(); n != 7 {
		t.Fatalf("%d INVITEs were placed, want the 6 answered and carol's refused one", n)
	}
	r.settled()
}

// alice gives up while the trunk rings: the trunk gets a CANCEL.
func TestSIPOutboundCancelled(t *testing.T) {
	r := newSIPRig(t, nil)
	trunk := r.trunk("uas_cancel.xml", nil)
	alice := r.connect(r.alice)
	rm := room(t, alice)
	ctx := wctx(t)
	id, answer, err := alice.Start(ctx, "invitation", map[string]any{"room": rm}, map[string]any{"to": "tel:+34986999888"})
	if err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := alice.WaitEvent(ctx, "outgoingInvitation")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(ev.Payload), `"code":180`) {
			break
		}
	}
	if err := alice.CancelRequest(ctx, "invitation", id); err != nil {
		t.Fatal(err)
	}
	f, _ := alice.Await(ctx, answer)
	if f == nil || f.Error != 487 {
		t.Fatalf("alice's cancel ended with %v", f)
	}
	r.await(trunk)
	r.settled()
}

// The phone hangs up (BYE from the trunk): it leaves alice's room.
func TestSIPOutboundTrunkHangsUp(t *testing.T) {
	r := newSIPRig(t, nil)
	trunk := r.trunk("uas_bye.xml", map[string]string{"PAUSE": "500"})
	alice := r.connect(r.alice)
	rm := room(t, alice)
	ctx := wctx(t)
	callPhone(ctx, t, alice, rm)
	waitPhoneEvent(ctx, t, alice, "participantRemoved")
	r.await(trunk)
	r.settled()
}

// A trunk that answers but sends no RTP is hung up after
// trunk.mediaTimeout seconds.
func TestSIPMediaTimeout(t *testing.T) {
	r := newSIPRig(t, func(c *config.Config) { c.Trunk.MediaTimeout = time.Second })
	trunk := r.trunk("uas_answer.xml", map[string]string{"FORMATS": "0"})
	alice := r.connect(r.alice)
	rm := room(t, alice)
	ctx := wctx(t)
	callPhone(ctx, t, alice, rm)
	r.await(trunk) // it ends on wac's BYE
	r.settled()
}

// After calls of every kind (answered with media, cancelled, refused) and
// the node's stop, no goroutine of the SIP stack, the sip role or its
// media is left.
func TestSIPNoGoroutineLeft(t *testing.T) {
	r := newSIPRig(t, nil)
	bob := r.connect(r.bob)
	done := r.phone("uac_call.xml", "206", map[string]string{"PAUSE": "300"})
	ctx := wctx(t)
	ring, err := bob.WaitIncoming(ctx, "invitation")
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.Accept(ctx, ring, nil); err != nil {
		t.Fatal(err)
	}
	r.await(done)
	r.await(r.phone("uac_cancel.xml", "206", map[string]string{"PAUSE": "200"}))
	r.await(r.phone("uac_refused.xml", "999", map[string]string{"CODE": "404", "FORMATS": "0"}))
	trunk := r.trunk("uas_bye.xml", map[string]string{"PAUSE": "300"})
	alice := r.connect(r.alice)
	rm := room(t, alice)
	callPhone(ctx, t, alice, rm)
	r.await(trunk)
	r.settled()
	bob.Close()
	alice.Close()
	r.stop()
	noSIPGoroutines(t)
}

// A PBX that asks for digest authentication gets it with the password of
// the caller's SIP mapping (sealed in the database, opened only for this).
func TestSIPOutboundDigest(t *testing.T) {
	r := newSIPRig(t, nil)
	ctx := wctx(t)
	var list []struct{ ID string }
	if err := r.admin.API(ctx, "GET", "/sapi/sipMappings?ownerUri=wac-user:"+r.aliceID, nil, &list); err != nil || len(list) != 1 {
		t.Fatalf("alice's mapping: %v %v", list, err)
	}
	var m struct {
		Credential struct {
			PasswordSet bool `json:"passwordSet"`
			Password    string
		} `json:"credential"`
	}
	if err := r.admin.API(ctx, "PUT", "/sapi/sipMappings/"+list[0].ID, map[string]any{"ownerUri": "wac-user:" + r.aliceID,
		"credential": map[string]any{"username": "205", "password": "pbx-secret"}}, &m); err != nil {
		t.Fatal(err)
	}
	if !m.Credential.PasswordSet || m.Credential.Password != "" {
		t.Fatalf("the answer shows %+v", m.Credential)
	}
	trunk := r.trunk("uas_auth.xml", nil)
	alice := r.connect(r.alice)
	rm := room(t, alice)
	_, answer, err := alice.Start(ctx, "invitation", map[string]any{"room": rm}, map[string]any{"to": "tel:+34986999888"})
	if err != nil {
		t.Fatal(err)
	}
	if f, err := alice.Await(ctx, answer); err != nil || f.Error != 0 {
		t.Fatalf("the authenticated call: %v %v", f, err)
	}
	if _, err := alice.Request(ctx, "leaveRoom", map[string]any{"room": rm}, nil); err != nil {
		t.Fatal(err)
	}
	r.await(trunk)
	r.settled()
}

// INVITEs from an address outside trunk.acceptFrom are refused with 403.
func TestSIPInboundFromElsewhere(t *testing.T) {
	r := newSIPRig(t, func(c *config.Config) { c.Trunk.AcceptFrom = []string{"192.0.2.0/24"} })
	r.connect(r.bob)
	r.await(r.phone("uac_refused.xml", "206", map[string]string{"CODE": "403", "FORMATS": "0"}))
	r.settled()
}

// A number mapped to a hunt group rings its participants; the first to
// answer takes the call and the other stops ringing.
func TestSIPInboundHuntGroup(t *testing.T) {
	r := newSIPRig(t, nil)
	ctx := wctx(t)
	carol, carolID := r.user("carol", "")
	var g struct{ ID string }
	if err := r.admin.API(ctx, "POST", "/sapi/usersGroup", map[string]any{"name": "desk", "participants": []string{r.bobID, carolID}}, &g); err != nil {
		t.Fatal(err)
	}
	if err := r.admin.API(ctx, "POST", "/sapi/sipMappings", map[string]any{"ownerUri": "wac-group:" + g.ID,
		"credential": map[string]any{"username": "300"}}, nil); err != nil {
		t.Fatal(err)
	}
	bob, cc := r.connect(r.bob), r.connect(carol)
	done := r.phone("uac_call.xml", "300", map[string]string{"PAUSE": "300"})
	ring, err := bob.WaitIncoming(ctx, "invitation")
	if err != nil {
		t.Fatal(err)
	}
	if ring.String("fromType") != "phone" || ring.String("group") != g.ID {
		t.Fatalf("bob was rung with %s", ring.Raw)
	}
	if _, err := cc.WaitIncoming(ctx, "invitation"); err != nil {
		t.Fatalf("carol was not rung: %v", err)
	}
	if err := bob.Accept(ctx, ring, nil); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case f := <-cc.Incoming():
			if f.Cancel == "invitation" {
				r.await(done)
				r.settled()
				return
			}
		case <-ctx.Done():
			t.Fatal("carol kept ringing")
		}
	}
}
