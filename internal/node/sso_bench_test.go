package node_test

import (
	"context"
	"crypto"
	"net/url"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"

	"github.com/openwac/wac/internal/config"
)

// benchOP is a provider whose browser already logged in and consented, so
// that a login costs what the authorization-code flow costs, without
// password hashing.
func benchOP(b *testing.B, alg string) (*opFixture, *browser) {
	f := startOP(b, func(c *config.Config) { c.OAuth2Provider.IDTokenAlg = alg; c.Log.Level = "error" })
	br := newBrowser(b)
	f.authorize(b, br, f.authorizeURL(f.codeQuery(f.clientID)))
	return f, br
}

// BenchmarkAuthorizationCodeLogin is one login by the authorization-code
// flow end to end over HTTP: the authorize request (session and consent
// known) answered with a code, and the code exchanged (PKCE, client
// secret) for tokens and a signed id_token.
func BenchmarkAuthorizationCodeLogin(b *testing.B) {
	for _, alg := range []string{"RS256", "ES256"} {
		b.Run(alg, func(b *testing.B) {
			f, br := benchOP(b, alg)
			target := f.authorizeURL(f.codeQuery(f.clientID))
			b.ResetTimer()
			for b.Loop() {
				loc := br.do("GET", target, nil)
				u, err := url.Parse(loc)
				if err != nil || u.Query().Get("code") == "" {
					b.Fatalf("authorize: %d %q", br.status, loc)
				}
				var ans tokenAnswer
				if st := f.exchange(b, url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")},
					"redirect_uri": {f.redirect}, "client_id": {f.clientID}, "client_secret": {f.secret}, "code_verifier": {verifier}}, &ans); st != 200 {
					b.Fatalf("exchange: %d %+v", st, ans)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
		})
	}
}

// BenchmarkIDTokenVerify is a relying party's check of one id_token
// (go-oidc: signature, issuer, audience, expiry) with the keys in hand.
func BenchmarkIDTokenVerify(b *testing.B) {
	for _, alg := range []string{"RS256", "ES256"} {
		b.Run(alg, func(b *testing.B) {
			f, br := benchOP(b, alg)
			code := f.authorize(b, br, f.authorizeURL(f.codeQuery(f.clientID))).Query().Get("code")
			var ans tokenAnswer
			f.exchange(b, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {f.redirect},
				"client_id": {f.clientID}, "client_secret": {f.secret}, "code_verifier": {verifier}}, &ans)
			var set jose.JSONWebKeySet
			apiJSON(b, "GET", f.base+"/sapi/o/jwks", "", nil, &set)
			var keys []crypto.PublicKey
			for _, k := range set.Keys {
				keys = append(keys, k.Key)
			}
			ctx := context.Background()
			v := gooidc.NewVerifier(f.base, &gooidc.StaticKeySet{PublicKeys: keys},
				&gooidc.Config{ClientID: f.clientID, SupportedSigningAlgs: []string{alg}})
			b.ResetTimer()
			for b.Loop() {
				if _, err := v.Verify(ctx, ans.IDToken); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifications/s")
		})
	}
}
