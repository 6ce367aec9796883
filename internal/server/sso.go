package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/openwac/wac/internal/auth/federation"
)

// ClusterSecret returns the secret every node of the database shares,
// making it on the first start.
func (s *Server) ClusterSecret(ctx context.Context) ([]byte, error) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	secret, err := s.Store.SettingOrInit(ctx, "cluster-secret", hex.EncodeToString(b[:]))
	if err != nil {
		return nil, fmt.Errorf("load cluster secret: %w", err)
	}
	return []byte(secret), nil
}

// enableSSO keys the OpenID Connect provider (signing keys, forms) from
// the cluster secret.
func (s *Server) enableSSO(ctx context.Context) error {
	secret, err := s.ClusterSecret(ctx)
	if err != nil {
		return err
	}
	if err := s.Auth.EnableSSO(secret); err != nil {
		return err
	}
	if err := s.API.EnableSSO(secret); err != nil {
		return err
	}
	fed, err := federation.New(ctx, s.Store, s.Auth, s.Config, s.Log, secret)
	if err != nil {
		return err
	}
	s.Federation = fed
	s.API.SetFederation(fed)
	return nil
}
