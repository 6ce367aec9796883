package node_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openwac/wac/client"
	"github.com/openwac/wac/internal/config"
)

// With sipmappings.dynamicMappingPrefix set, an anonymous visitor has a
// SIP identity made on request: the admin sees it (dynamic, no id), the
// visitor's call to a number leaves with From anonymous-<id>@<the dynamic
// domain>, and a call from the trunk to anonymous-<id> rings the visitor.
// A stored mapping cannot take a username with the prefix.
func TestSIPAnonymousDynamicMapping(t *testing.T) {
	r := newSIPRig(t, func(c *config.Config) {
		c.SipMappings.DynamicMappingPrefix = "anonymous-"
		c.SipMappings.DynamicMappingDomain = "anon.example"
	})
	ctx := wctx(t)
	if err := r.admin.API(ctx, "POST", "/sapi/domains", map[string]any{"domain": "visitors", "enableAnonymous": true}, nil); err != nil {
		t.Fatal(err)
	}
	visitor, err := client.LoginAnonymous(ctx, r.base, "visitors")
	if err != nil {
		t.Fatal(err)
	}
	var me struct{ ID string }
	if err := visitor.API(ctx, "GET", "/sapi/users/me", nil, &me); err != nil || me.ID == "" {
		t.Fatalf("users/me: %+v %v", me, err)
	}
	var list []struct {
		ID         string `json:"id"`
		OwnerURI   string `json:"ownerUri"`
		Dynamic    bool   `json:"dynamic"`
		Credential struct {
			Username string `json:"username"`
		} `json:"credential"`
	}
	if err := r.admin.API(ctx, "GET", "/sapi/sipMappings?ownerUri=wac-user:"+me.ID, nil, &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || !list[0].Dynamic || list[0].ID != "" || list[0].Credential.Username != "anonymous-"+me.ID {
		t.Fatalf("the visitor's mapping: %+v", list)
	}
	err = r.admin.API(ctx, "POST", "/sapi/sipMappings", map[string]any{"ownerUri": "wac-user:" + r.bobID,
		"credential": map[string]any{"username": "anonymous-" + me.ID}}, nil)
	var ae *client.APIError
	if !asAPIError(err, &ae) || ae.Status != 422 || !strings.Contains(ae.Message, "credential.username") {
		t.Fatalf("a stored mapping with the prefix: %v", err)
	}

	// The visitor calls a number.
	msgs := filepath.Join(t.TempDir(), "msgs.log")
	trunk := r.trunk("uas_answer.xml", map[string]string{"FORMATS": "0"}, "-trace_msg", "-message_file", msgs)
	v := r.connect(visitor)
	rm := room(t, v)
	callPhone(ctx, t, v, rm)
	waitPhoneEvent(ctx, t, v, "participantAdded")
	if _, err := v.Request(ctx, "leaveRoom", map[string]any{"room": rm}, nil); err != nil {
		t.Fatal(err)
	}
	r.await(trunk)
	r.settled()
	trace, err := os.ReadFile(msgs)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(trace), "From: <sip:anonymous-"+me.ID+"@anon.example>") {
		t.Fatalf("the INVITE's From is not the dynamic identity:\n%s", tail(string(trace), 3000))
	}

	// A call to the visitor's identity rings it.
	done := r.phone("uac_refused.xml", "anonymous-"+me.ID, map[string]string{"FORMATS": "0", "CODE": "603"})
	ring, err := v.WaitIncoming(ctx, "invitation")
	if err != nil {
		t.Fatal(err)
	}
	if ring.String("fromType") != "phone" {
		t.Fatalf("the visitor was rung with %s", ring.Raw)
	}
	if err := v.Decline(context.Background(), ring, 603); err != nil {
		t.Fatal(err)
	}
	r.await(done)
	r.settled()
	// Without a prefix match: unknown.
	r.await(r.phone("uac_refused.xml", "anonymous-nobody", map[string]string{"FORMATS": "0", "CODE": "404"}))
}
