package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/openwac/wac/internal/qss"
	"github.com/openwac/wac/internal/qss/wire"
	"github.com/openwac/wac/internal/store"
)

// Blind transfer (RFC 3515 REFER, RFC 5589 call flows), both ways:
//
//   - From the phone: a REFER in a call whose Refer-To names the username
//     of a SIP mapping of the phone's domain rings that mapping's owner
//     (its user's devices, or its hunt group) into the call's room, on the
//     phone's behalf. The phone gets 202, a NOTIFY "100 Trying", and once
//     a device answered a NOTIFY "200 OK" and our BYE: the app side of the
//     call stays in the room with the new user. A refusal or no answer is
//     a NOTIFY with that code, and the call goes on.
//   - From an app: the transfer request naming a phone participant and a
//     number (trunk.match) sends the phone a REFER to sip:number@trunk
//     domain; its NOTIFYs' final status is the transfer's outcome, and a
//     2xx ends our call with the phone (BYE).

// maxReferTo bounds a Refer-To header and a sipfrag's status line.
const maxReferTo = 512

// referTarget is what a Refer-To names.
type referTarget struct {
	Scheme string // sip, sips or tel
	User   string // the number or username (unescaped)
	Host   string // empty for tel:
	// Replaces says the REFER is an attended transfer (a Replaces
	// header in the URI).
	Replaces bool
}

// validReferUser is what a Refer-To's user part may hold: what a SIP
// mapping's username or a dialled number is made of.
func validReferUser(u string) bool {
	if u == "" || len(u) > 64 {
		return false
	}
	for _, r := range u {
		switch {
		case r >= '0' && r <= '9', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case strings.ContainsRune("+*#._-~!", r):
		default:
			return false
		}
	}
	return true
}

// parseReferTo reads a Refer-To header's value: a name-addr
// ("Name" <sip:206@host;transport=udp?Replaces=...>) or an addr-spec
// (sip:206@host), of scheme sip, sips or tel, with a user part.
func parseReferTo(v string) (referTarget, error) {
	var t referTarget
	v = strings.TrimSpace(v)
	if v == "" || len(v) > maxReferTo {
		return t, errors.New("empty or too long Refer-To")
	}
	uri := v
	if i := strings.IndexByte(v, '<'); i >= 0 {
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			return t, errors.New("Refer-To has < without >")
		}
		uri = v[i+1 : i+j]
	} else {
		// Without <>, what follows ; are the header's parameters.
		uri, _, _ = strings.Cut(uri, ";")
	}
	uri, headers, _ := strings.Cut(uri, "?")
	t.Replaces = strings.Contains(strings.ToLower(headers), "replaces=")
	scheme, rest, ok := strings.Cut(uri, ":")
	if !ok {
		return t, errors.New("Refer-To has no URI scheme")
	}
	t.Scheme = strings.ToLower(strings.TrimSpace(scheme))
	switch t.Scheme {
	case "tel":
		t.User, _, _ = strings.Cut(rest, ";")
	case "sip", "sips":
		user, host, ok := strings.Cut(rest, "@")
		if !ok {
			return t, errors.New("Refer-To's SIP URI has no user part")
		}
		user, _, _ = strings.Cut(user, ":") // a password, never used
		user, _, _ = strings.Cut(user, ";") // user parameters
		host, _, _ = strings.Cut(host, ";")
		if host == "" || strings.ContainsAny(host, " \t\"<>") {
			return t, errors.New("Refer-To's SIP URI has a bad host")
		}
		t.User, t.Host = user, host
	default:
		return t, fmt.Errorf("Refer-To's scheme %q is not sip or tel", wire.Truncate(t.Scheme, 16))
	}
	u, err := url.PathUnescape(t.User)
	if err != nil {
		return t, errors.New("Refer-To's user part has a bad escape")
	}
	if !validReferUser(u) {
		return t, errors.New("Refer-To's user part is not a number or username")
	}
	t.User = u
	return t, nil
}

// parseSipfrag reads the status line of a message/sipfrag body (a NOTIFY
// of a REFER): "SIP/2.0 200 OK".
func parseSipfrag(body []byte) (int, string, error) {
	line := string(body)
	if len(line) > maxReferTo {
		line = line[:maxReferTo]
	}
	line, _, _ = strings.Cut(line, "\n")
	line = strings.TrimRight(line, "\r")
	proto, rest, ok := strings.Cut(line, " ")
	if !ok || !strings.EqualFold(proto, "SIP/2.0") {
		return 0, "", errors.New("sipfrag is not a SIP/2.0 status line")
	}
	num, reason, _ := strings.Cut(rest, " ")
	code, err := strconv.Atoi(num)
	if err != nil || len(num) != 3 || code < 100 || code > 699 {
		return 0, "", errors.New("sipfrag has no status code")
	}
	return code, capText(strings.TrimSpace(reason), 80), nil
}

// referWait is a REFER we sent, waiting for the NOTIFY with its final
// status.
type referWait struct {
	final chan sipfragStatus
}

type sipfragStatus struct {
	code   int
	reason string
}

// inDialog checks an in-dialog request from the trunk and finds its call;
// nil when it was answered already (refused).
func (s *Server) inDialog(req *sip.Request, tx sip.ServerTransaction) *call {
	host, _, _ := net.SplitHostPort(req.Source())
	if !s.accepts(host) {
		respond(tx, req, 403, "Forbidden")
		return nil
	}
	cid := req.CallID()
	var c *call
	if cid != nil {
		c = s.get(cid.Value())
	}
	if c == nil || !c.answered.Load() || (c.in == nil && c.out == nil) {
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return nil
	}
	c.mu.Lock()
	ended := c.ended
	c.mu.Unlock()
	if ended {
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return nil
	}
	if err := c.readRequest(req, tx); err != nil {
		respond(tx, req, 500, "Server Internal Error", sip.NewHeader("Retry-After", "1"))
		return nil
	}
	return c
}

// onRefer takes a blind transfer from the phone.
func (s *Server) onRefer(req *sip.Request, tx sip.ServerTransaction) {
	c := s.inDialog(req, tx)
	if c == nil {
		return
	}
	hs := req.GetHeaders("Refer-To")
	if len(hs) != 1 {
		respond(tx, req, 400, "Bad Request: one Refer-To")
		return
	}
	target, err := parseReferTo(hs[0].Value())
	if err != nil {
		s.log.Debug("sip: REFER refused", "call", c.callID, "err", err)
		respond(tx, req, 400, "Bad Request: Refer-To")
		return
	}
	c.mu.Lock()
	joined := c.joined
	c.mu.Unlock()
	if !joined {
		// A dial-in still at its PIN prompt is in no room to transfer.
		respond(tx, req, 403, "Forbidden: not in a room")
		return
	}
	if target.Replaces {
		respond(tx, req, 603, "Decline: no attended transfer")
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	m, err := s.store.SipMappingByUsername(ctx, target.User)
	cancel()
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && m.DomainID != c.phone.DomainID):
		// Numbers of the phone network are the PBX's to transfer to.
		respond(tx, req, 404, "Not Found")
		return
	case err != nil:
		s.log.Warn("sip: find the SIP mapping of a REFER", "err", err)
		respond(tx, req, 500, "Server Internal Error")
		return
	}
	if !c.refer.CompareAndSwap(nil, &referWait{}) {
		respond(tx, req, 491, "Request Pending")
		return
	}
	respond(tx, req, 202, "Accepted")
	s.goTask(func() {
		defer c.refer.Store(nil)
		c.transferFromPhone(m, target.User)
	})
}

// transferFromPhone rings the owner of mapping m into the call's room
// for the phone's REFER, and tells the phone how it went (NOTIFY); the
// call ends when a device answered.
func (c *call) transferFromPhone(m *store.SipMapping, to string) {
	s := c.s
	c.notifyRefer(100, "Trying", false)
	outcome := make(chan int, 1)
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	cancelRing, err := s.sig.RingPhoneCall(ctx, qss.PhoneCall{From: c.phone.Username, Display: c.phone.Alias, Mapping: m, Room: c.room,
		Report: func(code int, _ string) { outcome <- code }})
	cancel()
	if err != nil {
		code := 500
		var rc *wire.Cancel
		if errors.As(err, &rc) {
			code = rc.Code
		} else {
			s.log.Warn("sip: ring the target of a REFER", "call", c.callID, "err", err)
		}
		c.notifyRefer(code, reasonOf(code), true)
		return
	}
	select {
	case code := <-outcome:
		if code != 200 {
			c.notifyRefer(code, reasonOf(code), true)
			return
		}
		s.log.Info("sip: the phone transferred the call", "call", c.callID, "to", wire.Truncate(to, 64))
		c.notifyRefer(200, "OK", true)
		c.transferred.Store(true)
		c.hangup(200, "the phone transferred the call")
	case <-c.media.done:
		cancelRing()
	case <-s.ctx.Done():
		cancelRing()
	}
}

// notifyRefer sends the phone a NOTIFY of its REFER with the status line
// code reason (message/sipfrag); final ends the implicit subscription.
func (c *call) notifyRefer(code int, reason string, final bool) {
	state := "active;expires=60"
	if final {
		state = "terminated;reason=noresource"
	}
	ctx, cancel := context.WithTimeout(c.s.ctx, 5*time.Second)
	defer cancel()
	body := []byte(fmt.Sprintf("SIP/2.0 %d %s\r\n", code, reason))
	res, err := c.dialogRequest(ctx, sip.NOTIFY, body, sip.NewHeader("Event", "refer"), sip.NewHeader("Subscription-State", state),
		sip.NewHeader("Content-Type", "message/sipfrag;version=2.0"))
	if err != nil {
		c.s.log.Debug("sip: NOTIFY of a REFER", "call", c.callID, "err", err)
		return
	}
	if res.StatusCode >= 300 {
		c.s.log.Debug("sip: NOTIFY of a REFER refused", "call", c.callID, "code", res.StatusCode)
	}
}

// onNotify takes the phone's NOTIFYs of the REFER we sent.
func (s *Server) onNotify(req *sip.Request, tx sip.ServerTransaction) {
	c := s.inDialog(req, tx)
	if c == nil {
		return
	}
	ev := req.GetHeader("Event")
	if ev == nil || !strings.EqualFold(strings.TrimSpace(strings.Split(ev.Value(), ";")[0]), "refer") {
		respond(tx, req, 489, "Bad Event")
		return
	}
	w := c.refer.Load()
	if w == nil || w.final == nil {
		respond(tx, req, 481, "Subscription Does Not Exist")
		return
	}
	code, reason, err := parseSipfrag(req.Body())
	if err != nil {
		respond(tx, req, 400, "Bad Request: sipfrag")
		return
	}
	respond(tx, req, 200, "OK")
	if code >= 200 {
		select {
		case w.final <- sipfragStatus{code, reason}:
		default:
		}
	}
}

// referTimeout bounds how long the phone's new call may take after our
// REFER before the transfer counts as failed (408).
const referTimeout = 60 * time.Second

// Refer sends the phone participant phone of room a REFER to the number
// to, for the app user by, who must have a SIP mapping (qss.Trunk): the
// app's blind transfer of a phone to a number.
func (s *Server) Refer(ctx context.Context, room string, by, phone qss.User, to string, report func(code int, reason string)) error {
	number, err := numberOf(to)
	if err != nil {
		return wire.Refuse(404, "%q is not a phone number", wire.Truncate(to, 64))
	}
	m, err := s.store.SipMappingByOwner(ctx, store.SipOwnerUser, by.ID)
	if errors.Is(err, store.ErrNotFound) {
		return wire.Refuse(403, "you have no SIP identity (sip mapping) to transfer a phone with")
	}
	if err != nil {
		return fmt.Errorf("find the transferor's SIP mapping: %w", err)
	}
	s.mu.Lock()
	var c *call
	for _, x := range s.byRoom[room] {
		if x.phone.ID == phone.ID && x.answered.Load() {
			c = x
		}
	}
	s.mu.Unlock()
	if c == nil {
		return wire.Refuse(404, "the phone is on no call of this node")
	}
	w := &referWait{final: make(chan sipfragStatus, 1)}
	if !c.refer.CompareAndSwap(nil, w) {
		return wire.Refuse(409, "a transfer of this phone is in progress")
	}
	domain := s.cfg.TrunkHost()
	referTo := sip.Uri{Scheme: "sip", User: number, Host: domain}
	by2 := sip.Uri{Scheme: "sip", User: m.Username, Host: domain}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	res, err := c.dialogRequest(rctx, sip.REFER, nil, sip.NewHeader("Refer-To", "<"+referTo.String()+">"),
		sip.NewHeader("Referred-By", "<"+by2.String()+">"))
	cancel()
	if err != nil {
		c.refer.Store(nil)
		s.log.Info("sip: REFER", "call", c.callID, "err", err)
		return wire.Refuse(503, "the phone did not take the transfer")
	}
	if res.StatusCode >= 300 {
		c.refer.Store(nil)
		code := res.StatusCode
		if code >= 500 && code < 600 {
			code = 503
		}
		return wire.Refuse(code, "the phone refused the transfer: %d %s", res.StatusCode, wire.Truncate(res.Reason, 80))
	}
	s.log.Info("sip: the phone took the transfer", "call", c.callID, "to", number)
	s.goTask(func() {
		defer c.refer.Store(nil)
		timer := time.NewTimer(referTimeout)
		defer timer.Stop()
		select {
		case st := <-w.final:
			if st.code >= 300 {
				report(st.code, st.reason)
				return
			}
			report(200, "OK")
			c.hangup(200, "transferred to "+number)
		case <-timer.C:
			report(408, "the phone's transfer took too long")
		case <-c.media.done:
			report(487, "the call ended before the transfer")
		case <-s.ctx.Done():
			report(503, "the server is shutting down")
		}
	})
	return nil
}
