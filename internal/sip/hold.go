package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/pion/sdp/v3"
)

// The directions of an SDP stream (RFC 3264 §5.1).
const (
	dirSendRecv = "sendrecv"
	dirSendOnly = "sendonly"
	dirRecvOnly = "recvonly"
	dirInactive = "inactive"
)

// sdpDirection is the direction of the audio stream of an SDP from the
// trunk, seen from its sender: the stream's attribute, else the session's,
// else sendrecv. A connection address 0.0.0.0 (the RFC 2543 hold) means
// the sender receives nothing: sendrecv becomes sendonly, recvonly
// inactive. What cannot be read is sendrecv (parseSDP refuses it first).
func sdpDirection(body []byte) string {
	if len(body) == 0 || len(body) > maxSDP {
		return dirSendRecv
	}
	var sd sdp.SessionDescription
	if sd.UnmarshalString(string(body)) != nil {
		return dirSendRecv
	}
	dir := attrDirection(sd.Attributes)
	conn := sd.ConnectionInformation
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "audio" || md.MediaName.Port.Value == 0 {
			continue
		}
		if d := attrDirection(md.Attributes); d != "" {
			dir = d
		}
		if md.ConnectionInformation != nil {
			conn = md.ConnectionInformation
		}
		break
	}
	if dir == "" {
		dir = dirSendRecv
	}
	if conn != nil && conn.Address != nil {
		host, _, _ := strings.Cut(conn.Address.Address, "/")
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			switch dir {
			case dirSendRecv:
				dir = dirSendOnly
			case dirRecvOnly:
				dir = dirInactive
			}
		}
	}
	return dir
}

// attrDirection is the direction among attrs, "" when none is.
func attrDirection(attrs []sdp.Attribute) string {
	for _, a := range attrs {
		switch a.Key {
		case dirSendRecv, dirSendOnly, dirRecvOnly, dirInactive:
			return a.Key
		}
	}
	return ""
}

// receives and sends say what the sender of an SDP with direction dir
// does.
func receives(dir string) bool { return dir == dirSendRecv || dir == dirRecvOnly }
func sends(dir string) bool    { return dir == dirSendRecv || dir == dirSendOnly }

// directionOf is the direction of a stream that sends and receives as
// told.
func directionOf(send, recv bool) string {
	switch {
	case send && recv:
		return dirSendRecv
	case send:
		return dirSendOnly
	case recv:
		return dirRecvOnly
	}
	return dirInactive
}

// withDirection is an SDP of ours (buildSDP) with its direction set.
func withDirection(body []byte, dir string) []byte {
	return []byte(strings.Replace(string(body), "a="+dirSendRecv+"\r\n", "a="+dir+"\r\n", 1))
}

// ourSDP is the call's SDP as it stands (address, port, the agreed codec
// and events) with direction dir, as a new version of the session we
// described first (RFC 3264 §8: same o= session id, a higher version).
func (c *call) ourSDP(dir string) []byte {
	body := withDirection(buildSDP(c.s.cfg.SIPAddress(), c.media.port(), []Codec{*c.media.codec.Load()}, c.media.eventTypes()), dir)
	var first []byte
	switch {
	case c.in != nil && c.in.InviteResponse != nil:
		first = c.in.InviteResponse.Body()
	case c.out != nil && c.out.InviteRequest != nil:
		first = c.out.InviteRequest.Body()
	}
	return nextVersion(body, first, c.sdpVersion.Add(1))
}

// nextVersion gives body (an SDP of ours) the session id of first (the
// first SDP of ours in the call) and its version plus n; body stays as it
// is when first has no origin of ours.
func nextVersion(body, first []byte, n uint64) []byte {
	origin := func(b []byte) (string, []string) {
		for _, line := range strings.Split(string(b), "\r\n") {
			if strings.HasPrefix(line, "o=") {
				return line, strings.Fields(line[2:])
			}
		}
		return "", nil
	}
	line, now := origin(body)
	_, was := origin(first)
	if len(now) != 6 || len(was) != 6 || was[0] != now[0] {
		return body
	}
	v, err := strconv.ParseUint(was[2], 10, 63)
	if err != nil {
		return body
	}
	now[1], now[2] = was[1], strconv.FormatUint(v+n, 10)
	return []byte(strings.Replace(string(body), line, "o="+strings.Join(now, " "), 1))
}

// onReinvite answers a re-INVITE of an established call: a hold from the
// phone (a=sendonly or a=inactive, or c=0.0.0.0) gets 200 with the mirror
// direction (recvonly, inactive), no RTP goes to the phone while it holds
// and its silence is no media timeout, and the room hears of it as of an
// app's hold (participantHold); a re-INVITE back to sendrecv resumes
// (participantUnhold). The codec stays the one agreed: an offer without
// it is refused (488). A re-INVITE without SDP (a session refresh) gets
// the call's SDP as it stands.
func (s *Server) onReinvite(c *call, req *sip.Request, tx sip.ServerTransaction) {
	c.reinviteMu.Lock()
	defer c.reinviteMu.Unlock()
	if !c.answered.Load() || (c.in == nil && c.out == nil) {
		respond(tx, req, 491, "Request Pending")
		return
	}
	if err := c.readRequest(req, tx); err != nil {
		respond(tx, req, 500, "Server Internal Error", sip.NewHeader("Retry-After", "1"))
		return
	}
	body := req.Body()
	if len(body) == 0 {
		dir := directionOf(!c.media.heldByUs.Load() && !c.media.heldByPhone.Load(), true)
		_ = tx.Respond(s.reinviteOK(req, c.ourSDP(dir)))
		return
	}
	cur := *c.media.codec.Load()
	remote, err := parseSDP(body, []Codec{codecsByName[strings.ToLower(cur.Name)]})
	if err != nil {
		s.log.Debug("sip: re-INVITE refused", "call", c.callID, "err", err)
		respond(tx, req, 488, "Not Acceptable Here")
		return
	}
	dir := sdpDirection(body)
	held := !receives(dir)
	if !remote.Addr.IP.IsUnspecified() {
		c.media.setAddr(remote.Addr)
	}
	ours := directionOf(receives(dir) && !c.media.heldByUs.Load(), sends(dir))
	was := c.media.setHeldByPhone(held)
	if err := tx.Respond(s.reinviteOK(req, c.ourSDP(ours))); err != nil {
		s.log.Debug("sip: answer a re-INVITE", "call", c.callID, "err", err)
	}
	if was == held {
		return
	}
	// The room hears of it before the next re-INVITE is read (reinviteMu
	// is held): a hold and its resume reach the apps in their order.
	s.log.Info("sip: the phone changed its hold", "call", c.callID, "hold", held)
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	if err := s.sig.PhoneHold(ctx, c.room, c.phone, held); err != nil {
		s.log.Debug("sip: tell the room of the phone's hold", "call", c.callID, "err", err)
	}
}

// reinviteOK is the 200 of a re-INVITE with our SDP and Contact.
func (s *Server) reinviteOK(req *sip.Request, body []byte) *sip.Response {
	res := sip.NewSDPResponseFromRequest(req, body)
	if res.Contact() == nil {
		res.AppendHeader(sip.HeaderClone(&s.dialogs.ContactHDR))
	}
	return res
}

// HoldPhones puts the answered phone calls of room on hold (a re-INVITE
// with a=sendonly; no RTP goes to them meanwhile) or takes them off it
// (a=sendrecv) when the room's apps hold or resume (qss.Holder).
func (s *Server) HoldPhones(room string, hold bool) {
	s.mu.Lock()
	list := append([]*call(nil), s.byRoom[room]...)
	s.mu.Unlock()
	for _, c := range list {
		if !c.answered.Load() {
			continue
		}
		c.wantHold.Store(hold)
		s.goTask(c.applyHold)
	}
}

// applyHold brings the call's hold to what the room wants (wantHold), one
// re-INVITE at a time: a hold and an unhold in quick succession end as
// the last one says, whatever order their goroutines run in.
func (c *call) applyHold() {
	c.holdMu.Lock()
	defer c.holdMu.Unlock()
	for {
		want := c.wantHold.Load()
		if c.media.heldByUs.Load() == want {
			return
		}
		if err := c.holdPhone(want); err != nil {
			c.s.log.Info("sip: hold the phone", "call", c.callID, "hold", want, "err", err)
			return
		}
	}
}

// HeldCalls counts the calls this side holds (the room's apps held them).
func (s *Server) HeldCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c.media.heldByUs.Load() {
			n++
		}
	}
	return n
}

// holdPhone sends the phone a re-INVITE that holds (sendonly) or resumes
// (sendrecv) the call; RTP to it stops at once on hold, and starts again
// once it took the resume. holdMu is held.
func (c *call) holdPhone(hold bool) error {
	if hold {
		c.media.setHeldByUs(true)
	}
	dir := dirSendRecv
	if hold {
		dir = dirSendOnly
	}
	ctx, cancel := context.WithTimeout(c.s.ctx, 10*time.Second)
	defer cancel()
	res, err := c.dialogRequest(ctx, sip.INVITE, c.ourSDP(dir), sip.NewHeader("Content-Type", "application/sdp"))
	if err == nil && res.StatusCode >= 300 {
		err = fmt.Errorf("the phone answered %d %s", res.StatusCode, res.Reason)
	}
	if err != nil {
		if hold {
			c.media.setHeldByUs(false)
		}
		return err
	}
	if aerr := c.ackReinvite(); aerr != nil {
		c.s.log.Debug("sip: ACK a re-INVITE", "call", c.callID, "err", aerr)
	}
	if remote, perr := parseSDP(res.Body(), []Codec{codecsByName[strings.ToLower(c.media.codec.Load().Name)]}); perr == nil && !remote.Addr.IP.IsUnspecified() {
		c.media.setAddr(remote.Addr)
	}
	if !hold {
		c.media.setHeldByUs(false)
	}
	return nil
}

// errNoDialog is an in-dialog request on a call that has no dialog (yet).
var errNoDialog = errors.New("the call has no established dialog")

// remoteTarget is where in-dialog requests of the call go: the phone's
// Contact.
func (c *call) remoteTarget() (sip.Uri, error) {
	var h *sip.ContactHeader
	switch {
	case c.in != nil && c.in.InviteRequest != nil:
		h = c.in.InviteRequest.Contact()
	case c.out != nil && c.out.InviteResponse != nil:
		h = c.out.InviteResponse.Contact()
	}
	if h == nil {
		return sip.Uri{}, errNoDialog
	}
	return h.Address, nil
}

// dialogRequest sends an in-dialog request of the call (re-INVITE, REFER,
// NOTIFY) and waits for its final response.
func (c *call) dialogRequest(ctx context.Context, method sip.RequestMethod, body []byte, headers ...sip.Header) (*sip.Response, error) {
	target, err := c.remoteTarget()
	if err != nil {
		return nil, err
	}
	req := sip.NewRequest(method, target)
	for _, h := range headers {
		req.AppendHeader(h)
	}
	if body != nil {
		req.SetBody(body)
	}
	var res *sip.Response
	if c.in != nil {
		res, err = c.in.Do(ctx, req)
	} else {
		res, err = c.out.Do(ctx, req)
	}
	if err != nil {
		return nil, fmt.Errorf("send %s: %w", method, err)
	}
	return res, nil
}

// readRequest takes an in-dialog request of the call into its dialog (the
// CSeq it must follow).
func (c *call) readRequest(req *sip.Request, tx sip.ServerTransaction) error {
	if c.in != nil {
		return c.in.ReadRequest(req, tx)
	}
	return c.out.ReadRequest(req, tx)
}

// ackReinvite acknowledges the 2xx of our re-INVITE (a request of its
// own, in the dialog, with the re-INVITE's CSeq).
func (c *call) ackReinvite() error {
	target, err := c.remoteTarget()
	if err != nil {
		return err
	}
	ack := sip.NewRequest(sip.ACK, target)
	if c.in != nil {
		return c.in.WriteRequest(ack)
	}
	return c.out.WriteRequest(ack)
}
