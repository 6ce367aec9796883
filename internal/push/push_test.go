package push_test

import (
	"context"
	"testing"
	"time"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/push"
	"github.com/openwac/wac/internal/push/pushtest"
	"github.com/openwac/wac/internal/store"
	"github.com/openwac/wac/internal/store/storetest"
)

type fixture struct {
	st   *store.SQL
	svc  *push.Service
	apns *pushtest.APNs
	fcm  *pushtest.FCM
	user *store.User
}

func newFixture(t *testing.T, dialect string, edit func(c *config.Config)) *fixture {
	ctx := context.Background()
	st, _ := storetest.Open(t, dialect)
	d := &store.Domain{ID: store.NewID(), Name: "acme"}
	if err := st.CreateDomain(ctx, d); err != nil {
		t.Fatal(err)
	}
	u := &store.User{ID: store.NewID(), DomainID: d.ID, Username: "alice", Role: store.RoleUser}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, user: u, apns: pushtest.NewAPNs(t), fcm: pushtest.NewFCM(t)}
	cfg := config.Default()
	cfg.Push.RetryDelay = 10 * time.Millisecond
	cfg.Push.APNs = config.APNs{KeyID: f.apns.KeyID, TeamID: f.apns.TeamID, Topic: f.apns.Topic, AuthKey: f.apns.KeyFile, URL: f.apns.URL}
	cfg.Push.FCM = config.FCM{FirebaseKey: f.fcm.KeyFile, URL: f.fcm.URL}
	if edit != nil {
		edit(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	svc, err := push.New(ctx, &cfg, push.Options{Store: st, HTTPClient: f.apns.Client()})
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	return f
}

func (f *fixture) token(t *testing.T, typ, tok, device string) *store.PushToken {
	pt := &store.PushToken{UserID: f.user.ID, DomainID: f.user.DomainID, TokenType: typ, Token: tok, DeviceID: device}
	if err := f.st.SavePushToken(context.Background(), pt, 10); err != nil {
		t.Fatal(err)
	}
	return pt
}

func TestSendsToEveryService(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(storetest.Name(dialect), func(t *testing.T) {
			f := newFixture(t, dialect, nil)
			voip := f.token(t, store.PushAPNsVoIP, "a1b2c3voip", "iphone")
			alert := f.token(t, store.PushAPNs, "a1b2c3alert", "iphone")
			fcm := f.token(t, store.PushFCM, "fcm-token-1", "pixel")
			n, err := f.svc.PushInvitation(context.Background(), f.user.ID, []string{voip.ID, alert.ID, fcm.ID},
				map[string]any{"invite": "inv1", "from": "bob", "displayName": "Bob"})
			if err != nil || n != 3 {
				t.Fatalf("PushInvitation = %d, %v", n, err)
			}
			got := map[string]pushtest.Push{}
			for range 2 {
				p := f.apns.Wait(t, 5*time.Second)
				got[p.Token] = p
			}
			got["fcm"] = f.fcm.Wait(t, 5*time.Second)
			v := got["a1b2c3voip"]
			if v.Headers.Get("apns-push-type") != "voip" || v.Headers.Get("apns-topic") != f.apns.Topic+".voip" ||
				v.Headers.Get("apns-priority") != "10" || v.Type() != push.TypeInvitation || v.Info()["invite"] != "inv1" {
				t.Errorf("VoIP push: %v %v", v.Headers, v.Payload)
			}
			a := got["a1b2c3alert"]
			aps, _ := a.Payload["aps"].(map[string]any)
			if a.Headers.Get("apns-push-type") != "alert" || a.Headers.Get("apns-topic") != f.apns.Topic || aps["alert"] != "Incoming call from Bob" {
				t.Errorf("alert push: %v %v", a.Headers, a.Payload)
			}
			if a.Headers.Get("apns-collapse-id") != "inv1" || a.Headers.Get("apns-expiration") == "" {
				t.Errorf("alert push headers: %v", a.Headers)
			}
			g := got["fcm"]
			if g.Token != "fcm-token-1" || g.Type() != push.TypeInvitation || g.Payload["priority"] != "high" || g.Info()["from"] != "bob" {
				t.Errorf("FCM push: %v", g.Payload)
			}
			if e := append(f.apns.Errors(), f.fcm.Errors()...); len(e) > 0 {
				t.Errorf("the fakes refused requests: %v", e)
			}
		})
	}
}

func TestBadTokensAreRemoved(t *testing.T) {
	f := newFixture(t, store.SQLite, nil)
	ctx := context.Background()
	for _, c := range []struct{ typ, tok string }{
		{store.PushAPNs, pushtest.BadPrefix + "-apns"}, {store.PushAPNsVoIP, pushtest.GonePrefix + "-apns"},
		{store.PushFCM, pushtest.BadPrefix + "-fcm"}, {store.PushFCM, pushtest.GonePrefix + "-fcm"},
	} {
		pt := f.token(t, c.typ, c.tok, "")
		err := f.svc.Send(ctx, pt, &push.Message{Type: push.TypeInvitation, Call: true})
		if err == nil {
			t.Errorf("%s %s: sent", c.typ, c.tok)
		}
		if _, err := f.st.GetPushToken(ctx, pt.ID); err != store.ErrNotFound {
			t.Errorf("%s %s: the token is still there (%v)", c.typ, c.tok, err)
		}
	}
	// A good token stays after a failure that is not the token's fault.
	pt := f.token(t, store.PushFCM, pushtest.ErrorPrefix+"-fcm", "")
	if err := f.svc.Send(ctx, pt, &push.Message{Type: push.TypeInvitation}); err == nil {
		t.Error("a 500 counted as sent")
	}
	if _, err := f.st.GetPushToken(ctx, pt.ID); err != nil {
		t.Errorf("a token was removed after a server error: %v", err)
	}
	if n := f.fcm.Tries(pt.Token); n != 4 {
		t.Errorf("500 was tried %d times, want 1 + push.retries (3)", n)
	}
	alarms, err := f.st.ListAlarms(ctx, nil, store.Page{})
	if err != nil || len(alarms) != 1 || alarms[0].Type != "push-unavailable" {
		t.Fatalf("alarms after FCM stayed unavailable: %+v %v", alarms, err)
	}
}

func TestRetriesOnUnavailable(t *testing.T) {
	f := newFixture(t, store.SQLite, func(c *config.Config) { c.Push.Retries = 2 })
	ctx := context.Background()
	for _, pt := range []*store.PushToken{f.token(t, store.PushAPNs, pushtest.BusyPrefix+"-apns", ""), f.token(t, store.PushFCM, pushtest.BusyPrefix+"-fcm", "")} {
		if err := f.svc.Send(ctx, pt, &push.Message{Type: push.TypeMeetingReminder, Alert: "soon"}); err != nil {
			t.Errorf("%s: %v", pt.TokenType, err)
		}
	}
	if a, g := f.apns.Tries(pushtest.BusyPrefix+"-apns"), f.fcm.Tries(pushtest.BusyPrefix+"-fcm"); a != 3 || g != 3 {
		t.Errorf("tries: APNs %d FCM %d, want 3 (two 503s, then accepted)", a, g)
	}
	f.apns.Wait(t, time.Second)
	f.fcm.Wait(t, time.Second)
}

func TestRefusedCredentialsRaiseOneAlarm(t *testing.T) {
	other := pushtest.NewAPNs(t) // signs with another key than the server checks
	f := newFixture(t, store.SQLite, nil)
	cfg := config.Default()
	cfg.Push.APNs = config.APNs{KeyID: f.apns.KeyID, TeamID: f.apns.TeamID, Topic: f.apns.Topic, AuthKey: other.KeyFile, URL: f.apns.URL}
	svc, err := push.New(context.Background(), &cfg, push.Options{Store: f.st, HTTPClient: f.apns.Client()})
	if err != nil {
		t.Fatal(err)
	}
	pt := f.token(t, store.PushAPNs, "a1b2c3", "")
	for range 3 {
		if err := svc.Send(context.Background(), pt, &push.Message{Type: push.TypeInvitation, Alert: "x"}); err == nil {
			t.Fatal("a push signed with the wrong key was accepted")
		}
	}
	alarms, _ := f.st.ListAlarms(context.Background(), nil, store.Page{})
	if len(alarms) != 1 || alarms[0].Type != "push-credentials" || alarms[0].DomainID != f.user.DomainID {
		t.Fatalf("alarms: %+v", alarms)
	}
	if _, err := f.st.GetPushToken(context.Background(), pt.ID); err != nil {
		t.Errorf("the token was removed for a credentials error: %v", err)
	}
}

func TestMeetingReminderPayload(t *testing.T) {
	f := newFixture(t, store.SQLite, nil)
	f.token(t, store.PushFCM, "fcm-1", "")
	if n, err := f.svc.PushMeetingReminder(context.Background(), f.user.ID, "m1", "Standup"); n != 1 || err != nil {
		t.Fatalf("reminder: %d %v", n, err)
	}
	p := f.fcm.Wait(t, 5*time.Second)
	if p.Type() != "meeting-reminder" || p.Info()["id"] != "m1" || p.Info()["name"] != "Standup" {
		t.Errorf("payload %v", p.Payload)
	}
}

func FuzzParseFCMError(f *testing.F) {
	f.Add([]byte(`{"error":{"code":404,"status":"NOT_FOUND","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}`))
	f.Add([]byte(`{"error":{"status":"INVALID_ARGUMENT"}}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := push.ParseFCMError(b)
		if len(r) > 64 {
			t.Fatalf("reason of %d bytes", len(r))
		}
		for _, c := range r {
			if (c < 'A' || c > 'Z') && c != '_' && (c < '0' || c > '9') {
				t.Fatalf("reason %q has %q", r, c)
			}
		}
	})
}

// A caller cannot flood a phone: past push.userRate (a burst of a third of
// it) a user's invitation pushes are refused; other users are not.
func TestInvitationPushRate(t *testing.T) {
	f := newFixture(t, store.SQLite, func(c *config.Config) { c.Push.UserRate = 6 })
	tok := f.token(t, store.PushFCM, "fcm-flooded", "")
	ctx := context.Background()
	sent := 0
	for range 5 {
		n, err := f.svc.PushInvitation(ctx, f.user.ID, []string{tok.ID}, map[string]any{"invite": "x"})
		if err != nil && err != push.ErrRateLimited {
			t.Fatal(err)
		}
		sent += n
	}
	if sent != 2 {
		t.Errorf("%d of 5 invitation pushes went out, want the burst of 2", sent)
	}
	// The follow-ups are not limited: they end what was pushed.
	if n, err := f.svc.PushInvitationEnded(ctx, f.user.ID, []string{tok.ID}, map[string]any{"invite": "x"}); n != 1 || err != nil {
		t.Errorf("follow-up: %d %v", n, err)
	}
}
