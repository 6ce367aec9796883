package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
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
	if _, _, err := Load(f, nil); err == nil || !strings.Contains(err.Error(), "exclusiv") {
		t.Fatalf("unknown key: %v", err)
	}
	os.WriteFile(f, []byte("login:\n  exclusive: true\noauth2provider:\n  maxTokens: 2\n"), 0o600)
	cfg, warnings, err := Load(f, []string{"WAC_OAUTH2PROVIDER_MAX_TOKENS=4"})
	if err != nil || !cfg.Login.Exclusive || cfg.OAuth2Provider.MaxTokens != 4 || len(warnings) != 0 {
		t.Fatalf("file then environment: %+v %v %v", cfg.Login, warnings, err)
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

// The Janus session limits must be positive, and an error names the key.
func TestMediaSessionLimitsValidate(t *testing.T) {
	cfg := Default()
	cfg.Media.GrantTimeout, cfg.Media.MaxPendingSessions, cfg.Media.MaxPendingSessionsPerAddress = 0, -1, 0
	err := cfg.Validate()
	for _, key := range []string{"media.grantTimeout", "media.maxPendingSessions:", "media.maxPendingSessionsPerAddress"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("bad %s: %v", key, err)
		}
	}
}

// writeConfig writes a configuration file and returns its path.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(f, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// The seeds' configuration blocks of the services OpenWAC implements, as
// the seeds print them (000's invites block, 004 chapter 6's io, rooms,
// conferenceState, quickConference and watchdog blocks), in one config.json.
const seedsConfig = `{
"invites": {
  "basic": {
    "removeAfter": 10000,
    "resolveGroups": false,
    "resolvePush": false,
    "legacyUserGroupResolution": true,
    "wac": {
      "address": "http://wac:8000",
      "username": "admin@quobis",
      "password": "<YOUR_PASSWORD_HERE>"
    }
  },
  "parallelSip": false,
  "onlyOneDeviceWithInvitations": false
},
"io": {
"websockets": {
"iface": "0.0.0.0",
"port": 8118,
"protocol": "jt",
"ssl": {
"key": "/tls/key.pem",
"cert": "/tls/cert.pem"
}
}
},
"rooms": {
"collectionType": "janus",
"setOwner": true,
"updateRoomOnwerWhenLeaves": false,
"janusAddress": "http://dispatcher:8020",
"removeAfter": 0,
"participantsLimit": 5,
"notInACall": true,
"userIdAsRoomId": true
},
"conferenceState": {
"allowInvitesWhileInCall": true
},
"quickConference": {
"uriRegex": "^wac-conf\\d{20}$"
},
"watchdog": {
"invites": {
"period": 5000,
"expiration": 30000
}
}
}
`

// A configuration written the seeds' way loads: their values are read, and
// each key OpenWAC does not need is accepted with one warning that names it
// and says why it has no effect.
func TestSeedsConfigurationLoads(t *testing.T) {
	cfg, warnings, err := Load(writeConfig(t, seedsConfig), nil)
	if err != nil {
		t.Fatal(err)
	}
	b := cfg.Invites.Basic
	if b.RemoveAfter != 10*time.Second || b.ResolveGroups || b.ResolvePush || !b.LegacyUserGroupResolution ||
		cfg.Invites.OnlyOneDeviceWithInvitations {
		t.Errorf("invites: %+v", cfg.Invites)
	}
	if ws := cfg.IO.Websockets; ws.Iface != "0.0.0.0" || ws.Port != 8118 || ws.SSL.Key != "/tls/key.pem" || ws.SSL.Cert != "/tls/cert.pem" {
		t.Errorf("io.websockets: %+v", ws)
	}
	if r := cfg.Rooms; !r.SetOwner || r.UpdateRoomOwnerWhenLeaves || r.RemoveAfter != 0 || r.ParticipantsLimit != 5 ||
		!r.NotInACall || !r.UserIDAsRoomID {
		t.Errorf("rooms: %+v", r)
	}
	if cfg.QuickConference.URIRegex != `^wac-conf\d{20}$` || cfg.Watchdog.Invites.Period != 5*time.Second ||
		cfg.Watchdog.Invites.Expiration != 30*time.Second || !cfg.ConferenceState.AllowInvitesWhileInCall {
		t.Errorf("quickConference, watchdog, conferenceState: %+v %+v %+v", cfg.QuickConference, cfg.Watchdog, cfg.ConferenceState)
	}
	var keys []string
	for _, w := range warnings {
		keys = append(keys, w.Key)
		if w.Reason == "" || !strings.Contains(w.String(), w.Key) {
			t.Errorf("warning %q does not name its key and why", w.String())
		}
	}
	want := []string{"invites.basic.wac", "invites.parallelSip", "io.websockets.protocol", "rooms.collectionType", "rooms.janusAddress"}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("warnings for %v, want one each for %v", keys, want)
	}
	for _, w := range warnings {
		if strings.Contains(w.String(), "YOUR_PASSWORD") {
			t.Errorf("a warning repeats a value of the file: %s", w)
		}
	}
}

// Both of the seeds' spellings of the owner hand-over key are read as
// rooms.updateRoomOwnerWhenLeaves; a file that gives it twice is refused.
func TestSeedsOwnerHandOverSpellings(t *testing.T) {
	for _, key := range []string{"updateRoomOnwerWhenLeaves", "updateRoomWhenOwnerLeaves", "updateRoomOwnerWhenLeaves"} {
		cfg, warnings, err := Load(writeConfig(t, "rooms:\n  "+key+": true\n"), nil)
		if err != nil || !cfg.Rooms.UpdateRoomOwnerWhenLeaves || len(warnings) != 0 {
			t.Errorf("rooms.%s: true gave %v (warnings %v, err %v)", key, cfg.Rooms.UpdateRoomOwnerWhenLeaves, warnings, err)
		}
	}
	_, _, err := Load(writeConfig(t, "rooms:\n  updateRoomOwnerWhenLeaves: false\n  updateRoomOnwerWhenLeaves: true\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "rooms.updateRoomOnwerWhenLeaves") || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("both spellings: %v", err)
	}
	_, _, err = Load(writeConfig(t, "rooms:\n  updateRoomWhenOwnerLeaves: maybe\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "maybe") {
		t.Errorf("a bad value under the seeds' spelling: %v", err)
	}
}

// The seeds' keys whose value asks for what OpenWAC does not have, and the
// seeds' services it does not implement, stop start-up saying why.
func TestSeedsKeysRefused(t *testing.T) {
	for _, c := range []struct{ file, want string }{
		{"invites:\n  parallelSip: true\n", "config key invites.parallelSip: true cannot be honoured: OpenWAC has no parallel SIP"},
		{"io:\n  websockets:\n    protocol: socket.io\n", `config key io.websockets.protocol: "socket.io" cannot be honoured`},
		{"trunk:\n  address: pbx.example\n  transport: sctp\n", `config key trunk.transport: "sctp" is not udp or tcp`},
		{"trunk:\n  match: '^tel:(.*$'\n", "config key trunk.match: is not a regular expression"},
		{"trunk:\n  address: 'pbx:5060'\n", `config key trunk.address: "pbx:5060" is not a host name or IP`},
		{"trunk:\n  address: pbx.example\n  codecs: [g729]\n", `config key trunk.codecs: "g729" is not pcmu, pcma or opus`},
		{"trunk:\n  address: pbx.example\n  register: true\n  registerExpires: 5\n", "config key trunk.registerExpires: must be between 10s and 24h"},
	} {
		_, _, err := Load(writeConfig(t, c.file), nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.file, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "not found in type") {
			t.Errorf("%q: the refusal also reports an unknown key: %v", c.file, err)
		}
	}
}

// A key in neither OpenWAC nor the seeds still fails with the decoder's
// message and its line, next to the seeds' keys.
func TestUnknownKeyNextToSeedsKeys(t *testing.T) {
	f := writeConfig(t, "rooms:\n  janusAddress: http://dispatcher:8020\n  collectionTyp: janus\n")
	_, _, err := Load(f, nil)
	want := "config " + f + ": yaml: unmarshal errors:\n  line 3: field collectionTyp not found in type config.Rooms"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	f = writeConfig(t, "login:\n  exclusiv: true\n")
	_, _, err = Load(f, nil)
	want = "config " + f + ": yaml: unmarshal errors:\n  line 2: field exclusiv not found in type config.Login"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}

// Every key of SeedKeys has a row in docs/configuration.md's table of the
// seeds' keys, saying what it is read as or why it is ignored or refused.
func TestEverySeedKeyDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(doc), "\n## Keys from the seeds\n")
	if !ok {
		t.Fatal("docs/configuration.md has no section Keys from the seeds")
	}
	table, _, _ = strings.Cut(table, "\n## ")
	for _, k := range SeedKeys() {
		i := strings.Index(table, "| `"+k.Path+"`")
		if i < 0 {
			t.Errorf("no row for the seeds' key %s", k.Path)
			continue
		}
		row, _, _ := strings.Cut(table[i:], "\n")
		switch {
		case k.Alias != "" && !strings.Contains(row, "`"+k.Alias+"`"):
			t.Errorf("the row of %s does not name %s: %s", k.Path, k.Alias, row)
		case k.Ignored != "" && !strings.Contains(row, "ignored"):
			t.Errorf("the row of %s does not say it is ignored: %s", k.Path, row)
		case k.Refused != "" && !strings.Contains(row, "refused"):
			t.Errorf("the row of %s does not say it is refused: %s", k.Path, row)
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

// The seeds' oauth2client block and OAuth2 login options are read: the
// providers directory and the three login options take effect, the
// interface keys are ignored with a warning.
func TestSeedsOAuth2ClientAccepted(t *testing.T) {
	f := writeConfig(t, "oauth2client:\n  wiface: public\n  secure: true\n  providers: config/oauth2/providers\n"+
		"login:\n  createOAuthUser: true\n  OAuthUserForcedDomain: example.org\n  newUserCaps: \"+call-history,+change-camera,-chat\"\n")
	cfg, warnings, err := Load(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OAuth2Client.Providers != "config/oauth2/providers" || !cfg.Login.CreateOAuthUser ||
		cfg.Login.OAuthUserForcedDomain != "example.org" {
		t.Errorf("not read: %+v %+v", cfg.OAuth2Client, cfg.Login)
	}
	if got := NewUserCaps(cfg.Login.NewUserCaps); len(got) != 3 || got[2] != "-chat" {
		t.Errorf("newUserCaps: %q", got)
	}
	var keys []string
	for _, w := range warnings {
		keys = append(keys, w.Key)
	}
	if strings.Join(keys, ",") != "oauth2client.wiface,oauth2client.secure" {
		t.Errorf("warnings: %v", keys)
	}
	_, _, err = Load(writeConfig(t, "login:\n  newUserCaps: call-history\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "login.newUserCaps") {
		t.Errorf("a capability without + or -: %v", err)
	}
	_, _, err = Load(writeConfig(t, "oauth2client:\n  encryptionKey: c2hvcnQ=\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "oauth2client.encryptionKey") {
		t.Errorf("a short key: %v", err)
	}
}

// trunk.codecs takes opus next to G.711, in any order, in any case.
func TestTrunkCodecsOpus(t *testing.T) {
	cfg, _, err := Load(writeConfig(t, "trunk:\n  address: pbx.example\n  codecs: [OPUS, pcmu]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Trunk.Codecs, ","); got != "OPUS,pcmu" {
		t.Fatalf("trunk.codecs %s", got)
	}
}
