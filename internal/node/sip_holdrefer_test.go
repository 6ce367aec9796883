package node_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openwac/wac/client"
	"github.com/openwac/wac/internal/config"
)

// heldCalls waits until the sip role holds n calls (the app's hold reached
// the phone: its re-INVITE was answered).
func (r *sipRig) heldCalls(n int) {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if r.node.SIP().HeldCalls() == n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.t.Fatalf("%d calls held, want %d", r.node.SIP().HeldCalls(), n)
}

// joined lists the participants of rm, as getRoom tells conn.
func joined(t *testing.T, conn *client.Conn, rm string) []string {
	t.Helper()
	f, err := conn.Request(wctx(t), "getRoom", map[string]any{"room": rm}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Joined []string `json:"joined"`
	}
	if err := json.Unmarshal(f.Payload, &info); err != nil {
		t.Fatalf("getRoom: %s", f.Payload)
	}
	return info.Joined
}

// answerPhone waits for the phone's ring on conn, answers it and joins its
// room.
func answerPhone(t *testing.T, conn *client.Conn) string {
	t.Helper()
	ctx := wctx(t)
	ring, err := conn.WaitIncoming(ctx, "invitation")
	if err != nil {
		t.Fatal(err)
	}
	var obj struct {
		Room string `json:"room"`
	}
	if err := json.Unmarshal(ring.Payload, &obj); err != nil || obj.Room == "" {
		t.Fatalf("ring payload %s", ring.Payload)
	}
	if err := conn.Accept(ctx, ring, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Request(ctx, "joinRoom", map[string]any{"room": obj.Room}, nil); err != nil {
		t.Fatal(err)
	}
	return obj.Room
}

// A call from the phone to bob: bob's hold reaches the phone as a
// re-INVITE with a=sendonly and his unhold as one with a=sendrecv (the
// scenario checks them). Then the phone holds (a=sendonly, answered
// a=recvonly), goes inactive and resumes (answered a=inactive, a=sendrecv;
// the scenario checks the answers): bob sees participantHold and
// participantUnhold of the phone, and the hold's silence, longer than
// trunk.mediaTimeout, does not hang the call up (the scenario would get an
// unexpected BYE).
func TestSIPHoldInbound(t *testing.T) {
	r := newSIPRig(t, func(c *config.Config) { c.Trunk.MediaTimeout = 3 * time.Second })
	bob := r.connect(r.bob)
	done := r.phone("uac_hold.xml", "206", map[string]string{"PAUSE": "4500"})
	ctx := wctx(t)
	rm := answerPhone(t, bob)
	// The hold reaches the phones in the room: wait until the phone is.
	for !slices.Contains(joined(t, bob, rm), "phone-0034986999888") {
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := bob.Request(ctx, "hold", map[string]any{"room": rm}, nil); err != nil {
		t.Fatal(err)
	}
	r.heldCalls(1)
	if _, err := bob.Request(ctx, "unhold", map[string]any{"room": rm}, nil); err != nil {
		t.Fatal(err)
	}
	r.heldCalls(0)
	waitPhoneEvent(ctx, t, bob, "participantHold")
	f, err := bob.Request(ctx, "getRoom", map[string]any{"room": rm}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(f.Payload), `"hold":true`) {
		t.Fatalf("the held phone is not on hold in the room: %s", f.Payload)
	}
	waitPhoneEvent(ctx, t, bob, "participantUnhold")
	r.await(done)
	r.settled()
	bob.Close()
	r.stop()
	noSIPGoroutines(t)
}

// alice calls the phone and holds: the trunk gets a re-INVITE with
// a=sendonly, then a=sendrecv on her unhold (the scenario checks them);
// alice leaves and the trunk gets a BYE.
func TestSIPHoldOutbound(t *testing.T) {
	r := newSIPRig(t, nil)
	trunk := r.trunk("uas_hold.xml", nil)
	alice := r.connect(r.alice)
	rm := room(t, alice)
	ctx := wctx(t)
	callPhone(ctx, t, alice, rm)
	waitPhoneEvent(ctx, t, alice, "participantAdded")
	if _, err := alice.Request(ctx, "hold", map[string]any{"room": rm}, nil); err != nil {
		t.Fatal(err)
	}
	r.heldCalls(1)
	if _, err := alice.Request(ctx, "unhold", map[string]any{"room": rm}, nil); err != nil {
		t.Fatal(err)
	}
	r.heldCalls(0)
	if _, err := alice.Request(ctx, "leaveRoom", map[string]any{"room": rm}, nil); err != nil {
		t.Fatal(err)
	}
	r.await(trunk)
	r.settled()
}

// The phone that called bob transfers the call to 205 (REFER): alice
// (mapped to 205) is rung into bob's room as a phone call, answers, and
// the phone gets 202, NOTIFY 100 and 200 and a BYE (the scenario checks
// them); bob and alice stay in the room, the phone left it.
func TestSIPReferFromPhone(t *testing.T) {
	r := newSIPRig(t, nil)
	bob, alice := r.connect(r.bob), r.connect(r.alice)
	done := r.phone("uac_refer.xml", "206", map[string]string{"PAUSE": "500", "TARGET": "205"})
	ctx := wctx(t)
	rm := answerPhone(t, bob)
	ring, err := alice.WaitIncoming(ctx, "invitation")
	if err != nil {
		t.Fatal(err)
	}
	if ring.String("fromType") != "phone" || ring.String("from") != "phone-0034986999888" || !strings.Contains(string(ring.Payload), rm) {
		t.Fatalf("alice was rung with %s, want the phone into room %s", ring.Raw, rm)
	}
	if err := alice.Accept(ctx, ring, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Request(ctx, "joinRoom", map[string]any{"room": rm}, nil); err != nil {
		t.Fatal(err)
	}
	waitPhoneEvent(ctx, t, bob, "participantRemoved")
	r.await(done)
	r.settled()
	in := joined(t, bob, rm)
	if len(in) != 2 || !slices.Contains(in, r.aliceID) || !slices.Contains(in, r.bobID) {
		t.Fatalf("after the transfer the room has %v", in)
	}
	bob.Close()
	alice.Close()
	r.stop()
	noSIPGoroutines(t)
}

// A REFER to a number that is no SIP mapping is refused (404) and the call
// goes on; so is one outside a call (481).
func TestSIPReferRefused(t *testing.T) {
	r := newSIPRig(t, nil)
	bob := r.connect(r.bob)
	done := r.phone("uac_refer_refused.xml", "206", map[string]string{"PAUSE": "300", "TARGET": "999", "CODE": "404"})
	answerPhone(t, bob)
	r.await(done)
	r.settled()
}

// alice transfers the phone she called to another number: the trunk gets
// a REFER to it, accepts and NOTIFYs; on 200 alice's transfer is answered
// and wac hangs up (BYE); on 486 alice gets transferError and a cancel
// with 486, and the call goes on until she leaves. No goroutine is left
// after the node stops.
func TestSIPReferFromApp(t *testing.T) {
	r := newSIPRig(t, nil)
	alice := r.connect(r.alice)
	for _, c := range []struct {
		status string
		code   int
	}{{"200 OK", 0}, {"486 Busy Here", 486}} {
		trunk := r.trunk("uas_refer.xml", map[string]string{"NUMBER": `\+34986111222`, "STATUS": c.status})
		rm := room(t, alice)
		ctx := wctx(t)
		callPhone(ctx, t, alice, rm)
		waitPhoneEvent(ctx, t, alice, "participantAdded")
		f, err := alice.Request(ctx, "transfer", map[string]any{"room": rm, "participant": "phone-0034986999888", "to": "tel:+34986111222"}, nil)
		if c.code == 0 {
			if err != nil || f.Answer != "transfer" {
				t.Fatalf("the transfer: %v %v", f, err)
			}
		} else {
			var ce *client.CancelError
			if !errors.As(err, &ce) || ce.Code != c.code {
				t.Fatalf("the failed transfer: %v %v", f, err)
			}
			if _, err := alice.WaitEvent(ctx, "transferError"); err != nil {
				t.Fatal(err)
			}
			if _, err := alice.Request(ctx, "leaveRoom", map[string]any{"room": rm}, nil); err != nil {
				t.Fatal(err)
			}
		}
		r.await(trunk)
		r.settled()
	}
	// Nothing of the REFERs, their NOTIFYs or the holds is left running.
	alice.Close()
	r.stop()
	noSIPGoroutines(t)
}

// The phone alice called holds from its side (the trunk's re-INVITE in the
// dialog wac started): the 200 says a=recvonly, then a=sendrecv on the
// resume (the scenario checks them), and alice sees participantHold and
// participantUnhold of the phone.
func TestSIPHoldFromCalledPhone(t *testing.T) {
	r := newSIPRig(t, nil)
	trunk := r.trunk("uas_phonehold.xml", map[string]string{"PAUSE": "300"})
	alice := r.connect(r.alice)
	rm := room(t, alice)
	ctx := wctx(t)
	callPhone(ctx, t, alice, rm)
	waitPhoneEvent(ctx, t, alice, "participantHold")
	waitPhoneEvent(ctx, t, alice, "participantUnhold")
	if _, err := alice.Request(ctx, "leaveRoom", map[string]any{"room": rm}, nil); err != nil {
		t.Fatal(err)
	}
	r.await(trunk)
	r.settled()
}
