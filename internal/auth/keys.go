package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/openwac/wac/internal/store"
)

// keyCacheTTL is how long a node uses the signing keys it loaded before it
// looks again; a new key is published for twice that before it signs, so
// that every node's JWKS shows it before any id_token carries its kid.
const keyCacheTTL = time.Minute

// signingKey is a parsed key of the key set.
type signingKey struct {
	kid       string
	alg       jose.SignatureAlgorithm
	priv      crypto.Signer
	notBefore time.Time
	created   time.Time
}

// keySet holds the cluster's signing keys, loaded from the store.
type keySet struct {
	mu     sync.Mutex
	keys   []*signingKey // newest first
	loaded time.Time
}

// keys returns the current key set, loading it again when it is older
// than keyCacheTTL (or when force is set).
func (s *Service) keys(ctx context.Context, force bool) ([]*signingKey, error) {
	if s.sealer == nil {
		return nil, errors.New("single sign-on is not set up (no cluster secret)")
	}
	ks := &s.keySet
	ks.mu.Lock()
	defer ks.mu.Unlock()
	now := s.now()
	if !force && !ks.loaded.IsZero() && now.Sub(ks.loaded) < keyCacheTTL && now.After(ks.loaded) {
		return ks.keys, nil
	}
	rows, err := s.st.ListSigningKeys(ctx, now.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	keys := make([]*signingKey, 0, len(rows))
	for _, r := range rows {
		k, err := s.parseKey(r)
		if err != nil {
			s.log.Error("unusable signing key", "kid", r.KID, "err", err)
			continue
		}
		keys = append(keys, k)
	}
	ks.keys, ks.loaded = keys, now
	return keys, nil
}

func (s *Service) parseKey(r *store.SigningKey) (*signingKey, error) {
	der, err := s.sealer.Open(r.Private, "signing-key:"+r.KID)
	if err != nil {
		return nil, err
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse key: %w", err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key of type %T cannot sign", priv)
	}
	return &signingKey{kid: r.KID, alg: jose.SignatureAlgorithm(r.Alg), priv: signer,
		notBefore: time.UnixMilli(r.NotBefore), created: time.UnixMilli(r.Created)}, nil
}

// activeKey returns the key that signs now: the newest of the configured
// algorithm whose time has come. When the newest is older than
// oauth2provider.keyRotation a new one is made, published at once and used
// from 2 × keyCacheTTL later; until then the previous one signs.
func (s *Service) activeKey(ctx context.Context) (*signingKey, error) {
	keys, err := s.keys(ctx, false)
	if err != nil {
		return nil, err
	}
	alg := jose.SignatureAlgorithm(s.cfg.OAuth2Provider.IDTokenAlg)
	now := s.now()
	rotation := s.cfg.OAuth2Provider.KeyRotation
	var newest, usable *signingKey
	for _, k := range keys {
		if k.alg != alg {
			continue
		}
		if newest == nil {
			newest = k
		}
		if usable == nil && !k.notBefore.After(now) {
			usable = k
		}
	}
	if newest == nil || now.Sub(newest.created) >= rotation {
		delay := 2 * keyCacheTTL
		if usable == nil {
			delay = 0 // nothing signs yet: the first key signs at once
		}
		if err := s.newSigningKey(ctx, alg, now, delay, rotation); err != nil {
			return nil, err
		}
		if keys, err = s.keys(ctx, true); err != nil {
			return nil, err
		}
		for _, k := range keys {
			if k.alg == alg && !k.notBefore.After(now) {
				return k, nil
			}
		}
	}
	if usable == nil {
		return nil, errors.New("no signing key is usable yet")
	}
	return usable, nil
}

// newSigningKey makes and stores a key of alg that signs from now+delay.
func (s *Service) newSigningKey(ctx context.Context, alg jose.SignatureAlgorithm, now time.Time, delay, rotation time.Duration) error {
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		return fmt.Errorf("generate signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return fmt.Errorf("encode signing key: %w", err)
	}
	kid := store.NewID()
	nb := now.Add(delay)
	k := &store.SigningKey{KID: kid, Alg: string(alg), Private: s.sealer.Seal(der, "signing-key:"+kid),
		NotBefore: nb.UnixMilli(), Expires: nb.Add(2 * rotation).UnixMilli(), Created: now.UnixMilli()}
	if err := s.st.CreateSigningKey(ctx, k); err != nil {
		return fmt.Errorf("store signing key: %w", err)
	}
	s.log.Info("new id_token signing key", "kid", kid, "alg", alg, "signs_from", nb.UTC().Format(time.RFC3339))
	return nil
}

// JWKS is the public key set of the provider: every key that signs, will
// sign or signed tokens that may still be valid.
func (s *Service) JWKS(ctx context.Context) (*jose.JSONWebKeySet, error) {
	if _, err := s.activeKey(ctx); err != nil { // makes the first key
		return nil, err
	}
	keys, err := s.keys(ctx, false)
	if err != nil {
		return nil, err
	}
	set := &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"})
	}
	return set, nil
}

// sign serializes claims as a JWT signed with the active key.
func (s *Service) sign(ctx context.Context, claims any) (string, error) {
	k, err := s.activeKey(ctx)
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", fmt.Errorf("signer: %w", err)
	}
	out, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("sign id_token: %w", err)
	}
	return out, nil
}

// verifyOwn checks the signature of a JWT this provider signed (an
// id_token_hint) and decodes its claims; times are not checked.
func (s *Service) verifyOwn(ctx context.Context, raw string, claims any) error {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil || len(tok.Headers) != 1 {
		return errors.New("not a signed JWT")
	}
	kid := tok.Headers[0].KeyID
	for _, force := range []bool{false, true} {
		keys, err := s.keys(ctx, force)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if k.kid == kid {
				if err := tok.Claims(k.priv.Public(), claims); err != nil {
					return errors.New("bad signature")
				}
				return nil
			}
		}
	}
	return errors.New("signed by an unknown key")
}
