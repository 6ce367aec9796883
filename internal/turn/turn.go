// Package turn runs the embedded TURN/STUN server of a media node (Pion
// TURN) and hands out its time-limited credentials.
//
// Credentials follow the TURN REST scheme that coturn's static-auth-secret
// also uses: the username is "<expiry unix seconds>:<user id>" and the
// password is base64(HMAC-SHA1(secret, username)). The secret is turn.secret
// or, when that is empty, one derived from the cluster secret, so every node
// of a cluster can mint credentials that every TURN server accepts.
//
// Relays may not reach private, loopback and link-local networks
// (turn.deniedPeers) unless allowed (turn.allowedPeers and the media nodes'
// own addresses), so the server cannot be used to scan the inside of the
// network it stands in.
package turn

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	pionturn "github.com/pion/turn/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/pionlog"
	"github.com/openwac/wac/internal/qss/wire"
)

// Secret is the shared secret of the TURN REST credentials: turn.secret,
// or a key derived from the cluster secret.
func Secret(clusterSecret []byte, cfg config.TURN) string {
	if cfg.Secret != "" {
		return cfg.Secret
	}
	h := hmac.New(sha256.New, clusterSecret)
	h.Write([]byte("openwac turn rest secret"))
	return hex.EncodeToString(h.Sum(nil))
}

// Credentials returns a TURN REST username and password for userID valid
// until expires.
func Credentials(secret, userID string, expires time.Time) (username, password string) {
	username = strconv.FormatInt(expires.Unix(), 10) + ":" + userID
	h := hmac.New(sha1.New, []byte(secret))
	h.Write([]byte(username))
	return username, base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// ICEServers returns the STUN and TURN servers a client of userID should
// use, with TURN credentials valid for turn.credentialTtl from now. It is
// empty when turn.host is not set (the clients could not reach the server)
// and only lists turn.stunServers when TURN is disabled.
func ICEServers(clusterSecret []byte, userID string, cfg config.TURN, now time.Time) []wire.ICEServer {
	var out []wire.ICEServer
	if len(cfg.STUNServers) > 0 {
		out = append(out, wire.ICEServer{URLs: append([]string(nil), cfg.STUNServers...)})
	}
	if !cfg.Enabled || cfg.Host == "" {
		return out
	}
	host := cfg.Host
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") { // IPv6 literal
		host = "[" + host + "]"
	}
	var stun, turn []string
	if cfg.UDPPort != 0 {
		stun = append(stun, fmt.Sprintf("stun:%s:%d", host, cfg.UDPPort))
		turn = append(turn, fmt.Sprintf("turn:%s:%d?transport=udp", host, cfg.UDPPort))
	}
	if cfg.TCPPort != 0 {
		turn = append(turn, fmt.Sprintf("turn:%s:%d?transport=tcp", host, cfg.TCPPort))
	}
	if cfg.TLSPort != 0 {
		turn = append(turn, fmt.Sprintf("turns:%s:%d?transport=tcp", host, cfg.TLSPort))
	}
	if len(stun) > 0 {
		out = append(out, wire.ICEServer{URLs: stun})
	}
	user, pass := Credentials(Secret(clusterSecret, cfg), userID, now.Add(cfg.CredentialTTL))
	out = append(out, wire.ICEServer{URLs: turn, Username: user, Credential: pass})
	return out
}

// Options are what a TURN server needs besides its configuration.
type Options struct {
	// ClusterSecret derives the credential secret when turn.secret is empty.
	ClusterSecret []byte
	// Allow are peer addresses always allowed (the media nodes' addresses),
	// even inside a denied network.
	Allow []net.IP
	Log   *slog.Logger
	// Registry receives the TURN metrics; nil = none.
	Registry prometheus.Registerer
}

// Server is a running TURN/STUN server.
type Server struct {
	srv    *pionturn.Server
	log    *slog.Logger
	addrs  map[string]string
	allocs atomic.Int64
	denied atomic.Int64
	closed atomic.Bool
	unreg  func()
}

// New starts the TURN server on the configured listeners.
func New(cfg config.TURN, opts Options) (*Server, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{log: opts.Log, addrs: map[string]string{}}
	relayIP, err := relayAddress(cfg)
	if err != nil {
		return nil, err
	}
	listenIP := cfg.ListenIP
	if listenIP == "" {
		listenIP = "0.0.0.0"
	}
	gen := &pionturn.RelayAddressGeneratorPortRange{
		RelayAddress: relayIP,
		Address:      listenIP,
		MinPort:      uint16(cfg.RelayStartPort),
		MaxPort:      uint16(cfg.RelayEndPort),
	}
	perm, err := s.permissions(cfg, opts.Allow)
	if err != nil {
		return nil, err
	}
	var pcs []pionturn.PacketConnConfig
	var lns []pionturn.ListenerConfig
	closeAll := func() {
		for _, p := range pcs {
			p.PacketConn.Close()
		}
		for _, l := range lns {
			l.Listener.Close()
		}
	}
	if cfg.UDPPort != 0 {
		pc, err := net.ListenPacket("udp4", net.JoinHostPort(listenIP, strconv.Itoa(cfg.UDPPort)))
		if err != nil {
			return nil, fmt.Errorf("listen TURN UDP (config key turn.udpPort): %w", err)
		}
		s.addrs["udp"] = pc.LocalAddr().String()
		pcs = append(pcs, pionturn.PacketConnConfig{PacketConn: pc, RelayAddressGenerator: gen, PermissionHandler: perm})
	}
	if cfg.TCPPort != 0 {
		ln, err := net.Listen("tcp4", net.JoinHostPort(listenIP, strconv.Itoa(cfg.TCPPort)))
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("listen TURN TCP (config key turn.tcpPort): %w", err)
		}
		s.addrs["tcp"] = ln.Addr().String()
		lns = append(lns, pionturn.ListenerConfig{Listener: ln, RelayAddressGenerator: gen, PermissionHandler: perm})
	}
	if cfg.TLSPort != 0 {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("load TURN TLS key pair (turn.tlsCert %s, turn.tlsKey %s): %w", cfg.TLSCert, cfg.TLSKey, err)
		}
		ln, err := tls.Listen("tcp4", net.JoinHostPort(listenIP, strconv.Itoa(cfg.TLSPort)),
			&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("listen TURN TLS (config key turn.tlsPort): %w", err)
		}
		s.addrs["tls"] = ln.Addr().String()
		lns = append(lns, pionturn.ListenerConfig{Listener: ln, RelayAddressGenerator: gen, PermissionHandler: perm})
	}
	srv, err := pionturn.NewServer(pionturn.ServerConfig{
		PacketConnConfigs: pcs,
		ListenerConfigs:   lns,
		Realm:             cfg.Realm,
		AuthHandler:       pionturn.LongTermTURNRESTAuthHandler(Secret(opts.ClusterSecret, cfg), pionlog.Factory{Log: opts.Log}.NewLogger("turn")),
		LoggerFactory:     pionlog.Factory{Log: opts.Log},
		EventHandler: pionturn.EventHandler{
			OnAllocationCreated: func(src, _ net.Addr, proto, user, _ string, relay net.Addr, _ int) {
				s.allocs.Add(1)
				s.log.Debug("TURN allocation", "client", src.String(), "protocol", proto, "user", user, "relay", relay.String())
			},
			OnAllocationDeleted: func(src, _ net.Addr, proto, user, _ string) {
				s.allocs.Add(-1)
			},
		},
	})
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("start TURN server: %w", err)
	}
	s.srv = srv
	if opts.Registry != nil {
		allocs := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "wac_turn_allocations", Help: "Current TURN allocations.",
		}, func() float64 { return float64(s.allocs.Load()) })
		denied := prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "wac_turn_denied_peers_total", Help: "TURN permissions refused because the peer is in turn.deniedPeers.",
		}, func() float64 { return float64(s.denied.Load()) })
		if err := registerAll(opts.Registry, allocs, denied); err != nil {
			srv.Close()
			return nil, err
		}
		s.unreg = func() { opts.Registry.Unregister(allocs); opts.Registry.Unregister(denied) }
	}
	opts.Log.Info("TURN server listening", "udp", s.addrs["udp"], "tcp", s.addrs["tcp"], "tls", s.addrs["tls"],
		"relay_ip", relayIP.String(), "relay_ports", fmt.Sprintf("%d-%d", cfg.RelayStartPort, cfg.RelayEndPort))
	return s, nil
}

func registerAll(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return fmt.Errorf("register TURN metrics: %w", err)
		}
	}
	return nil
}

// Addr returns the bound address of a listener: "udp", "tcp" or "tls"
// ("" when that listener is off).
func (s *Server) Addr(network string) string { return s.addrs[network] }

// Allocations is the number of live allocations.
func (s *Server) Allocations() int { return int(s.allocs.Load()) }

// Close stops the server and its relays.
func (s *Server) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	if s.unreg != nil {
		s.unreg()
	}
	if err := s.srv.Close(); err != nil {
		return fmt.Errorf("close TURN server: %w", err)
	}
	return nil
}

// permissions builds the peer filter from the deny and allow lists.
func (s *Server) permissions(cfg config.TURN, allow []net.IP) (pionturn.PermissionHandler, error) {
	parse := func(key string, list []string) ([]*net.IPNet, error) {
		var out []*net.IPNet
		for _, c := range list {
			_, n, err := net.ParseCIDR(c)
			if err != nil {
				return nil, fmt.Errorf("config key %s: %w", key, err)
			}
			out = append(out, n)
		}
		return out, nil
	}
	denied, err := parse("turn.deniedPeers", cfg.DeniedPeers)
	if err != nil {
		return nil, err
	}
	allowed, err := parse("turn.allowedPeers", cfg.AllowedPeers)
	if err != nil {
		return nil, err
	}
	in := func(nets []*net.IPNet, ip net.IP) bool {
		for _, n := range nets {
			if n.Contains(ip) {
				return true
			}
		}
		return false
	}
	return func(client net.Addr, peer net.IP) bool {
		for _, a := range allow {
			if a.Equal(peer) {
				return true
			}
		}
		if in(allowed, peer) || !in(denied, peer) {
			return true
		}
		s.denied.Add(1)
		s.log.Debug("TURN peer denied", "client", client.String(), "peer", peer.String())
		return false
	}, nil
}

// relayAddress is the IP relays are announced at.
func relayAddress(cfg config.TURN) (net.IP, error) {
	for _, v := range []string{cfg.RelayIP, cfg.Host, cfg.ListenIP} {
		if ip := net.ParseIP(v); ip != nil && !ip.IsUnspecified() {
			return ip, nil
		}
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("find a relay address (set turn.relayIp): %w", err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
			return n.IP, nil
		}
	}
	// A machine with loopback only: relays can only serve this machine.
	return net.IPv4(127, 0, 0, 1), nil
}
