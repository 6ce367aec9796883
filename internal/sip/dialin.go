package sip

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"

	"github.com/openwac/wac/internal/media/audiocodec"
	"github.com/openwac/wac/internal/media/tone"
	"github.com/openwac/wac/internal/qss"
	"github.com/openwac/wac/internal/qss/wire"
)

// Dial-in: a phone calls a room or a meeting instead of a mapped user.
//
//   - A room's sipUri, sip:888<number>@host (the room object's), joins
//     the phone to the room of that number; so does the seeds' parallel
//     SIP form <trunk.prefix.parallelSip>888<6 digits><number>, whose six
//     digits named a private audio room on the seeds' mixer (here every
//     phone of a room hears the room).
//   - meetings.pstnExtension answers, asks for the meeting's 8-digit PIN
//     (a tone), reads it as DTMF and joins the phone to the meeting's
//     room inside its window; three wrong PINs and the call ends.

// dialTarget is what an INVITE to a number that is no SIP mapping calls.
type dialTarget struct {
	room    string // a room's number
	meeting bool   // the meetings' dial-in number
}

var (
	roomNumberPattern = regexp.MustCompile(`^888([0-9]{8})$`)
	parallelPattern   = regexp.MustCompile(`^888[0-9]{6}([0-9]{8})$`)
)

// dialTargetOf says whether user (the Request-URI's) dials a room or the
// meetings.
func (s *Server) dialTargetOf(user string) (dialTarget, bool) {
	if m := roomNumberPattern.FindStringSubmatch(user); m != nil {
		return dialTarget{room: m[1]}, true
	}
	if p := s.cfg.Trunk.Prefix.ParallelSip; p != "" {
		if rest, ok := strings.CutPrefix(user, p); ok {
			if m := parallelPattern.FindStringSubmatch(rest); m != nil {
				return dialTarget{room: m[1]}, true
			}
		}
	}
	if ext := s.cfg.Meetings.PSTNExtension; ext != "" && sameNumber(user, ext) {
		return dialTarget{meeting: true}, true
	}
	return dialTarget{}, false
}

// sameNumber compares two phone numbers written with + or 00, spaces,
// dashes and dots.
func sameNumber(a, b string) bool {
	norm := func(n string) string {
		n = strings.Map(func(r rune) rune {
			if r == ' ' || r == '-' || r == '.' {
				return -1
			}
			return r
		}, n)
		if rest, ok := strings.CutPrefix(n, "+"); ok {
			n = "00" + rest
		}
		return n
	}
	return norm(a) != "" && norm(a) == norm(b)
}

// Dial-in limits.
const (
	// pinDigits is the length of a meeting's PIN.
	pinDigits = 8
	// pinTries is how many PINs a caller may key before the call ends.
	pinTries = 3
	// pinWait is how long the caller has for each digit.
	pinWait = 10 * time.Second
)

// dialIn answers an INVITE to a room or the meetings (target), with the
// phone's media ready (remote is its SDP), and joins the phone to the room.
func (s *Server) dialIn(req *sip.Request, tx sip.ServerTransaction, target dialTarget, remote *remoteMedia) {
	if target.meeting && remote.Events == 0 {
		// Without telephone-events there is no way to key the PIN.
		s.log.Debug("sip: meeting dial-in without telephone-event refused")
		respond(tx, req, 488, "Not Acceptable Here", sip.NewHeader("Warning", `399 wac "telephone-event is needed to key the PIN"`))
		return
	}
	c, ds := s.newInbound(req, tx, remote, true)
	if c == nil {
		return
	}
	from, display := c.caller, c.display
	phone := func(domainID string) (qss.User, error) {
		d, err := s.domainOf(domainID)
		if err != nil {
			return qss.User{}, fmt.Errorf("the room's domain: %w", err)
		}
		return qss.PhoneUser(from, display, d.Name, d.ID), nil
	}
	if target.room != "" {
		if !s.mayDialIn() {
			s.log.Warn("sip: failed dial-ins over trunk.dialInFailuresPerMinute: refused", "from", from)
			c.finish()
			_ = ds.Respond(503, "Service Unavailable", nil, sip.NewHeader("Retry-After", "60"))
			return
		}
		// The room is joined before the answer: a number of no room is
		// refused as the phone network expects (404), not hung up.
		ctx, cancel := context.WithTimeout(s.ctx, 15*time.Second)
		defer cancel()
		room, obj, u, err := s.sig.DialIn(ctx, target.room, phone, c.leg)
		if err != nil {
			code := refusalCode(err)
			if code == 500 {
				s.log.Warn("sip: dial-in to a room", "number", target.room, "err", err)
			} else {
				s.dialInFailed()
			}
			c.finish()
			_ = ds.Respond(code, reasonOf(code), nil)
			return
		}
		c.mu.Lock()
		c.room, c.phone, c.joined = room, u, true
		c.mu.Unlock()
		s.mu.Lock()
		s.byRoom[room] = append(s.byRoom[room], c)
		s.mu.Unlock()
		if !s.answerDialIn(c, ds, remote) {
			return
		}
		if err := c.startMedia(ctx, obj); err != nil {
			s.log.Warn("sip: the phone cannot reach the room's media", "call", c.callID, "err", err)
			c.hangup(500, "the phone could not join the room")
			return
		}
		s.Stats.Answered.Add(1)
		return
	}
	if !s.answerDialIn(c, ds, remote) {
		return
	}
	s.Stats.Answered.Add(1)
	s.goTask(func() { c.askPIN(phone) })
}

// mayDialIn says whether the node takes dial-ins now: failed ones have
// not spent trunk.dialInFailuresPerMinute. A success spends nothing.
func (s *Server) mayDialIn() bool {
	return s.dialInFailures == nil || s.dialInFailures.Tokens() >= 1
}

// dialInFailed spends one failed dial-in (a number of no room, a wrong
// PIN).
func (s *Server) dialInFailed() {
	if s.dialInFailures != nil {
		s.dialInFailures.Allow()
	}
}

// answerDialIn sends the 200 OK of a dial-in call; false = the call is
// over (the phone is gone).
func (s *Server) answerDialIn(c *call, ds *sipgo.DialogServerSession, remote *remoteMedia) bool {
	if err := ds.RespondSDP(buildSDP(s.cfg.SIPAddress(), c.media.port(), []Codec{remote.Codec}, remote.eventTypes())); err != nil {
		s.log.Debug("sip: send 200 OK", "call", c.callID, "err", err)
		c.ended2(487, "the phone hung up")
		return false
	}
	c.answered.Store(true)
	return true
}

// refusalCode is the SIP code of an error of signaling.
func refusalCode(err error) int {
	var rc *wire.Cancel
	if errors.As(err, &rc) {
		switch rc.Code {
		case 404, 403, 410, 486, 480:
			return rc.Code
		case 429:
			return 486
		}
		if rc.Code >= 400 && rc.Code < 500 {
			return 403
		}
	}
	return 500
}

// askPIN is the meeting dial-in's prompt: a tone asks for the PIN, the
// digits keyed (8, or fewer ended by #; * starts again) are looked up, and
// the phone joins the meeting's room; a wrong PIN gets the error tone and
// another try, up to pinTries.
func (c *call) askPIN(phone func(domainID string) (qss.User, error)) {
	s := c.s
	digits := make(chan rune, maxPendingDigits)
	c.media.setOnDigit(func(d rune) {
		select {
		case digits <- d:
		default:
		}
	})
	s.readMedia(c.media)
	s.goTask(c.media.sendEvents)
	for try := 1; try <= pinTries; try++ {
		c.play(promptTone)
		pin, ok := c.readPIN(digits)
		if !ok {
			c.hangup(408, "no PIN was keyed")
			return
		}
		if !s.mayDialIn() {
			// Failed dial-ins came faster than
			// trunk.dialInFailuresPerMinute: somebody may be guessing.
			// Nothing is looked up.
			s.log.Warn("sip: failed dial-ins over trunk.dialInFailuresPerMinute: hanging up", "call", c.callID,
				"from", c.caller)
			c.play(errorTone)
			c.hangup(503, "too many wrong PINs on this node")
			return
		}
		ctx, cancel := context.WithTimeout(s.ctx, 15*time.Second)
		room, obj, u, err := s.sig.DialInMeeting(ctx, pin, phone, c.leg)
		if err == nil {
			c.mu.Lock()
			ended := c.ended
			if !ended {
				c.room, c.phone, c.joined = room, u, true
			}
			c.mu.Unlock()
			if ended {
				_ = s.sig.LeavePhone(ctx, room, u, c.leg, 200, "the call ended")
				cancel()
				return
			}
			s.mu.Lock()
			s.byRoom[room] = append(s.byRoom[room], c)
			s.mu.Unlock()
			c.media.setOnDigit(nil)
			err = c.startMedia(ctx, obj)
			cancel()
			if err != nil {
				s.log.Warn("sip: the phone cannot reach the meeting's media", "call", c.callID, "err", err)
				c.hangup(500, "the phone could not join the meeting")
			}
			return
		}
		cancel()
		if refusalCode(err) == 500 {
			s.log.Warn("sip: dial-in to a meeting", "call", c.callID, "err", err)
		} else {
			s.dialInFailed()
		}
		c.play(errorTone)
	}
	c.hangup(403, "no meeting has the PIN keyed")
}

// readPIN reads the digits of one PIN; false = the phone keyed nothing in
// time, or the call ended.
func (c *call) readPIN(digits <-chan rune) (string, bool) {
	var pin []rune
	timer := time.NewTimer(pinWait)
	defer timer.Stop()
	for {
		select {
		case <-c.media.done:
			return "", false
		case <-timer.C:
			if len(pin) > 0 {
				return string(pin), true // what was keyed is tried
			}
			return "", false
		case d := <-digits:
			timer.Reset(pinWait)
			switch {
			case d == '#':
				if len(pin) > 0 {
					return string(pin), true
				}
			case d == '*':
				pin = pin[:0]
			case d >= '0' && d <= '9':
				pin = append(pin, d)
				if len(pin) == pinDigits {
					return string(pin), true
				}
			}
		}
	}
}

// A tone of the dial-in's prompts: beeps of a frequency and length with
// pauses between them.
type promptSpec struct {
	freq          float64
	beeps         int
	beep, silence time.Duration
}

var (
	// promptTone asks for the PIN: one long beep.
	promptTone = promptSpec{freq: 440, beeps: 1, beep: 600 * time.Millisecond, silence: 200 * time.Millisecond}
	// errorTone says the PIN is wrong: three short low beeps.
	errorTone = promptSpec{freq: 300, beeps: 3, beep: 150 * time.Millisecond, silence: 100 * time.Millisecond}
)

// play sends a prompt to the phone in its codec, paced in real time; it
// returns early when the call's media ends.
func (c *call) play(p promptSpec) {
	codec := *c.media.codec.Load()
	ac, err := audiocodec.Lookup(codec.Name)
	if err != nil {
		return
	}
	enc, err := ac.NewEncoder(audiocodec.EncoderOptions{})
	if err != nil {
		return
	}
	// The tone is made at the codecs' 48 kHz and encoded in the phone's
	// codec (resampled to 8 kHz for G.711); the timestamps step at that
	// codec's clock.
	gen := tone.NewGenerator(p.freq, audiocodec.Rate, 8000)
	var (
		pcm     [audiocodec.FrameSamples]int16 // 20 ms at the codecs' rate
		payload [audiocodec.MaxPayload]byte
		pkt     = rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: codec.PayloadType, SSRC: 1}}
	)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	frames := func(d time.Duration) int { return int(d / (20 * time.Millisecond)) }
	for b := range p.beeps {
		for i := range frames(p.beep) + frames(p.silence) {
			if i < frames(p.beep) {
				gen.Fill(pcm[:])
			} else {
				clear(pcm[:])
			}
			n, err := enc.Encode(pcm[:], payload[:])
			if err != nil {
				return
			}
			pkt.SequenceNumber++
			pkt.Timestamp += codec.frameClock()
			pkt.Marker = b == 0 && i == 0
			pkt.Payload = payload[:n]
			raw, err := pkt.Marshal()
			if err != nil {
				return
			}
			_ = c.media.write(raw)
			select {
			case <-c.media.done:
				return
			case <-tick.C:
			}
		}
	}
}
