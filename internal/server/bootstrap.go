package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/openwac/wac/internal/auth"
	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/store"
)

// AdminPasswordEnv is the variable that sets the first admin's password.
const AdminPasswordEnv = "WAC_ADMIN_PASSWORD"

// AdminPasswordFile is where a generated first admin password is kept.
const AdminPasswordFile = "admin-password"

// Bootstrap creates, on the first start, the default domain and the admin
// user admin@<default domain>. The password comes from WAC_ADMIN_PASSWORD,
// or is generated, printed once to out and written to a 0600 file in the
// data directory. Later starts change nothing. Nodes starting together on
// one database agree: the loser of a race finds the winner's records.
func Bootstrap(ctx context.Context, st store.Store, a *auth.Service, cfg *config.Config, log *slog.Logger, out io.Writer, environ []string) error {
	name := strings.ToLower(cfg.DefaultDomain)
	d, err := st.GetDomainByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		d = &store.Domain{Name: name, Services: map[string][]string{}}
		err = st.CreateDomain(ctx, d)
		if _, conflict := store.IsConflict(err); conflict {
			d, err = st.GetDomainByName(ctx, name)
		} else if err == nil {
			log.Info("created the default domain", "domain", name)
		}
	}
	if err != nil {
		return fmt.Errorf("bootstrap default domain %q: %w", name, err)
	}
	if _, err := st.GetUserByName(ctx, d.ID, "admin"); err == nil {
		if envValue(environ, AdminPasswordEnv) != "" {
			account := "admin@" + name
			log.Warn(AdminPasswordEnv+" is set but changes nothing: it only sets the password of "+account+
				" when the first start creates it, and this data directory already has it. Change the password with "+
				"`wac user passwd "+account+"`, then unset "+AdminPasswordEnv,
				"user", account)
		}
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("bootstrap admin: %w", err)
	}
	password, generated := envValue(environ, AdminPasswordEnv), false
	if password == "" {
		password, generated = generatePassword(), true
	} else if len(password) < cfg.Password.MinLength {
		return fmt.Errorf("%s is shorter than password.minLength (%d)", AdminPasswordEnv, cfg.Password.MinLength)
	}
	hash, err := a.Hasher().Hash(ctx, password)
	if err != nil {
		return err
	}
	admin := &store.User{DomainID: d.ID, Username: "admin", Role: store.RoleAdmin}
	err = st.InTx(ctx, func(tx store.Store) error {
		if err := tx.CreateUser(ctx, admin); err != nil {
			return err
		}
		return tx.CreateCredential(ctx, &store.Credential{Source: "wac", Type: "basic", DomainID: d.ID,
			UserID: admin.ID, Data: map[string]any{"hash": hash}})
	})
	if _, conflict := store.IsConflict(err); conflict {
		return nil // another node created it first
	}
	if err != nil {
		return fmt.Errorf("bootstrap admin: %w", err)
	}
	account := "admin@" + name
	if !generated {
		log.Info("created the admin user with the password from "+AdminPasswordEnv, "user", account)
		return nil
	}
	path := filepath.Join(cfg.DataDir, AdminPasswordFile)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory %s: %w", cfg.DataDir, err)
	}
	if err := os.WriteFile(path, []byte(password+"\n"), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	fmt.Fprintf(out, "\n  Created the admin user %s\n  Password: %s\n  (shown once; also saved in %s, readable by you only)\n\n",
		account, password, path)
	log.Info("created the admin user with a generated password", "user", account, "password_file", path)
	return nil
}

func envValue(environ []string, name string) string {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}

// generatePassword returns 26 random base32 characters (128 bits).
func generatePassword() string { return rand.Text() }
