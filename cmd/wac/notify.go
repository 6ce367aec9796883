package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/openwac/wac/internal/push"
	"github.com/openwac/wac/internal/sms"
	"github.com/openwac/wac/internal/store"
)

// cmdNotify sends a test push or SMS with the configured services, so that
// an administrator sees at once whether the keys and backends work.
func cmdNotify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("notify: want push or sms")
	}
	var c common
	fs := flag.NewFlagSet("notify "+args[0], flag.ContinueOnError)
	c.register(fs, false)
	switch args[0] {
	case "push":
		text := fs.String("text", "OpenWAC test notification", "text the push shows")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return usagef("notify push: want one USER@DOMAIN")
		}
		return notifyPush(ctx, &c, fs.Arg(0), *text, stdout, stderr)
	case "sms":
		to := fs.String("to", "", "phone number (MSISDN)")
		lang := fs.String("language", "", "language folder of the template")
		data := fs.String("json", "{}", "the template's data, a JSON object")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		if fs.NArg() != 2 || *to == "" {
			return usagef("notify sms: want --to NUMBER, a DOMAIN and a TEMPLATE")
		}
		var values map[string]any
		if err := json.Unmarshal([]byte(*data), &values); err != nil {
			return fmt.Errorf("notify sms: --json: %w", err)
		}
		cfg, _, err := c.load()
		if err != nil {
			return err
		}
		svc, err := sms.New(cfg, sms.Options{})
		if err != nil {
			return err
		}
		if !svc.Enabled() {
			return fmt.Errorf("no SMS backend: set sendsms.backend (docs/notifications.md)")
		}
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		l, err := svc.SendLang(ctx, fs.Arg(0), *to, fs.Arg(1), *lang, values)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "sent: %d part(s), %s, %d units\n", l.Parts, l.Encoding, l.Units)
		return nil
	}
	return usagef("notify: unknown %q (want push or sms)", args[0])
}

// notifyPush sends a test alert to every push token of a user and prints
// what each service answered.
func notifyPush(ctx context.Context, c *common, target, text string, stdout, stderr io.Writer) error {
	name, domain, ok := strings.Cut(target, "@")
	if !ok {
		return usagef("notify push: %q is not USER@DOMAIN", target)
	}
	env, err := openAdmin(ctx, c, stderr)
	if err != nil {
		return err
	}
	defer env.st.Close()
	svc, err := push.New(ctx, env.cfg, push.Options{Store: env.st})
	if err != nil {
		return err
	}
	if !svc.Enabled() {
		return fmt.Errorf("no push service: set push.apns.apnkeyId or push.fcm.firebaseKey (docs/notifications.md)")
	}
	d, err := env.st.GetDomainByName(ctx, strings.ToLower(domain))
	if err != nil {
		return fmt.Errorf("domain %q: %w", domain, err)
	}
	u, err := env.st.GetUserByName(ctx, d.ID, name)
	if err != nil {
		return fmt.Errorf("user %q: %w", target, err)
	}
	toks, err := env.st.ListPushTokens(ctx, u.ID, nil, store.Page{})
	if err != nil {
		return err
	}
	if len(toks) == 0 {
		return fmt.Errorf("%s has no push token (the app registers them with POST /sapi/pushTokens)", target)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOKEN\tTYPE\tDEVICE\tRESULT")
	failed := 0
	for _, t := range toks {
		res := "sent"
		if err := svc.Send(ctx, t, &push.Message{Type: "test", Info: map[string]any{"text": text}, Alert: text, TTL: time.Minute}); err != nil {
			res, failed = err.Error(), failed+1
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.ID, t.TokenType, t.DeviceID, res)
	}
	tw.Flush()
	if failed > 0 {
		return fmt.Errorf("%d of %d pushes failed", failed, len(toks))
	}
	return nil
}
