package sip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/openwac/wac/internal/media/dtmf"
)

// DTMF by SIP INFO: what PBXs that do not carry RFC 4733 events send and
// take. The body is application/dtmf-relay ("Signal=5\r\nDuration=160"),
// the de facto format, or application/dtmf (the digit alone).

// maxInfoBody bounds the body of an INFO read.
const maxInfoBody = 1024

// errInfoType says an INFO body is not a DTMF one.
var errInfoType = errors.New("not application/dtmf-relay or application/dtmf")

// parseDTMFInfo reads the digit of an INFO body of contentType.
func parseDTMFInfo(contentType string, body []byte) (rune, error) {
	mediaType, _, _ := strings.Cut(contentType, ";")
	mediaType = strings.ToLower(strings.TrimSpace(mediaType))
	if len(body) > maxInfoBody {
		return 0, fmt.Errorf("INFO body of %d bytes (at most %d)", len(body), maxInfoBody)
	}
	var signal string
	switch mediaType {
	case "application/dtmf":
		signal = string(bytes.TrimSpace(body))
	case "application/dtmf-relay":
		for line := range strings.Lines(string(body)) {
			k, v, ok := strings.Cut(line, "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "signal") {
				signal = strings.TrimSpace(v)
				break
			}
		}
	default:
		return 0, errInfoType
	}
	if len(signal) != 1 {
		return 0, fmt.Errorf("signal %q is not one DTMF key", capText(signal, 16))
	}
	d := rune(strings.ToUpper(signal)[0])
	if _, err := dtmf.Code(d); err != nil {
		return 0, err
	}
	return d, nil
}

// onInfo takes an INFO of a call: a digit goes where the call's RFC 4733
// digits go (its room, or the dial-in's PIN). Other INFO bodies are
// refused with 415, bad digits with 400, INFOs outside a call with 481.
func (s *Server) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	cid := req.CallID()
	var c *call
	if cid != nil {
		c = s.get(cid.Value())
	}
	if c == nil || !c.answered.Load() {
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = h.Value()
	}
	d, err := parseDTMFInfo(ct, req.Body())
	if errors.Is(err, errInfoType) {
		respond(tx, req, 415, "Unsupported Media Type", sip.NewHeader("Accept", "application/dtmf-relay, application/dtmf"))
		return
	}
	if err != nil {
		s.log.Debug("sip: INFO refused", "call", c.callID, "err", err)
		respond(tx, req, 400, "Bad Request")
		return
	}
	respond(tx, req, 200, "OK")
	c.media.digit(d)
}

// useInfo says whether the apps' digits go to the call by INFO.
func (c *call) useInfo() bool {
	switch strings.ToLower(c.s.cfg.Trunk.DTMFMode) {
	case "info":
		return true
	case "rfc4733":
		return false
	}
	return c.media.events.Load() == 0
}

// maxInfoQueue bounds the digits waiting to go out by INFO on a call.
const maxInfoQueue = 32

// queueInfo sends digits to the phone as INFO requests, one after the
// other (each answered before the next), in the call's own goroutine.
func (c *call) queueInfo(digits string, duration time.Duration) error {
	for _, d := range digits {
		if _, err := dtmf.Code(d); err != nil {
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.infoQueue)+len(digits) > maxInfoQueue {
		return ErrDTMFBusy
	}
	start := len(c.infoQueue) == 0
	for _, d := range digits {
		c.infoQueue = append(c.infoQueue, dtmfJob{d, duration})
	}
	if start {
		c.s.goTask(c.sendInfos)
	}
	return nil
}

// sendInfos sends the queued digits until the queue is empty or the call
// ends.
func (c *call) sendInfos() {
	for {
		c.mu.Lock()
		if len(c.infoQueue) == 0 || c.ended {
			c.infoQueue = nil
			c.mu.Unlock()
			return
		}
		job := c.infoQueue[0]
		c.mu.Unlock()
		ms := job.duration.Milliseconds()
		body := "Signal=" + string(job.digit) + "\r\nDuration=" + strconv.FormatInt(ms, 10) + "\r\n"
		ctx, cancel := context.WithTimeout(c.s.ctx, 5*time.Second)
		res, err := c.dialogRequest(ctx, sip.INFO, []byte(body), sip.NewHeader("Content-Type", "application/dtmf-relay"))
		cancel()
		if err == nil && !res.IsSuccess() {
			err = fmt.Errorf("%d %s", res.StatusCode, res.Reason)
		}
		if err != nil {
			c.s.log.Info("sip: DTMF by INFO refused", "call", c.callID, "err", err)
		} else {
			c.s.Stats.InfosSent.Add(1)
		}
		c.mu.Lock()
		if len(c.infoQueue) > 0 {
			c.infoQueue = c.infoQueue[1:]
		}
		c.mu.Unlock()
	}
}
