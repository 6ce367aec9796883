package sapi

import (
	"errors"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/openwac/wac/internal/auth"
	"github.com/openwac/wac/internal/store"
)

// pushTokenJSON is a device token an app registered so that its user can
// be woken by push when its signaling socket is closed.
type pushTokenJSON struct {
	ID        string `json:"id"`
	User      string `json:"user"`
	Domain    string `json:"domain"`
	TokenType string `json:"tokenType"`
	Token     string `json:"token"`
	DeviceID  string `json:"deviceId"`
	Created   int64  `json:"created"`
	Updated   int64  `json:"updated"`
}

// pushTokenBody is what POST accepts: the seeds' token notification
// (token, tokenType, deviceId).
type pushTokenBody struct {
	Token     string `json:"token"`
	TokenType string `json:"tokenType"`
	DeviceID  string `json:"deviceId"`
}

// Limits of a token's fields: APNs tokens are 64 hex digits today (Apple
// allows them to grow), FCM tokens about 160 characters.
const (
	maxPushToken = 1024
	maxDeviceID  = 128
)

func (a *API) pushTokenJSON(r *http.Request, names domainNames, t *store.PushToken) (*pushTokenJSON, error) {
	dn, err := a.domainName(r.Context(), names, t.DomainID)
	if err != nil {
		return nil, err
	}
	return &pushTokenJSON{ID: t.ID, User: t.UserID, Domain: dn, TokenType: t.TokenType, Token: t.Token, DeviceID: t.DeviceID,
		Created: t.Created, Updated: t.Updated}, nil
}

// visiblePushToken loads the token of the path if p may see it: its user,
// or an admin of its domain; anyone else is told it does not exist.
func (a *API) visiblePushToken(r *http.Request, p *auth.Principal) (*store.PushToken, error) {
	id, err := pathID(r, "id", "push token")
	if err != nil {
		return nil, err
	}
	t, err := a.st.GetPushToken(r.Context(), id)
	if err != nil {
		return nil, storeErr(err, "push token")
	}
	if p.UserID != "" && p.UserID == t.UserID {
		return t, nil
	}
	if !p.IsAdmin() {
		return nil, notFound("push token")
	}
	scope, err := a.auth.Scope(r.Context(), p)
	if err != nil {
		return nil, err
	}
	if !auth.InScope(scope, t.DomainID) {
		return nil, notFound("push token")
	}
	return t, nil
}

// listPushTokens is GET /sapi/pushTokens: the caller's tokens; an admin's
// lists those of its domains (?user= narrows to one user).
func (a *API) listPushTokens(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	user, err := queryText(r, "user", maxQueryName)
	if err != nil {
		return err
	}
	var list []*store.PushToken
	switch {
	case p.IsAdmin():
		scope, err := a.auth.Scope(r.Context(), p)
		if err != nil {
			return err
		}
		if list, err = a.st.ListPushTokens(r.Context(), user, scope, pg); err != nil {
			return err
		}
	case p.UserID != "":
		if list, err = a.st.ListPushTokens(r.Context(), p.UserID, nil, pg); err != nil {
			return err
		}
	}
	return writeList(w, list, func(names domainNames, t *store.PushToken) (*pushTokenJSON, error) {
		return a.pushTokenJSON(r, names, t)
	})
}

// createPushToken is POST /sapi/pushTokens: an app registers the token of
// the device it runs on for its user. Registering a token again updates
// it (201 either way); a token registered by another user moves to the
// caller, and a device's older token of the same type is replaced.
func (a *API) createPushToken(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if p.UserID == "" {
		return forbidden("push tokens belong to users; a client token has no user")
	}
	if p.IsAnonymous() {
		return forbidden("anonymous users cannot register push tokens")
	}
	var b pushTokenBody
	if err := decode(r, &b); err != nil {
		return err
	}
	switch b.TokenType {
	case store.PushAPNs, store.PushAPNsVoIP, store.PushFCM:
	case "":
		return fieldErr(http.StatusUnprocessableEntity, "tokenType", "is required: apns, apns-voip or fcm")
	default:
		return fieldErr(http.StatusUnprocessableEntity, "tokenType", "must be apns, apns-voip or fcm")
	}
	if err := validPushToken(b.TokenType, b.Token); err != nil {
		return err
	}
	if !utf8.ValidString(b.DeviceID) || strings.ContainsFunc(b.DeviceID, unicode.IsControl) || len(b.DeviceID) > maxDeviceID {
		return fieldErr(http.StatusUnprocessableEntity, "deviceId", "must be printable text of at most %d bytes", maxDeviceID)
	}
	t := &store.PushToken{UserID: p.UserID, DomainID: p.DomainID, TokenType: b.TokenType, Token: b.Token, DeviceID: b.DeviceID}
	if err := a.st.SavePushToken(r.Context(), t, a.cfg.Push.MaxTokensPerUser); err != nil {
		if errors.Is(err, store.ErrLimit) {
			return errorf(http.StatusConflict, "you have %d push tokens already (push.maxTokensPerUser): delete one first", a.cfg.Push.MaxTokensPerUser)
		}
		return storeErr(err, "push token")
	}
	a.log.Debug("Received new token notification by "+p.UserID+". Token: "+shortToken(t.Token)+", tokenType: "+t.TokenType+", deviceId: "+t.DeviceID,
		"user", p.UserID)
	j, err := a.pushTokenJSON(r, domainNames{}, t)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, j)
	return nil
}

// validPushToken checks a token's form: APNs tokens are hexadecimal, FCM
// tokens URL-safe text.
func validPushToken(typ, tok string) error {
	if tok == "" {
		return fieldErr(http.StatusUnprocessableEntity, "token", "is required: the device token APNs or FCM gave the app")
	}
	if len(tok) > maxPushToken {
		return fieldErr(http.StatusUnprocessableEntity, "token", "must be at most %d characters", maxPushToken)
	}
	for _, c := range tok {
		hex := c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
		if typ != store.PushFCM && !hex {
			return fieldErr(http.StatusUnprocessableEntity, "token", "an APNs device token is hexadecimal")
		}
		if typ == store.PushFCM && !hex && !(c >= 'g' && c <= 'z' || c >= 'G' && c <= 'Z' || strings.ContainsRune("-_:.", c)) {
			return fieldErr(http.StatusUnprocessableEntity, "token", "an FCM registration token has letters, digits and - _ : . only")
		}
	}
	return nil
}

// shortToken is the start of a token, for logs.
func shortToken(t string) string {
	if len(t) > 8 {
		return t[:8] + "…"
	}
	return t
}

// getPushToken is GET /sapi/pushTokens/{id}.
func (a *API) getPushToken(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	t, err := a.visiblePushToken(r, p)
	if err != nil {
		return err
	}
	j, err := a.pushTokenJSON(r, domainNames{}, t)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

// deletePushToken is DELETE /sapi/pushTokens/{id}: the app unregisters its
// device (a logout), or an admin removes a user's token.
func (a *API) deletePushToken(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	t, err := a.visiblePushToken(r, p)
	if err != nil {
		return err
	}
	if err := a.st.DeletePushToken(r.Context(), t.ID); err != nil {
		return storeErr(err, "push token")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
