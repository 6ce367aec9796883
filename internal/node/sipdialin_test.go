package node_test

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/openwac/wac/client"
	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/store"
)

// roomJoined waits until getRoom lists user among the joined (present) or
// not (!present).
func roomJoined(ctx context.Context, t *testing.T, c *client.Conn, rm, user string, present bool) {
	t.Helper()
	for {
		f, err := c.Request(ctx, "getRoom", map[string]any{"room": rm}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var info struct {
			Joined []string `json:"joined"`
		}
		if err := json.Unmarshal(f.Payload, &info); err != nil {
			t.Fatal(err)
		}
		if slices.Contains(info.Joined, user) == present {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("room %s: %s joined = %v never came (joined %v)", rm, user, present, info.Joined)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// A room's sipUri is sip:888<number>@<the sip role's address>; a phone
// dialling it (or the seeds' parallel SIP form 777888<6 digits><number>)
// is answered and joins the room, stays while the room lasts, and leaves
// with its BYE; the room goes on. A number of no room gets 404.
func TestSIPDialInRoom(t *testing.T) {
	r := newSIPRig(t, nil)
	alice := r.connect(r.alice)
	ctx := wctx(t)
	rm := room(t, alice)
	f, err := alice.Request(ctx, "getRoom", map[string]any{"room": rm}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var obj struct {
		SipURI string `json:"sipUri"`
	}
	if err := json.Unmarshal(f.Payload, &obj); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`^sip:888([0-9]{8})@(.+)$`).FindStringSubmatch(obj.SipURI)
	if m == nil {
		t.Fatalf("sipUri %q", obj.SipURI)
	}
	if want := "127.0.0.1:" + strconv.Itoa(r.node.SIP().Addr().Port); m[2] != want {
		t.Fatalf("sipUri host %q, want the sip role's %s", m[2], want)
	}
	for _, dialled := range []string{"888" + m[1], "777888123456" + m[1]} {
		done := r.phone("uac_dtmf.xml", dialled, map[string]string{"PAUSE": "1500"})
		waitPhoneEvent(ctx, t, alice, "participantAdded")
		roomJoined(ctx, t, alice, rm, "phone-0034986999888", true)
		r.await(done)
		waitPhoneEvent(ctx, t, alice, "participantRemoved")
		roomJoined(ctx, t, alice, rm, "phone-0034986999888", false)
		r.settled()
	}
	// The room is still alice's.
	if _, err := alice.Request(ctx, "getRoom", map[string]any{"room": rm}, nil); err != nil {
		t.Fatalf("the room ended with the phone: %v", err)
	}
	other := "10000000"
	if m[1] == other {
		other = "10000001"
	}
	r.await(r.phone("uac_refused.xml", "888"+other, map[string]string{"FORMATS": "0", "CODE": "404"}))
	// A phone alone in a dialled room stays until the room ends (destroyed
	// here by the domain's admin).
	done := r.phone("uac_hungup.xml", "888"+m[1], nil)
	roomJoined(ctx, t, alice, rm, "phone-0034986999888", true)
	if _, err := alice.Request(ctx, "leaveRoom", map[string]any{"room": rm}, nil); err != nil {
		t.Fatal(err)
	}
	admin := r.connect(r.admin)
	roomJoined(ctx, t, admin, rm, "phone-0034986999888", true)
	if _, err := admin.Request(ctx, "destroyRoom", map[string]any{"room": rm}, nil); err != nil {
		t.Fatal(err)
	}
	r.await(done)
	r.settled()
}

// meetingWithPIN saves a meeting of the default domain owned by owner,
// open from now for an hour (or in the past: over).
func meetingWithPIN(t *testing.T, r *sipRig, owner, pin string, over bool) string {
	t.Helper()
	ctx := context.Background()
	u, err := r.node.Store.GetUser(ctx, owner)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixMilli()
	m := &store.Meeting{DomainID: u.DomainID, OwnerID: owner, Name: "dial-in " + pin, ValidSince: now - 60000,
		ValidUntil: now + 3600000, PIN: pin, Created: now, Updated: now}
	if over {
		m.ValidSince, m.ValidUntil = now-7200000, now-3600000
	}
	if err := r.node.Store.SaveMeeting(ctx, m); err != nil {
		t.Fatal(err)
	}
	return m.ID
}

// Dial-in to meetings.pstnExtension: the phone is answered, keys the PIN
// as DTMF and joins the meeting's room where alice is; a wrong PIN and
// the PIN of a meeting that is over get another try; three wrong PINs and
// wac hangs up. A phone without telephone-event cannot key a PIN: 488.
func TestSIPDialInMeeting(t *testing.T) {
	r := newSIPRig(t, func(c *config.Config) { c.Meetings.PSTNExtension = "+34999999999" })
	id := meetingWithPIN(t, r, r.aliceID, "24681357", false)
	meetingWithPIN(t, r, r.aliceID, "11112222", true)
	alice := r.connect(r.alice)
	ctx := wctx(t)
	rm := joinMeeting(ctx, t, alice, id)
	k := newKeypad(t)

	// Dialled as 0034…: the same number. A wrong PIN, then the PIN of a
	// meeting that is over, then the right one (ended by #, after a * that
	// clears a mistake).
	done := r.phone("uac_dtmf.xml", "0034999999999", map[string]string{"PAUSE": "12000"})
	port := callRTPPort(ctx, t, r)
	k.press(t, port, 101, "87654321")
	k.press(t, port, 101, "11112222")
	k.press(t, port, 101, "9*24681357")
	waitPhoneEvent(ctx, t, alice, "participantAdded")
	roomJoined(ctx, t, alice, rm, "phone-0034986999888", true)
	r.await(done)
	waitPhoneEvent(ctx, t, alice, "participantRemoved")
	r.settled()

	// Three wrong PINs: wac hangs up; the phone never joined.
	done = r.phone("uac_hungup.xml", "+34999999999", nil)
	port = callRTPPort(ctx, t, r)
	k.press(t, port, 101, "000000001111111#2222#")
	r.await(done)
	r.settled()
	roomJoined(ctx, t, alice, rm, "phone-0034986999888", false)

	r.await(r.phone("uac_refused.xml", "+34999999999", map[string]string{"FORMATS": "0", "CODE": "488"}))
}

// An app expels the phone from its room: the phone's call is hung up (BYE
// to the trunk), as when the room ends.
func TestSIPPhoneExpelled(t *testing.T) {
	r := newSIPRig(t, nil)
	trunk := r.trunk("uas_answer.xml", map[string]string{"FORMATS": "0"})
	alice := r.connect(r.alice)
	rm := room(t, alice)
	ctx := wctx(t)
	callPhone(ctx, t, alice, rm)
	waitPhoneEvent(ctx, t, alice, "participantAdded")
	if _, err := alice.Request(ctx, "expel", map[string]any{"room": rm, "participant": "phone-0034986999888"}, nil); err != nil {
		t.Fatal(err)
	}
	r.await(trunk)
	r.settled()
	// alice is still in her room.
	roomJoined(ctx, t, alice, rm, r.aliceID, true)

	// A phone that dialled in, expelled, gets BYE too.
	done := r.phone("uac_hungup.xml", "888"+roomNumber(t, alice, rm), nil)
	roomJoined(ctx, t, alice, rm, "phone-0034986999888", true)
	if _, err := alice.Request(ctx, "expel", map[string]any{"room": rm, "participant": "phone-0034986999888"}, nil); err != nil {
		t.Fatal(err)
	}
	r.await(done)
	r.settled()
}

// Failed dial-ins are bounded on the node (trunk.dialInFailuresPerMinute):
// past the budget, the dial-in hangs up on whoever keys a PIN, the right
// one included, and looks nothing up; a room's number is refused 503.
func TestSIPDialInBudget(t *testing.T) {
	r := newSIPRig(t, func(c *config.Config) {
		c.Meetings.PSTNExtension = "+34999999999"
		c.Trunk.DialInFailuresPerMinute = 3
	})
	id := meetingWithPIN(t, r, r.aliceID, "24681357", false)
	alice := r.connect(r.alice)
	ctx := wctx(t)
	rm := joinMeeting(ctx, t, alice, id)
	k := newKeypad(t)
	// A number of no room and two wrong PINs spend the budget; the third
	// try, the right PIN, is not looked up: hung up.
	other := "10000000"
	if number := roomNumber(t, alice, rm); number == other {
		other = "10000001"
	}
	r.await(r.phone("uac_refused.xml", "888"+other, map[string]string{"FORMATS": "0", "CODE": "404"}))
	done := r.phone("uac_hungup.xml", "+34999999999", nil)
	k.press(t, callRTPPort(ctx, t, r), 101, "000000001111111124681357")
	r.await(done)
	r.settled()
	// Another caller, straight with the right PIN: still over the budget.
	done = r.phone("uac_hungup.xml", "+34999999999", nil)
	k.press(t, callRTPPort(ctx, t, r), 101, "24681357")
	r.await(done)
	r.settled()
	roomJoined(ctx, t, alice, rm, "phone-0034986999888", false)
	// The meeting room's own number: refused while over the budget.
	r.await(r.phone("uac_refused.xml", "888"+roomNumber(t, alice, rm), map[string]string{"FORMATS": "0", "CODE": "503"}))
}

// roomNumber is the number of a room conn is in.
func roomNumber(t *testing.T, conn *client.Conn, rm string) string {
	t.Helper()
	f, err := conn.Request(wctx(t), "getRoom", map[string]any{"room": rm}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var obj struct {
		Number string `json:"number"`
	}
	if err := json.Unmarshal(f.Payload, &obj); err != nil || obj.Number == "" {
		t.Fatalf("getRoom: %s", f.Payload)
	}
	return obj.Number
}

// joinMeeting joins conn's user to a meeting's room; it returns the room.
func joinMeeting(ctx context.Context, t *testing.T, conn *client.Conn, id string) string {
	t.Helper()
	f, err := conn.Request(ctx, "joinMeeting", map[string]any{"meetingUri": "wac-meeting:" + id}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var obj struct {
		Room string `json:"room"`
	}
	if err := json.Unmarshal(f.Payload, &obj); err != nil || obj.Room == "" {
		t.Fatalf("joinMeeting: %s", f.Payload)
	}
	return obj.Room
}

// callRTPPort waits for the RTP port of the sip role's one call.
func callRTPPort(ctx context.Context, t *testing.T, r *sipRig) int {
	t.Helper()
	for {
		if ports := r.node.SIP().RTPPorts(); len(ports) == 1 {
			return ports[0]
		}
		select {
		case <-ctx.Done():
			t.Fatal("the call has no RTP port")
		case <-time.After(20 * time.Millisecond):
		}
	}
}
