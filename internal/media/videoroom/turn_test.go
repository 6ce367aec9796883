package videoroom_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/media/janus/peer"
	"github.com/openwac/wac/internal/media/placement"
	"github.com/openwac/wac/internal/turn"
)

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// With direct UDP blocked (both peers may only use relayed candidates,
// reached over TCP), a call goes through the embedded TURN server.
func TestTURNRelaysCall(t *testing.T) {
	checkGoroutines(t)
	n := startSFU(t, testMediaConfig(t))
	tcfg := config.Default().TURN
	tcfg.Host, tcfg.ListenIP = "127.0.0.1", "127.0.0.1"
	tcfg.UDPPort, tcfg.TCPPort = freeUDPPort(t), freeTCPPort(t)
	base := 20000 + int(time.Now().UnixNano()%20000)
	tcfg.RelayStartPort, tcfg.RelayEndPort = base, base+200
	// Loopback is denied by default; the media node's own address is
	// allowed, as node wiring does with media.webRtcIp.
	ts, err := turn.New(tcfg, turn.Options{ClusterSecret: testSecret, Allow: []net.IP{net.ParseIP("127.0.0.1")}})
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Close()

	ice := func(user string) []webrtc.ICEServer {
		var out []webrtc.ICEServer
		for _, s := range turn.ICEServers(testSecret, user, tcfg, time.Now()) {
			var tcp []string
			for _, u := range s.URLs {
				if strings.HasSuffix(u, "transport=tcp") {
					tcp = append(tcp, u)
				}
			}
			if len(tcp) > 0 {
				out = append(out, webrtc.ICEServer{URLs: tcp, Username: s.Username, Credential: s.Credential})
			}
		}
		return out
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	id := roomID(t)
	if _, err := n.sfu.CreateRoom(id, 0, placement.RoomOptions{}); err != nil {
		t.Fatal(err)
	}
	api := testAPI(t)
	_, j, pub := n.publishAlice(ctx, t, api, id, "vp8", ice("alice"), true)
	defer pub.Close()
	sendCtx, stop := context.WithCancel(ctx)
	defer stop()
	pub.Send(sendCtx, 300, 15)
	_, hs := n.client(ctx, t)
	sub, err := peer.Subscribe(ctx, api, hs, id, token(id, "bob", false, true), []uint64{j.ID}, ice("bob"), true)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	waitUntil(t, 20*time.Second, "media through the relay", func() bool {
		v, a := sub.Track("video"), sub.Track("audio")
		return v != nil && a != nil && v.Packets.Load() > 20 && a.Packets.Load() > 20
	})
	if ts.Allocations() < 2 {
		t.Fatalf("%d TURN allocations, want one per peer", ts.Allocations())
	}
	for _, pc := range []*webrtc.PeerConnection{pub.PC, sub.PC} {
		if typ := selectedLocalType(pc); typ != "relay" {
			t.Errorf("selected local candidate is %q, want relay", typ)
		}
	}
	stop()
	pub.Close()
	sub.Close()
}

func selectedLocalType(pc *webrtc.PeerConnection) string {
	for _, s := range pc.GetStats() {
		if p, ok := s.(webrtc.ICECandidatePairStats); ok && p.Nominated && p.State == webrtc.StatsICECandidatePairStateSucceeded {
			if l, ok := pc.GetStats()[p.LocalCandidateID].(webrtc.ICECandidateStats); ok {
				return l.CandidateType.String()
			}
		}
	}
	return ""
}

// With ICE-TCP on (media.tcpPort), a peer that can only use TCP gets its
// media over TCP.
func TestICETCP(t *testing.T) {
	cfg := testMediaConfig(t)
	cfg.TCPPort = freeTCPPort(t)
	n := startSFU(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tcpAPI, err := peer.NewAPI(peer.APIOptions{TCPOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	pub, sub, _ := callWith(t, ctx, n, testAPI(t), tcpAPI)
	sendCtx, stop := context.WithCancel(ctx)
	defer stop()
	pub.Send(sendCtx, 300, 15)
	waitUntil(t, 15*time.Second, "media over ICE-TCP", func() bool {
		v := sub.Track("video")
		return v != nil && v.Packets.Load() > 20
	})
	for _, s := range sub.PC.GetStats() {
		if p, ok := s.(webrtc.ICECandidatePairStats); ok && p.Nominated && p.State == webrtc.StatsICECandidatePairStateSucceeded {
			if l, ok := sub.PC.GetStats()[p.LocalCandidateID].(webrtc.ICECandidateStats); ok && l.Protocol != "tcp" {
				t.Fatalf("selected pair uses %s", l.Protocol)
			}
		}
	}
}
