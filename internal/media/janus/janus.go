// Package janus is the wire format of the Janus WebRTC Server API that the
// media server speaks: the core requests and answers (create, attach,
// message, trickle, keepalive, detach, destroy; ack, success, error, event,
// webrtcup, media, hangup, slowlink ...), their error codes, the VideoRoom
// plugin's error codes, a strict decoder for incoming requests, and a Go
// client over the WebSocket transport used by tests and the load tool.
//
// Message shapes and error codes are those of Janus 1.x (multistream).
package janus

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/pion/sdp/v3"
)

// Core error codes (Janus apierror.h).
const (
	ErrUnauthorized            = 403
	ErrUnauthorizedPlugin      = 405
	ErrTransportSpecific       = 450
	ErrMissingRequest          = 452
	ErrUnknownRequest          = 453
	ErrInvalidJSON             = 454
	ErrInvalidJSONObject       = 455
	ErrMissingMandatoryElement = 456
	ErrInvalidRequestPath      = 457
	ErrSessionNotFound         = 458
	ErrHandleNotFound          = 459
	ErrPluginNotFound          = 460
	ErrPluginAttach            = 461
	ErrPluginMessage           = 462
	ErrPluginDetach            = 463
	ErrJSEPUnknownType         = 464
	ErrJSEPInvalidSDP          = 465
	ErrTrickleInvalidStream    = 466
	ErrInvalidElementType      = 467
	ErrSessionConflict         = 468
	ErrUnexpectedAnswer        = 469
	ErrTokenNotFound           = 470
	ErrWebRTCState             = 471
	ErrNotAcceptingSessions    = 472
	ErrUnknown                 = 490
)

// VideoRoom plugin error codes (janus_videoroom.c).
const (
	VRErrNoMessage        = 421
	VRErrInvalidJSON      = 422
	VRErrInvalidRequest   = 423
	VRErrJoinFirst        = 424
	VRErrAlreadyJoined    = 425
	VRErrNoSuchRoom       = 426
	VRErrRoomExists       = 427
	VRErrNoSuchFeed       = 428
	VRErrMissingElement   = 429
	VRErrInvalidElement   = 430
	VRErrInvalidSDPType   = 431
	VRErrPublishersFull   = 432
	VRErrUnauthorized     = 433
	VRErrAlreadyPublished = 434
	VRErrNotPublished     = 435
	VRErrIDExists         = 436
	VRErrInvalidSDP       = 437
	VRErrUnknown          = 499
)

// VideoRoom is the package name of the VideoRoom plugin.
const VideoRoom = "janus.plugin.videoroom"

// Error is the error object of a core "error" answer.
type Error struct {
	Code   int    `json:"code"`
	Reason string `json:"reason"`
}

func (e *Error) Error() string { return fmt.Sprintf("janus error %d: %s", e.Code, e.Reason) }

// Errorf builds an Error.
func Errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// JSEP is an SDP offer or answer riding along a message or event.
type JSEP struct {
	Type    string `json:"type"`
	SDP     string `json:"sdp"`
	Trickle *bool  `json:"trickle,omitempty"`
	E2EE    bool   `json:"e2ee,omitempty"`
}

// PluginData is the plugin part of a success or event answer.
type PluginData struct {
	Plugin string          `json:"plugin"`
	Data   json.RawMessage `json:"data"`
}

// Message is any Janus API message, in either direction. Fields absent
// from a message stay zero and are left out when encoding.
type Message struct {
	Janus       string `json:"janus"`
	Transaction string `json:"transaction,omitempty"`
	SessionID   uint64 `json:"session_id,omitempty"`
	HandleID    uint64 `json:"handle_id,omitempty"`
	Sender      uint64 `json:"sender,omitempty"`

	// Requests.
	Plugin     string            `json:"plugin,omitempty"`
	OpaqueID   string            `json:"opaque_id,omitempty"`
	Token      string            `json:"token,omitempty"`
	APISecret  string            `json:"apisecret,omitempty"`
	Body       json.RawMessage   `json:"body,omitempty"`
	Candidate  json.RawMessage   `json:"candidate,omitempty"`
	Candidates []json.RawMessage `json:"candidates,omitempty"`

	// Both directions.
	JSEP *JSEP `json:"jsep,omitempty"`

	// Answers and events.
	Data       json.RawMessage `json:"data,omitempty"`
	PluginData *PluginData     `json:"plugindata,omitempty"`
	Error      *Error          `json:"error,omitempty"`
	Reason     string          `json:"reason,omitempty"`
	Type       string          `json:"type,omitempty"`
	MID        string          `json:"mid,omitempty"`
	Media      string          `json:"media,omitempty"`
	Receiving  *bool           `json:"receiving,omitempty"`
	Uplink     *bool           `json:"uplink,omitempty"`
	Lost       *int            `json:"lost,omitempty"`
}

// Candidate is a trickled ICE candidate; Completed marks the end of
// gathering.
type Candidate struct {
	Candidate     string  `json:"candidate"`
	SDPMid        *string `json:"sdpMid,omitempty"`
	SDPMLineIndex *uint16 `json:"sdpMLineIndex,omitempty"`
	Completed     bool    `json:"completed,omitempty"`
}

// Request is a decoded, checked incoming request.
type Request struct {
	Message
	// Candidates holds the trickled candidates of a trickle request.
	TrickleCandidates []Candidate
}

// Requests the core knows.
var coreRequests = map[string]bool{
	"create": true, "attach": true, "message": true, "trickle": true, "keepalive": true,
	"detach": true, "destroy": true, "hangup": true, "info": true, "ping": true, "claim": true,
}

// Decode parses and checks one incoming request. Its error carries the
// Janus code and reason to answer with, and Transaction is set whenever
// the message had a readable one, so the error can be routed.
func Decode(data []byte) (Request, *Error) {
	var req Request
	data = bytes.TrimSpace(data)
	if !utf8.Valid(data) {
		return req, Errorf(ErrInvalidJSON, "JSON error: not valid UTF-8")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		var probe any
		if json.Unmarshal(data, &probe) == nil {
			return req, Errorf(ErrInvalidJSONObject, "JSON error: not an object")
		}
		return req, Errorf(ErrInvalidJSON, "JSON error: %v", err)
	}
	if fields == nil {
		return req, Errorf(ErrInvalidJSONObject, "JSON error: not an object")
	}
	str := func(key string, required bool) (string, *Error) {
		raw, ok := fields[key]
		if !ok {
			if required {
				return "", Errorf(ErrMissingMandatoryElement, "Missing mandatory element (%s)", key)
			}
			return "", nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", Errorf(ErrInvalidElementType, "Invalid element type (%s should be a string)", key)
		}
		return s, nil
	}
	id := func(key string) (uint64, *Error) {
		raw, ok := fields[key]
		if !ok {
			return 0, nil
		}
		n, err := strconv.ParseUint(string(raw), 10, 64)
		if err != nil || n == 0 {
			return 0, Errorf(ErrInvalidElementType, "Invalid element type (%s should be a positive integer)", key)
		}
		return n, nil
	}
	var e *Error
	if req.Transaction, e = str("transaction", true); e != nil {
		return req, e
	}
	if req.Transaction == "" || len(req.Transaction) > 256 {
		t := req.Transaction
		req.Transaction = ""
		if t == "" {
			return req, Errorf(ErrMissingMandatoryElement, "Missing mandatory element (transaction)")
		}
		return req, Errorf(ErrInvalidElementType, "Invalid element type (transaction longer than 256 bytes)")
	}
	if req.Janus, e = str("janus", true); e != nil {
		return req, e
	}
	if req.SessionID, e = id("session_id"); e != nil {
		return req, e
	}
	if req.HandleID, e = id("handle_id"); e != nil {
		return req, e
	}
	if req.Token, e = str("token", false); e != nil {
		return req, e
	}
	if req.APISecret, e = str("apisecret", false); e != nil {
		return req, e
	}
	if req.OpaqueID, e = str("opaque_id", false); e != nil {
		return req, e
	}
	if !coreRequests[req.Janus] {
		return req, Errorf(ErrUnknownRequest, "Unknown request '%s'", clip(req.Janus))
	}
	switch req.Janus {
	case "attach":
		if req.Plugin, e = str("plugin", true); e != nil {
			return req, e
		}
	case "message":
		body, ok := fields["body"]
		if !ok {
			return req, Errorf(ErrMissingMandatoryElement, "Missing mandatory element (body)")
		}
		if len(body) == 0 || body[0] != '{' {
			return req, Errorf(ErrInvalidJSONObject, "Invalid body object")
		}
		req.Body = body
		if raw, ok := fields["jsep"]; ok && string(raw) != "null" {
			j, e := decodeJSEP(raw)
			if e != nil {
				return req, e
			}
			req.JSEP = j
		}
	case "trickle":
		cands, e := decodeTrickle(fields)
		if e != nil {
			return req, e
		}
		req.TrickleCandidates = cands
	}
	return req, nil
}

func decodeJSEP(raw json.RawMessage) (*JSEP, *Error) {
	var j JSEP
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, Errorf(ErrInvalidJSONObject, "Invalid jsep object")
	}
	switch j.Type {
	case "offer", "answer":
	case "":
		return nil, Errorf(ErrMissingMandatoryElement, "JSEP error: missing mandatory element (type)")
	default:
		return nil, Errorf(ErrJSEPUnknownType, "JSEP error: unknown message type '%s'", clip(j.Type))
	}
	if j.SDP == "" {
		return nil, Errorf(ErrMissingMandatoryElement, "JSEP error: missing mandatory element (sdp)")
	}
	if err := CheckSDP(j.SDP); err != nil {
		return nil, Errorf(ErrJSEPInvalidSDP, "JSEP error: invalid SDP (%v)", err)
	}
	return &j, nil
}

// CheckSDP parses an SDP and requires at least one media section with an
// ICE username fragment and a DTLS fingerprint, as WebRTC needs.
func CheckSDP(s string) error {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(s); err != nil {
		return err
	}
	if len(d.MediaDescriptions) == 0 {
		return fmt.Errorf("no media section")
	}
	has := func(key string) bool {
		if _, ok := d.Attribute(key); ok {
			return true
		}
		for _, m := range d.MediaDescriptions {
			if _, ok := m.Attribute(key); ok {
				return true
			}
		}
		return false
	}
	if !has("ice-ufrag") || !has("ice-pwd") {
		return fmt.Errorf("no ICE credentials")
	}
	if !has("fingerprint") {
		return fmt.Errorf("no DTLS fingerprint")
	}
	return nil
}

func decodeTrickle(fields map[string]json.RawMessage) ([]Candidate, *Error) {
	one, hasOne := fields["candidate"]
	many, hasMany := fields["candidates"]
	switch {
	case hasOne && hasMany:
		return nil, Errorf(ErrInvalidJSON, "Can't have both candidate and candidates")
	case hasOne:
		var c Candidate
		if len(one) == 0 || one[0] != '{' || json.Unmarshal(one, &c) != nil {
			return nil, Errorf(ErrInvalidJSONObject, "Invalid candidate object")
		}
		if c.Candidate == "" && !c.Completed {
			return nil, Errorf(ErrMissingMandatoryElement, "Missing mandatory element (candidate)")
		}
		return []Candidate{c}, nil
	case hasMany:
		var cs []Candidate
		if len(many) == 0 || many[0] != '[' || json.Unmarshal(many, &cs) != nil {
			return nil, Errorf(ErrInvalidElementType, "Invalid element type (candidates should be an array)")
		}
		return cs, nil
	}
	return nil, Errorf(ErrMissingMandatoryElement, "Missing mandatory element (candidate|candidates)")
}

// clip shortens a client string echoed in an error.
func clip(s string) string {
	if len(s) > 64 {
		s = s[:64]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		return s + "..."
	}
	return s
}
