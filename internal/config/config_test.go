package config

import (
	"os"
	"strings"
	"testing"
)

func TestEnvOverrides(t *testing.T) {
	cfg := Default()
	err := ApplyEnv(&cfg, []string{
		"WAC_LOGIN_EXCLUSIVE=true", "WAC_OAUTH2PROVIDER_MAX_TOKENS=3", "WAC_HTTP_RPS=7.5",
		"WAC_ROLES=api, signaling", "WAC_WIFACE_PUBLIC_PORT_SECURE=8443",
		"WAC_PASSWORD_PARALLELISM=2", "PATH=/bin", "WAC_UNKNOWN=1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Login.Exclusive || cfg.OAuth2Provider.MaxTokens != 3 || cfg.HTTP.RPS != 7.5 ||
		len(cfg.Roles) != 2 || cfg.Roles[1] != "signaling" || cfg.Wiface.Public.PortSecure != 8443 || cfg.Password.Parallelism != 2 {
		t.Fatalf("overrides not applied: %+v", cfg)
	}
	if EnvName("login.OAuthUserForcedDomain") != "WAC_LOGIN_OAUTH_USER_FORCED_DOMAIN" || EnvName("wiface.public.port_secure") != "WAC_WIFACE_PUBLIC_PORT_SECURE" {
		t.Fatalf("env name %s", EnvName("login.OAuthUserForcedDomain"))
	}
	err = ApplyEnv(&cfg, []string{"WAC_PASSWORD_PARALLELISM=300", "WAC_HTTP_RPS=fast"})
	if err == nil || !strings.Contains(err.Error(), "WAC_PASSWORD_PARALLELISM") || !strings.Contains(err.Error(), "WAC_HTTP_RPS") {
		t.Fatalf("bad values: %v", err)
	}
}

func TestDefaultsValidate(t *testing.T) {
	cfg := Default()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.Database.Driver = "postgres"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "database.dsn") {
		t.Fatalf("postgres without dsn: %v", err)
	}
	cfg = Default()
	cfg.Runtime.GCPercent, cfg.Runtime.MemoryLimit, cfg.Runtime.Procs = 0, -5, -1
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "runtime.gcPercent") || !strings.Contains(err.Error(), "runtime.memoryLimit") ||
		!strings.Contains(err.Error(), "runtime.procs") {
		t.Fatalf("bad runtime values: %v", err)
	}
}

func TestLoadRejectsUnknownKeys(t *testing.T) {
	f := t.TempDir() + "/c.yaml"
	os.WriteFile(f, []byte("login:\n  exclusiv: true\n"), 0o600)
	if _, err := Load(f, nil); err == nil || !strings.Contains(err.Error(), "exclusiv") {
		t.Fatalf("unknown key: %v", err)
	}
	os.WriteFile(f, []byte("login:\n  exclusive: true\noauth2provider:\n  maxTokens: 2\n"), 0o600)
	cfg, err := Load(f, []string{"WAC_OAUTH2PROVIDER_MAX_TOKENS=4"})
	if err != nil || !cfg.Login.Exclusive || cfg.OAuth2Provider.MaxTokens != 4 {
		t.Fatalf("file then environment: %+v %v", cfg.Login, err)
	}
}

// Every key is documented in docs/configuration.md with its environment
// variable and its default.
func TestEveryKeyDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	for _, k := range Keys() {
		if k.Doc == "" {
			t.Errorf("key %s has no doc tag", k.Path)
		}
		row := "| `" + k.Path + "` |"
		i := strings.Index(text, row)
		if i < 0 {
			t.Errorf("docs/configuration.md has no row for %s", k.Path)
			continue
		}
		line := text[i:]
		if j := strings.IndexByte(line, '\n'); j >= 0 {
			line = line[:j]
		}
		if !strings.Contains(line, "`"+k.Env+"`") {
			t.Errorf("the row of %s does not give %s", k.Path, k.Env)
		}
		if !strings.Contains(line, "`"+k.Default+"`") && !(k.Default == "" && strings.Contains(line, "(empty)")) {
			t.Errorf("the row of %s does not give the default %q", k.Path, k.Default)
		}
	}
}

// The HTTP server's keys are checked, each error naming its key.
func TestHTTPKeysValidate(t *testing.T) {
	cfg := Default()
	cfg.HTTP.ReadTimeout, cfg.HTTP.ReadHeaderTimeout, cfg.HTTP.IdleTimeout, cfg.HTTP.ShutdownTimeout = 0, -1, 0, -1
	cfg.HTTP.CSPConnectSrc = []string{"wss://ok.example.com", "wss://a.example.com; script-src *", ""}
	cfg.Metrics.Token = "short"
	err := cfg.Validate()
	for _, key := range []string{"http.readTimeout", "http.readHeaderTimeout", "http.idleTimeout", "http.shutdownTimeout",
		`http.cspConnectSrc: "wss://a.example.com; script-src *"`, `http.cspConnectSrc: ""`, "metrics.token"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("bad value of %s: %v", key, err)
		}
	}
	if err != nil && strings.Contains(err.Error(), "ok.example.com") {
		t.Errorf("a good connect source refused: %v", err)
	}
	cfg = Default()
	cfg.HTTP.ShutdownTimeout = 0 // cancel at once
	cfg.Metrics.Token = "a-long-enough-token-1"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}
