package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/openwac/wac/internal/auth"
	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/logging"
	"github.com/openwac/wac/internal/sapi"
	"github.com/openwac/wac/internal/server"
	"github.com/openwac/wac/internal/store"
)

// adminEnv is an open store for an admin command.
type adminEnv struct {
	cfg  *config.Config
	st   *store.SQL
	auth *auth.Service
}

func openAdmin(ctx context.Context, c *common, stderr io.Writer) (*adminEnv, error) {
	cfg, _, err := c.load() // the warnings are serve's and migrate's
	if err != nil {
		return nil, err
	}
	log, err := newLogger(cfg, stderr)
	if err != nil {
		return nil, err
	}
	st, err := server.OpenStore(ctx, cfg, logging.Discard())
	if err != nil {
		return nil, err
	}
	return &adminEnv{cfg: cfg, st: st, auth: auth.New(st, cfg, log)}, nil
}

func cmdDomain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("domain: want create or list")
	}
	var c common
	fs := flag.NewFlagSet("domain "+args[0], flag.ContinueOnError)
	c.register(fs, false)
	switch args[0] {
	case "create":
		parent := fs.String("parent", "", "parent domain name")
		anonymous := fs.Bool("anonymous", false, "accept anonymous users")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return usagef("domain create: want one domain name")
		}
		name := strings.ToLower(fs.Arg(0))
		if !sapi.DomainNamePattern.MatchString(name) {
			return fmt.Errorf("%q is not a valid domain name (letters, digits, dots and hyphens)", fs.Arg(0))
		}
		env, err := openAdmin(ctx, &c, stderr)
		if err != nil {
			return err
		}
		defer env.st.Close()
		d := &store.Domain{Name: name, EnableAnonymous: *anonymous, Services: map[string][]string{}}
		if *parent != "" {
			p, err := env.st.GetDomainByName(ctx, strings.ToLower(*parent))
			if err != nil {
				return fmt.Errorf("parent domain %q: %w", *parent, err)
			}
			d.ParentID = p.ID
		}
		if err := env.st.CreateDomain(ctx, d); err != nil {
			if _, ok := store.IsConflict(err); ok {
				return fmt.Errorf("domain %q already exists", name)
			}
			return err
		}
		fmt.Fprintf(stdout, "created domain %s (id %s)\n", d.Name, d.ID)
		return nil
	case "list":
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		env, err := openAdmin(ctx, &c, stderr)
		if err != nil {
			return err
		}
		defer env.st.Close()
		list, err := env.st.ListDomains(ctx)
		if err != nil {
			return err
		}
		byID := map[string]string{}
		for _, d := range list {
			byID[d.ID] = d.Name
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tDOMAIN\tPARENT\tANONYMOUS")
		for _, d := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%v\n", d.ID, d.Name, byID[d.ParentID], d.EnableAnonymous)
		}
		return tw.Flush()
	}
	return usagef("domain: unknown subcommand %q", args[0])
}

func cmdUser(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("user: want create, list or passwd")
	}
	var c common
	fs := flag.NewFlagSet("user "+args[0], flag.ContinueOnError)
	c.register(fs, false)
	switch args[0] {
	case "create":
		role := fs.String("role", store.RoleUser, "admin or user")
		email := fs.String("email", "", "email address")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return usagef("user create: want one USER@DOMAIN")
		}
		if *role != store.RoleAdmin && *role != store.RoleUser {
			return fmt.Errorf("--role %q: want admin or user", *role)
		}
		env, err := openAdmin(ctx, &c, stderr)
		if err != nil {
			return err
		}
		defer env.st.Close()
		username, domainName := env.auth.SplitUsername(fs.Arg(0))
		// A name without @domain is in the default domain: say so, as
		// the user may have meant another.
		defaulted := !strings.Contains(fs.Arg(0), "@")
		if !sapi.UsernamePattern.MatchString(username) {
			return fmt.Errorf("%q is not a valid username (1-64 letters, digits, '.', '_', '+' or '-')", username)
		}
		d, err := env.st.GetDomainByName(ctx, domainName)
		if errors.Is(err, store.ErrNotFound) && defaulted {
			return fmt.Errorf("%q names no domain, so the user would be in the default domain %q (config key defaultDomain), "+
				"which does not exist yet: start `wac serve` once (it creates it), or run `wac domain create %s`, "+
				"or give the user as USER@DOMAIN", fs.Arg(0), domainName, domainName)
		}
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("domain %q does not exist (create it with `wac domain create %s`)", domainName, domainName)
		}
		if err != nil {
			return err
		}
		password, err := readPassword(stdin, stderr, env.cfg.Password.MinLength)
		if err != nil {
			return err
		}
		hash, err := env.auth.Hasher().Hash(ctx, password)
		if err != nil {
			return err
		}
		u := &store.User{DomainID: d.ID, Username: username, Role: *role, Email: *email}
		err = env.st.InTx(ctx, func(tx store.Store) error {
			if err := tx.CreateUser(ctx, u); err != nil {
				return err
			}
			return tx.CreateCredential(ctx, &store.Credential{Source: "wac", Type: "basic", DomainID: d.ID,
				UserID: u.ID, Data: map[string]any{"hash": hash}})
		})
		if _, ok := store.IsConflict(err); ok {
			return fmt.Errorf("user %s@%s already exists", username, domainName)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created %s %s@%s (id %s)\n", u.Role, u.Username, domainName, u.ID)
		if defaulted {
			fmt.Fprintf(stdout, "%q names no domain: the user is in the default domain %s (config key defaultDomain)\n",
				fs.Arg(0), domainName)
		}
		return nil
	case "list":
		domainFlag := fs.String("domain", "", "only users of this domain")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		env, err := openAdmin(ctx, &c, stderr)
		if err != nil {
			return err
		}
		defer env.st.Close()
		var f store.UserFilter
		if *domainFlag != "" {
			d, err := env.st.GetDomainByName(ctx, strings.ToLower(*domainFlag))
			if err != nil {
				return fmt.Errorf("domain %q: %w", *domainFlag, err)
			}
			f.DomainIDs = []string{d.ID}
		}
		users, err := env.st.ListUsers(ctx, f, store.Page{Limit: 1000})
		if err != nil {
			return err
		}
		names := map[string]string{}
		domains, err := env.st.ListDomains(ctx)
		if err != nil {
			return err
		}
		for _, d := range domains {
			names[d.ID] = d.Name
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tUSER\tROLE\tEMAIL\tLAST LOGIN")
		for _, u := range users {
			last := "never"
			if u.LastLogin > 0 {
				last = time.UnixMilli(u.LastLogin).UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s@%s\t%s\t%s\t%s\n", u.ID, u.Username, names[u.DomainID], u.Role, u.Email, last)
		}
		return tw.Flush()
	case "passwd":
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return usagef("user passwd: want one USER@DOMAIN")
		}
		env, err := openAdmin(ctx, &c, stderr)
		if err != nil {
			return err
		}
		defer env.st.Close()
		username, domainName := env.auth.SplitUsername(fs.Arg(0))
		d, err := env.st.GetDomainByName(ctx, domainName)
		if err != nil {
			return fmt.Errorf("domain %q: %w", domainName, err)
		}
		u, err := env.st.GetUserByName(ctx, d.ID, username)
		if err != nil {
			return fmt.Errorf("user %s@%s: %w", username, domainName, err)
		}
		password, err := readPassword(stdin, stderr, env.cfg.Password.MinLength)
		if err != nil {
			return err
		}
		hash, err := env.auth.Hasher().Hash(ctx, password)
		if err != nil {
			return err
		}
		err = env.st.InTx(ctx, func(tx store.Store) error {
			cred, err := tx.GetBasicCredential(ctx, u.ID)
			if errors.Is(err, store.ErrNotFound) {
				return tx.CreateCredential(ctx, &store.Credential{Source: "wac", Type: "basic", DomainID: d.ID,
					UserID: u.ID, Data: map[string]any{"hash": hash}})
			}
			if err != nil {
				return err
			}
			cred.Data = map[string]any{"hash": hash}
			if err := tx.UpdateCredential(ctx, cred); err != nil {
				return err
			}
			_, err = tx.DeleteUserTokens(ctx, u.ID) // sessions end with the old password
			return err
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "password of %s@%s changed; its tokens were revoked (a running server stops accepting them within 30 s)\n", username, domainName)
		return nil
	}
	return usagef("user: unknown subcommand %q", args[0])
}

// readPassword reads one line from stdin, so that passwords stay out of
// shell history and process listings.
func readPassword(stdin io.Reader, stderr io.Writer, minLen int) (string, error) {
	fmt.Fprint(stderr, "password (read from standard input): ")
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", fmt.Errorf("read password from standard input: %w", err)
	}
	fmt.Fprintln(stderr)
	pw := strings.TrimRight(line, "\r\n")
	if len(pw) < minLen {
		return "", fmt.Errorf("the password must be at least %d characters (password.minLength)", minLen)
	}
	return pw, nil
}
