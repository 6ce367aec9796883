// Package pushtest runs local servers that speak APNs (HTTP/2, provider
// token authentication) and FCM HTTP v1 (a service account's JWT
// assertion exchanged at a token endpoint, then messages:send), for tests:
// the real services cannot be reached from here. They check what the real
// ones check (the JWT's signature and claims, the headers) and answer with
// their error bodies for the tokens a test marks bad.
package pushtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Push is one push a fake server accepted.
type Push struct {
	Service  string // APNs or FCM
	Token    string
	Headers  http.Header
	Payload  map[string]any // APNs: the body; FCM: message.data with info decoded
	Received time.Time
}

// Type is the payload's "type".
func (p Push) Type() string { s, _ := p.Payload["type"].(string); return s }

// Info is the payload's "info".
func (p Push) Info() map[string]any { m, _ := p.Payload["info"].(map[string]any); return m }

// Behaviour by token prefix, as both fakes answer (hexadecimal, as APNs
// tokens are).
const (
	BadPrefix   = "bad0" // APNs 400 BadDeviceToken, FCM 400 INVALID_ARGUMENT
	GonePrefix  = "dead" // APNs 410 Unregistered, FCM 404 UNREGISTERED
	BusyPrefix  = "beef" // 503 for the first two attempts, then accepted
	ErrorPrefix = "eeee" // 500 every time
)

// Server is a fake push service.
type Server struct {
	*httptest.Server
	Pushes chan Push
	mu     sync.Mutex
	tries  map[string]int
	errs   []string
}

func newServer(t testing.TB, h http.Handler) *Server {
	s := &Server{Pushes: make(chan Push, 4096), tries: map[string]int{}}
	s.Server = httptest.NewUnstartedServer(h)
	s.EnableHTTP2 = true
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

// Errors lists what the server refused that a correct client never sends
// (a bad JWT, a missing header).
func (s *Server) Errors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.errs...)
}

func (s *Server) refuse(w http.ResponseWriter, status int, body, why string) {
	s.mu.Lock()
	s.errs = append(s.errs, why)
	s.mu.Unlock()
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

// attempt counts the requests for a token and says whether a busy token
// is still busy.
func (s *Server) attempt(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tries[token]++
	return s.tries[token] <= 2
}

// Tries is how many requests came for a token.
func (s *Server) Tries(token string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tries[token]
}

// Wait returns the next push, failing the test after d.
func (s *Server) Wait(t testing.TB, d time.Duration) Push {
	t.Helper()
	select {
	case p := <-s.Pushes:
		return p
	case <-time.After(d):
		t.Fatalf("no push reached the fake push service within %v (refused: %v)", d, s.Errors())
		return Push{}
	}
}

// APNs is a fake APNs with the key that signs its provider tokens.
type APNs struct {
	*Server
	KeyID, TeamID, Topic string
	KeyFile              string // the .p8 file (PKCS#8 PEM)
	key                  *ecdsa.PrivateKey
}

// NewAPNs starts a fake APNs and writes its auth key to a temporary
// APNsAuthKey_<keyID>.p8.
func NewAPNs(t testing.TB) *APNs {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	a := &APNs{KeyID: "ABC123DEFG", TeamID: "TEAM123456", Topic: "com.example.wac", key: key}
	a.KeyFile = filepath.Join(t.TempDir(), "APNsAuthKey_"+a.KeyID+".p8")
	if err := os.WriteFile(a.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	a.Server = newServer(t, http.HandlerFunc(a.serve))
	return a
}

func (a *APNs) serve(w http.ResponseWriter, r *http.Request) {
	token, ok := strings.CutPrefix(r.URL.Path, "/3/device/")
	switch {
	case r.ProtoMajor != 2:
		a.refuse(w, 505, `{"reason":"BadPath"}`, "not HTTP/2")
		return
	case r.Method != http.MethodPost || !ok:
		a.refuse(w, 405, `{"reason":"MethodNotAllowed"}`, "not POST /3/device/")
		return
	}
	if err := a.checkJWT(r.Header.Get("Authorization")); err != nil {
		a.refuse(w, 403, `{"reason":"InvalidProviderToken"}`, err.Error())
		return
	}
	topic, typ, prio := r.Header.Get("apns-topic"), r.Header.Get("apns-push-type"), r.Header.Get("apns-priority")
	wantTopic := a.Topic
	if typ == "voip" {
		wantTopic += ".voip"
	}
	if topic != wantTopic {
		a.refuse(w, 400, `{"reason":"DeviceTokenNotForTopic"}`, "apns-topic "+topic+" for push type "+typ)
		return
	}
	if (typ == "voip" || typ == "alert") && prio != "10" || typ == "background" && prio != "5" {
		a.refuse(w, 400, `{"reason":"BadPriority"}`, "apns-priority "+prio+" for "+typ)
		return
	}
	var body map[string]any
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&body); err != nil {
		a.refuse(w, 413, `{"reason":"PayloadTooLarge"}`, "body: "+err.Error())
		return
	}
	if _, ok := body["aps"].(map[string]any); !ok {
		a.refuse(w, 400, `{"reason":"PayloadEmpty"}`, "no aps")
		return
	}
	busy := a.attempt(token)
	switch {
	case strings.HasPrefix(token, BadPrefix):
		w.WriteHeader(400)
		fmt.Fprint(w, `{"reason":"BadDeviceToken"}`)
		return
	case strings.HasPrefix(token, GonePrefix):
		w.WriteHeader(410)
		fmt.Fprintf(w, `{"reason":"Unregistered","timestamp":%d}`, time.Now().UnixMilli())
		return
	case strings.HasPrefix(token, BusyPrefix) && busy:
		w.WriteHeader(503)
		fmt.Fprint(w, `{"reason":"ServiceUnavailable"}`)
		return
	case strings.HasPrefix(token, ErrorPrefix):
		w.WriteHeader(500)
		fmt.Fprint(w, `{"reason":"InternalServerError"}`)
		return
	}
	w.Header().Set("apns-id", "00000000-0000-0000-0000-000000000001")
	w.WriteHeader(200)
	a.Pushes <- Push{Service: "APNs", Token: token, Headers: r.Header.Clone(), Payload: body, Received: time.Now()}
}

// checkJWT verifies the provider token: ES256 by the key, kid, iss, a
// recent iat.
func (a *APNs) checkJWT(h string) error {
	tok, ok := strings.CutPrefix(h, "bearer ")
	if !ok {
		return errors.New("no bearer provider token")
	}
	hdr, claims, signed, sig, err := splitJWT(tok)
	if err != nil {
		return err
	}
	if hdr["alg"] != "ES256" || hdr["kid"] != a.KeyID {
		return fmt.Errorf("JWT header %v", hdr)
	}
	if claims["iss"] != a.TeamID {
		return fmt.Errorf("JWT iss %v", claims["iss"])
	}
	iat, _ := claims["iat"].(float64)
	if d := time.Since(time.Unix(int64(iat), 0)); d > time.Hour || d < -time.Minute {
		return fmt.Errorf("JWT iat %v", iat)
	}
	if len(sig) != 64 {
		return fmt.Errorf("ES256 signature of %d bytes", len(sig))
	}
	sum := sha256.Sum256([]byte(signed))
	if !ecdsa.Verify(&a.key.PublicKey, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return errors.New("JWT signature does not verify")
	}
	return nil
}

func splitJWT(tok string) (hdr, claims map[string]any, signed string, sig []byte, err error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, nil, "", nil, errors.New("not a JWT")
	}
	dec := func(s string, v any) error {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			return err
		}
		return json.Unmarshal(b, v)
	}
	if err = dec(parts[0], &hdr); err != nil {
		return
	}
	if err = dec(parts[1], &claims); err != nil {
		return
	}
	sig, err = base64.RawURLEncoding.DecodeString(parts[2])
	return hdr, claims, parts[0] + "." + parts[1], sig, err
}

// FCM is a fake FCM HTTP v1 with its token endpoint and the service
// account whose key signs the assertions.
type FCM struct {
	*Server
	Project, Email string
	KeyFile        string // the service account JSON
	key            *rsa.PrivateKey
	access         string
}

// NewFCM starts a fake FCM and writes a service account key file whose
// token_uri is the fake's token endpoint.
func NewFCM(t testing.TB) *FCM {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f := &FCM{Project: "wac-test", Email: "push@wac-test.iam.gserviceaccount.com", key: key, access: "ya29.test-access-token"}
	f.Server = newServer(t, http.HandlerFunc(f.serve))
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	sa, _ := json.Marshal(map[string]string{"type": "service_account", "project_id": f.Project, "private_key_id": "k1",
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), "client_email": f.Email,
		"client_id": "1", "token_uri": f.URL + "/token"})
	f.KeyFile = filepath.Join(t.TempDir(), "firebase.json")
	if err := os.WriteFile(f.KeyFile, sa, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *FCM) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/token" {
		f.token(w, r)
		return
	}
	if r.URL.Path != "/v1/projects/"+f.Project+"/messages:send" || r.Method != http.MethodPost {
		f.refuse(w, 404, `{"error":{"code":404,"status":"NOT_FOUND"}}`, "path "+r.URL.Path)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+f.access {
		f.refuse(w, 401, `{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`,
			"authorization "+r.Header.Get("Authorization"))
		return
	}
	var body struct {
		Message struct {
			Token   string            `json:"token"`
			Data    map[string]string `json:"data"`
			Android struct {
				Priority string `json:"priority"`
			} `json:"android"`
		} `json:"message"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&body); err != nil || body.Message.Token == "" {
		f.refuse(w, 400, `{"error":{"code":400,"status":"INVALID_ARGUMENT"}}`, fmt.Sprintf("body: %v", err))
		return
	}
	tok := body.Message.Token
	busy := f.attempt(tok)
	switch {
	case strings.HasPrefix(tok, BadPrefix):
		w.WriteHeader(400)
		fmt.Fprint(w, `{"error":{"code":400,"message":"The registration token is not a valid FCM registration token","status":"INVALID_ARGUMENT",`+
			`"details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"INVALID_ARGUMENT"}]}}`)
		return
	case strings.HasPrefix(tok, GonePrefix):
		w.WriteHeader(404)
		fmt.Fprint(w, `{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND",`+
			`"details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}`)
		return
	case strings.HasPrefix(tok, BusyPrefix) && busy:
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(503)
		fmt.Fprint(w, `{"error":{"code":503,"status":"UNAVAILABLE"}}`)
		return
	case strings.HasPrefix(tok, ErrorPrefix):
		w.WriteHeader(500)
		fmt.Fprint(w, `{"error":{"code":500,"status":"INTERNAL"}}`)
		return
	}
	payload := map[string]any{"type": body.Message.Data["type"], "priority": body.Message.Android.Priority}
	var info map[string]any
	if json.Unmarshal([]byte(body.Message.Data["info"]), &info) == nil {
		payload["info"] = info
	}
	fmt.Fprintf(w, `{"name":"projects/%s/messages/%d"}`, f.Project, time.Now().UnixNano())
	f.Pushes <- Push{Service: "FCM", Token: tok, Headers: r.Header.Clone(), Payload: payload, Received: time.Now()}
}

// token checks the JWT-bearer assertion (RS256 by the service account's
// key, iss, scope, aud) and hands out the access token.
func (f *FCM) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		f.refuse(w, 400, `{"error":"unsupported_grant_type"}`, "grant_type "+r.PostForm.Get("grant_type"))
		return
	}
	hdr, claims, signed, sig, err := splitJWT(r.PostForm.Get("assertion"))
	if err == nil && hdr["alg"] != "RS256" {
		err = fmt.Errorf("alg %v", hdr["alg"])
	}
	if err == nil {
		sum := sha256.Sum256([]byte(signed))
		err = rsa.VerifyPKCS1v15(&f.key.PublicKey, crypto.SHA256, sum[:], sig)
	}
	if err == nil && (claims["iss"] != f.Email || claims["aud"] != f.URL+"/token" ||
		claims["scope"] != "https://www.googleapis.com/auth/firebase.messaging") {
		err = fmt.Errorf("claims %v", claims)
	}
	if err != nil {
		f.refuse(w, 400, `{"error":"invalid_grant"}`, "assertion: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":3600}`, f.access)
}
