// Package wire is the QSS protocol's JSON on the WebSocket, shared by the
// server (internal/qss and its layers) and the Go client (package client):
// the Frame both sides read, the server's strict decoding of a client's
// frame, the frames the server writes (answers, cancels, events), the
// refusal a handler returns, and the room object's ICE server entry.
//
// It imports nothing of the server, so the client can use it: the client
// is in the same module, which may import internal packages, and its users
// name the shared types through the client's aliases (client.Frame).
package wire

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"strings"

	"github.com/segmentio/encoding/json"
)

// Frame is one message of the QSS protocol, in either direction:
//
//	request: {"request": name, "requestID": id, "payload": {...}, ...}
//	answer:  {"answer": name, "requestID": id, ...}
//	cancel:  {"cancel": name, "requestID": id, "error": code, "message": text}
//	event:   {"type": "event", "payload": {"eventName": name, "payload": {...}}}
//
// Requests may carry "to" beside the payload (invitation, inviteRequest);
// other unknown top-level fields are ignored. A client may also send a
// request in the seeds' enveloped form (their close of an unanswered call),
// read as the request endpoint with requestID id:
//
//	{"type": "request", "payload": {"endpoint": name, "payload": {...}, "id": id}}
type Frame struct {
	Request   string          `json:"request,omitempty"`
	Answer    string          `json:"answer,omitempty"`
	Cancel    string          `json:"cancel,omitempty"`
	RequestID string          `json:"requestID,omitempty"`
	Type      string          `json:"type,omitempty"`
	Error     int             `json:"error,omitempty"`
	Message   string          `json:"message,omitempty"`
	Payload   json.RawMessage `json:"payload,omitempty"`
	// To is the invitation's callee, beside the payload as the seeds put it.
	To string `json:"to,omitempty"`
	// Raw is the whole frame as the client received it, for fields beside
	// these (Field, String); the server leaves it empty.
	Raw json.RawMessage `json:"-"`
}

// Kind is what a frame is.
func (f *Frame) Kind() string {
	switch {
	case f.Request != "":
		return "request"
	case f.Answer != "":
		return "answer"
	case f.Cancel != "":
		return "cancel"
	case f.Type == "event":
		return "event"
	}
	return ""
}

// Name is the request, answer or cancel name of the frame.
func (f *Frame) Name() string {
	switch {
	case f.Request != "":
		return f.Request
	case f.Answer != "":
		return f.Answer
	}
	return f.Cancel
}

// ProtocolError is a frame the server cannot take: it becomes a cancel with
// Code (400 malformed, 405 unknown request, 413 too big, 429 too many).
type ProtocolError struct {
	Code    int
	Name    string // the request name, when known
	ReqID   string
	Message string
}

func (e *ProtocolError) Error() string { return e.Message }

// wireFrame is a frame as it arrives.
type wireFrame struct {
	Request   string          `json:"request"`
	Answer    string          `json:"answer"`
	Cancel    string          `json:"cancel"`
	RequestID string          `json:"requestID"`
	Type      string          `json:"type"`
	Error     int             `json:"error"`
	Message   string          `json:"message"`
	Payload   json.RawMessage `json:"payload"`
	To        string          `json:"to"`
}

// enveloped is the payload of the seeds' enveloped request.
type enveloped struct {
	Endpoint string          `json:"endpoint"`
	Payload  json.RawMessage `json:"payload"`
	ID       string          `json:"id"`
}

// DecodeFrame parses one client frame. It accepts only a JSON object with
// exactly one of request, answer or cancel (or the enveloped request), a
// string requestID, and an object (or absent) payload; anything else is a
// ProtocolError that names the problem.
func DecodeFrame(data []byte) (*Frame, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return nil, &ProtocolError{Code: 400, Message: "a frame must be a JSON object"}
	}
	var w wireFrame
	if err := json.Unmarshal(data, &w); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) && typ.Field != "" {
			msg := fmt.Sprintf("field %q must be a string", typ.Field)
			switch typ.Field {
			case "error":
				msg = `field "error" must be an integer code`
			case "payload":
				msg = `field "payload" must be an object`
			}
			return nil, &ProtocolError{Code: 400, Name: cmp.Or(w.Request, w.Answer, w.Cancel), ReqID: w.RequestID, Message: msg}
		}
		return nil, &ProtocolError{Code: 400, Message: "malformed JSON: " + jsonMessage(err)}
	}
	f := &Frame{Request: w.Request, Answer: w.Answer, Cancel: w.Cancel, RequestID: w.RequestID, Type: w.Type,
		Error: w.Error, Message: w.Message, To: w.To}
	n := 0
	for _, s := range []string{f.Request, f.Answer, f.Cancel} {
		if s != "" {
			n++
		}
	}
	if n == 0 && f.Type == "request" {
		payload, err := unwrap(f, w.Payload)
		if err != nil {
			return nil, err
		}
		w.Payload, n = payload, 1
	}
	if n != 1 {
		return nil, &ProtocolError{Code: 400, ReqID: f.RequestID,
			Message: `a frame needs exactly one of "request", "answer" or "cancel"`}
	}
	if f.RequestID == "" {
		return nil, &ProtocolError{Code: 400, Name: f.Name(), Message: `field "requestID" is required`}
	}
	if len(f.RequestID) > 128 {
		return nil, &ProtocolError{Code: 400, Name: f.Name(), Message: `field "requestID" is longer than 128 characters`}
	}
	if p := bytes.TrimSpace(w.Payload); len(p) > 0 && string(p) != "null" {
		if p[0] != '{' {
			return nil, &ProtocolError{Code: 400, Name: f.Name(), ReqID: f.RequestID, Message: `field "payload" must be an object`}
		}
		f.Payload = p
	}
	return f, nil
}

// unwrap reads the seeds' enveloped request into f and returns its payload.
func unwrap(f *Frame, payload json.RawMessage) (json.RawMessage, error) {
	const form = `a "type":"request" frame needs a payload {"endpoint": name, "id": requestID, "payload": {...}}`
	if p := bytes.TrimSpace(payload); len(p) == 0 || p[0] != '{' {
		return nil, &ProtocolError{Code: 400, Message: form}
	}
	var e enveloped
	if err := json.Unmarshal(payload, &e); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) && typ.Field != "" {
			msg := fmt.Sprintf("field %q of payload must be a string", typ.Field)
			if typ.Field == "payload" {
				msg = `field "payload" of payload must be an object`
			}
			return nil, &ProtocolError{Code: 400, Name: e.Endpoint, ReqID: e.ID, Message: msg}
		}
		return nil, &ProtocolError{Code: 400, Message: "malformed payload: " + jsonMessage(err)}
	}
	if e.Endpoint == "" {
		return nil, &ProtocolError{Code: 400, ReqID: e.ID, Message: form}
	}
	if e.ID == "" {
		return nil, &ProtocolError{Code: 400, Name: e.Endpoint, Message: `field "id" of payload is required: the request's requestID`}
	}
	f.Request, f.RequestID, f.Type = e.Endpoint, e.ID, ""
	return e.Payload, nil
}

// DecodePayload reads the frame's payload into v, naming the field whose
// type is wrong. An absent payload leaves v as it is.
func (f *Frame) DecodePayload(v any) error {
	if len(f.Payload) == 0 {
		return nil
	}
	if err := json.Unmarshal(f.Payload, v); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) && typ.Field != "" {
			return &ProtocolError{Code: 400, Name: f.Name(), ReqID: f.RequestID,
				Message: fmt.Sprintf("field %q of payload must be %s, not %s", typ.Field, kindOf(typ.Type.String()), typ.Value)}
		}
		return &ProtocolError{Code: 400, Name: f.Name(), ReqID: f.RequestID, Message: "malformed payload: " + jsonMessage(err)}
	}
	return nil
}

// Field reads a top-level field of a received frame (Raw) into v.
func (f *Frame) Field(name string, v any) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(f.Raw, &m); err != nil {
		return err
	}
	raw, ok := m[name]
	if !ok {
		return fmt.Errorf("frame has no field %q", name)
	}
	return json.Unmarshal(raw, v)
}

// String reads a top-level string field of a received frame ("" when
// absent).
func (f *Frame) String(name string) string {
	var s string
	f.Field(name, &s)
	return s
}

func kindOf(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "map"), strings.HasPrefix(goType, "struct"), strings.Contains(goType, "."):
		return "an object"
	case strings.Contains(goType, "int"), strings.Contains(goType, "float"):
		return "a number"
	case strings.Contains(goType, "bool"):
		return "a boolean"
	case strings.Contains(goType, "string"):
		return "a string"
	}
	return goType
}

// jsonMessage is a JSON error for the client, without the library's prefix
// (and the empty rest of the input it names at the end of the input).
func jsonMessage(err error) string {
	return strings.TrimSuffix(strings.TrimPrefix(err.Error(), "json: "), ": ")
}

// Outgoing frames. Field order follows the seeds' examples.

type answerFrame struct {
	Answer    string `json:"answer"`
	RequestID string `json:"requestID"`
	Payload   any    `json:"payload,omitempty"`
}

type cancelFrame struct {
	Cancel    string `json:"cancel"`
	RequestID string `json:"requestID"`
	Error     int    `json:"error"`
	Message   string `json:"message,omitempty"`
}

type eventFrame struct {
	Type    string    `json:"type"`
	Payload eventBody `json:"payload"`
}

type eventBody struct {
	EventName string `json:"eventName"`
	Payload   any    `json:"payload"`
}

// Encode writes one of the server's own frame types as JSON.
func Encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("qss: encode %T: %v", v, err)) // only our own types reach here
	}
	return b
}

// AnswerFrame is the answer to request name with requestID reqID.
func AnswerFrame(name, reqID string, payload any) []byte {
	return Encode(answerFrame{Answer: name, RequestID: reqID, Payload: payload})
}

// CancelFrame is the cancel of request name with requestID reqID: a
// refusal with a SIP-style code, or the end of a server request.
func CancelFrame(name, reqID string, code int, msg string) []byte {
	return Encode(cancelFrame{Cancel: name, RequestID: reqID, Error: code, Message: msg})
}

// EventFrame is the event name with its payload.
func EventFrame(name string, payload any) []byte {
	return Encode(eventFrame{Type: "event", Payload: eventBody{EventName: name, Payload: payload}})
}

// Cancel is a request refused with a SIP-style code; handlers return it.
type Cancel struct {
	Code    int
	Message string
}

func (c *Cancel) Error() string { return fmt.Sprintf("%d %s", c.Code, c.Message) }

// Refuse is a *Cancel with a formatted message.
func Refuse(code int, format string, args ...any) *Cancel {
	return &Cancel{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Truncate cuts s to at most n bytes, for what a client sent that a
// message or a log repeats.
func Truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// ICEServer is one entry of the room object's ice list, in the
// RTCIceServer JSON shape browsers take.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}
