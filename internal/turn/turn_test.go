package turn_test

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	pionturn "github.com/pion/turn/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/turn"
)

var secret = []byte("cluster secret for the TURN tests")

func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func testConfig(t *testing.T) config.TURN {
	cfg := config.Default().TURN
	cfg.Host, cfg.ListenIP = "127.0.0.1", "127.0.0.1"
	cfg.UDPPort, cfg.TCPPort = freePort(t, "udp"), freePort(t, "tcp")
	base := 20000 + int(time.Now().UnixNano()%20000)
	cfg.RelayStartPort, cfg.RelayEndPort = base, base+200
	return cfg
}

func start(t *testing.T, cfg config.TURN, allow ...net.IP) *turn.Server {
	t.Helper()
	reg := prometheus.NewRegistry()
	s, err := turn.New(cfg, turn.Options{ClusterSecret: secret, Allow: allow, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func client(t *testing.T, s *turn.Server, user, pass string) *pionturn.Client {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := pionturn.NewClient(&pionturn.ClientConfig{STUNServerAddr: s.Addr("udp"), TURNServerAddr: s.Addr("udp"),
		Username: user, Password: pass, Realm: "openwac", Conn: conn, RTO: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); conn.Close() })
	return c
}

func TestICEServersShape(t *testing.T) {
	cfg := config.Default().TURN
	cfg.Host, cfg.TLSPort = "turn.example.com", 443
	now := time.Unix(1700000000, 0)
	list := turn.ICEServers(secret, "5da6e65772aa8c46876107d6", cfg, now)
	if len(list) != 2 {
		t.Fatalf("ice list %+v", list)
	}
	if list[0].URLs[0] != "stun:turn.example.com:3478" || list[0].Username != "" {
		t.Errorf("stun entry %+v", list[0])
	}
	want := []string{"turn:turn.example.com:3478?transport=udp", "turn:turn.example.com:3478?transport=tcp", "turns:turn.example.com:443?transport=tcp"}
	if strings.Join(list[1].URLs, " ") != strings.Join(want, " ") {
		t.Errorf("turn urls %v", list[1].URLs)
	}
	if list[1].Username != strconv.FormatInt(now.Unix()+86400, 10)+":5da6e65772aa8c46876107d6" || list[1].Credential == "" {
		t.Errorf("credential %+v", list[1])
	}
	cfg.Host = ""
	if l := turn.ICEServers(secret, "u", cfg, now); len(l) != 0 {
		t.Errorf("no host, yet %+v", l)
	}
	cfg.Secret = "shared"
	u, p := turn.Credentials("shared", "u", now)
	if u != "1700000000:u" || p != "qzmoKvO7ezV+y1vojn+WqM2mw4g=" {
		t.Errorf("REST credentials %s %s", u, p)
	}
}

// The server takes the REST credentials it hands out, refuses bad or
// expired ones, answers STUN, and relays only to allowed peers.
func TestAllocatePermissionsAndRelay(t *testing.T) {
	cfg := testConfig(t)
	cfg.DeniedPeers = []string{"127.0.0.0/8"}
	s := start(t, cfg, net.ParseIP("127.0.0.1"))
	list := turn.ICEServers(secret, "alice", cfg, time.Now())
	creds := list[len(list)-1]

	c := client(t, s, creds.Username, creds.Credential)
	mapped, err := c.SendBindingRequest()
	if err != nil || !strings.HasPrefix(mapped.String(), "127.0.0.1:") {
		t.Fatalf("STUN binding: %v %v", mapped, err)
	}
	relay, err := c.Allocate()
	if err != nil {
		t.Fatalf("allocate with valid credentials: %v", err)
	}
	defer relay.Close()
	if s.Allocations() != 1 {
		t.Errorf("allocations = %d", s.Allocations())
	}
	if err := c.CreatePermission(&net.UDPAddr{IP: net.ParseIP("127.0.0.2"), Port: 9}); err == nil {
		t.Error("permission to a denied peer was granted")
	}
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if _, err := relay.WriteTo([]byte("through the relay"), peer.LocalAddr()); err != nil {
		t.Fatalf("relay to an allowed peer: %v", err)
	}
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 100)
	n, from, err := peer.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "through the relay" || from.String() != relay.LocalAddr().String() {
		t.Fatalf("peer got %q from %v (relay %v): %v", buf[:n], from, relay.LocalAddr(), err)
	}

	bad := client(t, s, creds.Username, "wrong password")
	if r, err := bad.Allocate(); err == nil {
		r.Close()
		t.Error("allocation with a wrong password")
	}
	expiredUser, expiredPass := turn.Credentials(turn.Secret(secret, cfg), "alice", time.Now().Add(-time.Minute))
	old := client(t, s, expiredUser, expiredPass)
	if r, err := old.Allocate(); err == nil {
		r.Close()
		t.Error("allocation with expired credentials")
	}
}
