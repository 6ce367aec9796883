package sapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"

	"github.com/openwac/wac/internal/store"
)

// Error is an API error: an HTTP status and a message that names what was
// wrong. It is written as {"code": status, "message": ..., "field": ...}.
type Error struct {
	Status  int    `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func (e *Error) Error() string { return e.Message }

func errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

// fieldErr reports a problem with one field of the request.
func fieldErr(status int, field, format string, args ...any) *Error {
	return &Error{Status: status, Field: field, Message: fmt.Sprintf("field %q: %s", field, fmt.Sprintf(format, args...))}
}

func required(field string) *Error {
	return fieldErr(http.StatusUnprocessableEntity, field, "is required")
}

func invalid(field, format string, args ...any) *Error {
	return fieldErr(http.StatusUnprocessableEntity, field, format, args...)
}

func forbidden(format string, args ...any) *Error {
	return errorf(http.StatusForbidden, format, args...)
}

func notFound(what string) *Error {
	return errorf(http.StatusNotFound, "%s not found", what)
}

// storeErr maps a store error about `what` onto an API error.
func storeErr(err error, what string) error {
	if errors.Is(err, store.ErrNotFound) {
		return notFound(what)
	}
	if c, ok := store.IsConflict(err); ok {
		return fieldErr(http.StatusConflict, c.Field, "%s already exists", what+" with this "+c.Field)
	}
	if errors.Is(err, store.ErrReference) {
		return errorf(http.StatusConflict, "%s is referenced by other records or refers to a missing one", what)
	}
	return err
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// decode reads the JSON body into v, refusing unknown fields, trailing data
// and values of the wrong type, with messages that name the field.
func decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return errorf(http.StatusUnsupportedMediaType, "Content-Type must be application/json, not %q", ct)
		}
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonErr(err)
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, "malformed JSON: unexpected data after the object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errorf(http.StatusBadRequest, "malformed JSON: unexpected data after the object")
	}
	return nil
}

// jsonErr explains a JSON decoding error.
func jsonErr(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	if e := bodyErr(err); e != nil {
		return e
	}
	switch {
	case errors.Is(err, io.EOF):
		return errorf(http.StatusBadRequest, "request body is empty; a JSON object is required")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(http.StatusBadRequest, "malformed JSON: the body ends too early")
	case errors.As(err, &syn):
		return errorf(http.StatusBadRequest, "malformed JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return errorf(http.StatusBadRequest, "the body must be a JSON object, not %s", typ.Value)
		}
		return fieldErr(http.StatusBadRequest, field, "must be %s, not %s", jsonKind(typ.Type.String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return fieldErr(http.StatusBadRequest, name, "is not a known field")
	}
	return errorf(http.StatusBadRequest, "malformed JSON: %v", err)
}

// bodyErr explains a failure to read the request body that is not the
// body's fault: too large (413) or too slow (408); nil for other errors.
func bodyErr(err error) *Error {
	var tooBig *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &tooBig):
		return errorf(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", tooBig.Limit)
	case errors.As(err, &ne) && ne.Timeout():
		return errorf(http.StatusRequestTimeout, "the request body did not arrive in time (http.readTimeout)")
	}
	return nil
}

func jsonKind(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "map["), strings.HasPrefix(goType, "struct"), strings.Contains(goType, "."):
		return "an object"
	case strings.Contains(goType, "int"), strings.Contains(goType, "float"):
		return "a number"
	case goType == "bool", goType == "*bool":
		return "a boolean"
	case strings.Contains(goType, "string"):
		return "a string"
	}
	return goType
}
