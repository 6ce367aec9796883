package node_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/openwac/wac/client"
	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/media/g711"
	"github.com/openwac/wac/internal/media/janus"
	"github.com/openwac/wac/internal/media/janus/peer"
	"github.com/openwac/wac/internal/media/tone"
	"github.com/openwac/wac/internal/testenv"
)

// kamailioConfig is a registrar and proxy on one loopback UDP port: REGISTER
// is challenged (digest, the password of user 207 in the script itself) and
// saved in memory (usrloc without a database); an INVITE to a registered
// user is relayed to its contact (record-routed, so that ACK and BYE pass
// through), to anyone else it is answered 404.
const kamailioConfig = `#!KAMAILIO
debug=2
log_stderror=yes
children=2
disable_tcp=yes
auto_aliases=no
listen=udp:127.0.0.1:PORT
mpath="MODULES"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "auth.so"
loadmodule "ctl.so"
modparam("ctl", "binrpc", "unix:DIR/ctl.sock")
modparam("usrloc", "db_mode", 0)
modparam("registrar", "min_expires", 10)
modparam("registrar", "max_expires", 3600)

request_route {
	xlog("L_INFO", "$rm $ru from $si:$sp\n");
	if (!mf_process_maxfwd_header("10")) {
		sl_send_reply("483", "Too Many Hops");
		exit;
	}
	if (has_totag()) {
		if (loose_route()) {
			t_relay();
			exit;
		}
		if (is_method("ACK")) {
			if (t_check_trans()) {
				t_relay();
			}
			exit;
		}
		sl_send_reply("404", "Not here");
		exit;
	}
	if (is_method("CANCEL")) {
		if (t_check_trans()) {
			t_relay();
		}
		exit;
	}
	if (is_method("REGISTER")) {
		$var(pw) = "";
		if ($tU == "207") {
			$var(pw) = "PASSWORD";
		}
		if (!pv_www_authenticate("$td", "$var(pw)", "0")) {
			www_challenge("$td", "0");
			exit;
		}
		if ($au != $tU) {
			sl_send_reply("403", "Forbidden");
			exit;
		}
		if (!save("location")) {
			sl_reply_error();
		}
		exit;
	}
	if (is_method("INVITE")) {
		record_route();
	}
	if (!lookup("location")) {
		sl_send_reply("404", "Not Found");
		exit;
	}
	t_relay();
}
`

// kamailio runs Debian's kamailio as the PBX's registrar on a loopback
// port, until the test ends.
type kamailio struct {
	t    *testing.T
	dir  string
	port int
}

func startKamailio(t *testing.T, r *sipRig, password string, port int) *kamailio {
	t.Helper()
	k := &kamailio{t: t, dir: t.TempDir(), port: port}
	// Debian puts the modules under the architecture's library directory.
	mods, _ := filepath.Glob("/usr/lib/*/kamailio/modules/registrar.so")
	if len(mods) == 0 {
		t.Fatal("kamailio's registrar module is not under /usr/lib/*/kamailio/modules")
	}
	cfg := strings.NewReplacer("PORT", strconv.Itoa(k.port), "DIR", k.dir, "PASSWORD", password,
		"MODULES", filepath.Dir(mods[0])).Replace(kamailioConfig)
	file := filepath.Join(k.dir, "kamailio.cfg")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(k.dir, "kamailio.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("kamailio", "-DD", "-E", "-f", file, "-m", "32", "-M", "4", "-Y", k.dir, "-w", k.dir)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
	t.Cleanup(func() {
		// The main process stops its children on SIGTERM.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(k.dir, "kamailio.log"))
			t.Logf("kamailio's log:\n%s", tail(string(b), 4000))
		}
	})
	r.udpBound(k.port)
	return k
}

// lookup is what kamailio's user location holds for user (kamcmd
// ul.lookup), or the error it gives.
func (k *kamailio) lookup(user string) string {
	out, err := exec.Command("kamcmd", "-s", "unix:"+filepath.Join(k.dir, "ctl.sock"), "ul.lookup", "location", "s:"+user).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("%v: %s", err, out)
	}
	return string(out)
}

// waitLookup waits until kamailio's location of user holds contact (has
// is true) or not (false).
func (k *kamailio) waitLookup(ctx context.Context, user, contact string, has bool) {
	k.t.Helper()
	for {
		got := k.lookup(user)
		if strings.Contains(got, contact) == has {
			return
		}
		select {
		case <-ctx.Done():
			k.t.Fatalf("kamailio's location of %s (want contact %s: %v):\n%s", user, contact, has, got)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// startBaresip runs Debian's baresip calling uri: its microphone is a sine
// of freq Hz (ausine), its loudspeaker a bridge nobody listens to, and the
// sndfile filter records what it sends and what it hears into WAV files
// of the returned directory. It runs until the test ends.
func startBaresip(t *testing.T, uri string, freq int) string {
	t.Helper()
	return startBaresipWith(t, baresipRun{dial: uri, freq: freq, codec: "PCMU"})
}

// baresipCodecs are the codec modules of startBaresipWith's baresip, and
// the account's audio_codecs, by the codec it offers alone. Opus is
// baresip-core's opus module, mono (no stereo asked or announced), as a
// desk phone's.
var baresipCodecs = map[string]struct{ config, account string }{
	"PCMU": {"module\t\t\tg711.so\n", "PCMU"},
	"opus": {"module\t\t\topus.so\nopus_stereo\t\tno\nopus_sprop_stereo\tno\n", "opus"},
}

// baresipRun is what startBaresipWith's baresip does: call a URI, or
// answer the calls to its port at once (a trunk that picks up).
type baresipRun struct {
	dial   string // the URI it calls; "" = it answers
	listen int    // its SIP port; 0 = a free one
	freq   int    // its microphone's sine
	codec  string // PCMU or opus: the one it offers or accepts
}

// startBaresipWith is startBaresip doing run.
func startBaresipWith(t *testing.T, run baresipRun) string {
	t.Helper()
	bc, ok := baresipCodecs[run.codec]
	if !ok {
		t.Fatalf("baresip with codec %q", run.codec)
	}
	if run.listen == 0 {
		run.listen = freeUDPPort(t)
	}
	dir := t.TempDir()
	rec := filepath.Join(dir, "rec")
	if err := os.Mkdir(rec, 0o700); err != nil {
		t.Fatal(err)
	}
	rtpBase := freeMediaPorts(t)
	// net_interface lo: the SDP gives 127.0.0.1, where the RTP comes from
	// (the sip role takes RTP only from the SDP's address).
	cfg := fmt.Sprintf(`poll_method		epoll
net_interface		127.0.0.1
sip_listen		127.0.0.1:%d
audio_player		aubridge,nowhere
audio_alert		aubridge,nowhere
audio_source		ausine,%d
ausrc_srate		48000
ausrc_channels		2
rtp_ports		%d-%d
module_path		/usr/lib/baresip/modules
%smodule			ausine.so
module			aubridge.so
module			sndfile.so
module_app		account.so
module_app		menu.so
snd_path		%s
`, run.listen, run.freq, rtpBase, rtpBase+3, bc.config, rec)
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// The caller is the number the apps see (From's user), and the number
	// the apps call; no registration.
	account := "<sip:+34986999888@127.0.0.1>;regint=0;audio_codecs=" + bc.account
	args := []string{"-f", dir, "-t", "120"}
	if run.dial != "" {
		args = append(args, "-e", "/dial "+run.dial)
	} else {
		account += ";answermode=auto"
	}
	if err := os.WriteFile(filepath.Join(dir, "accounts"), []byte(account+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "baresip.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("baresip", args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "baresip.log"))
			t.Logf("baresip's log:\n%s", tail(string(b), 3000))
		}
	})
	return rec
}

// wavTone reads the WAV files of dir whose name has part (sndfile's "dec":
// what baresip heard) and counts the 20 ms blocks in which freq is
// most of the power (at least 60%) and loud (amplitude over ~300). Of a
// stereo file (Opus is decoded to two channels) the left channel is read.
func wavTone(dir, part string, freq float64) int {
	files, _ := filepath.Glob(filepath.Join(dir, "*"+part+"*.wav"))
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil || len(b) < 44 || string(b[:4]) != "RIFF" {
			continue
		}
		rate := int(binary.LittleEndian.Uint32(b[24:28]))
		channels := int(binary.LittleEndian.Uint16(b[22:24]))
		// The data chunk follows the chunks before it; its size may not be
		// written yet while baresip records.
		i := 12
		for i+8 <= len(b) && string(b[i:i+4]) != "data" {
			i += 8 + int(binary.LittleEndian.Uint32(b[i+4:i+8]))
		}
		if i+8 > len(b) || rate == 0 || channels < 1 {
			continue
		}
		data := b[i+8:]
		pcm := make([]int16, len(data)/2/channels)
		for j := range pcm {
			pcm[j] = int16(binary.LittleEndian.Uint16(data[2*j*channels:]))
		}
		block := rate / 50
		for j := 0; j+block <= len(pcm); j += block {
			p := tone.Power(pcm[j:j+block], freq, rate)
			if p > 0.6*tone.RMSPower(pcm[j:j+block]) && p > 300*300/2 {
				n++
			}
		}
	}
	return n
}

// A user with a SIP mapping and a password is registered with the PBX
// (kamailio) when the first device connects; a call from a phone
// (baresip) to the user's number through the PBX reaches the registered
// contact and rings both devices; one answers with a WebRTC peer and
// both sides hear each other's tone (baresip's 400 Hz in the room, the
// peer's 660 Hz in baresip's recording). When the devices are gone the
// registration is removed, and the PBX answers a call to the number 404.
func TestSIPRegisterWithKamailio(t *testing.T) {
	testenv.NeedPrograms(t, "kamailio", "kamcmd", "baresip")
	const password = "pbx-secret-207"
	kport := freeUDPPort(t)
	r := newSIPRig(t, func(c *config.Config) {
		c.Trunk.Port = kport
		c.Trunk.Register = true
		c.Trunk.RegisterExpires = 60 * time.Second
	})
	k := startKamailio(t, r, password, kport)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	carol, carolID := r.user("carol", "")
	if err := r.admin.API(ctx, "POST", "/sapi/sipMappings", map[string]any{"ownerUri": "wac-user:" + carolID,
		"credential": map[string]any{"username": "207", "password": password}}, nil); err != nil {
		t.Fatal(err)
	}
	// Nothing is registered before carol connects.
	contact := fmt.Sprintf("sip:207@127.0.0.1:%d", r.node.SIP().Addr().Port)
	if got := k.lookup("207"); strings.Contains(got, contact) {
		t.Fatalf("207 registered before carol connected: %s", got)
	}
	d1, d2 := r.connect(carol), r.connect(carol)
	k.waitLookup(ctx, "207", contact, true)

	// A phone calls 207 at the PBX; both of carol's devices ring.
	rec := startBaresip(t, fmt.Sprintf("sip:207@127.0.0.1:%d", k.port), 400)
	ring, err := d1.WaitIncoming(ctx, "invitation")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d2.WaitIncoming(ctx, "invitation"); err != nil {
		t.Fatalf("carol's second device did not ring: %v", err)
	}
	if ring.String("fromType") != "phone" || ring.String("from") != "phone-0034986999888" {
		t.Fatalf("carol was rung with %s", ring.Raw)
	}
	var obj roomObject
	if err := json.Unmarshal(ring.Payload, &obj); err != nil || obj.Room == "" {
		t.Fatalf("ring payload %s", ring.Payload)
	}
	if err := d1.Accept(ctx, ring, nil); err != nil {
		t.Fatal(err)
	}
	f, err := d1.Request(ctx, "joinRoom", map[string]any{"room": obj.Room}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(f.Payload, &obj); err != nil || obj.Token == "" {
		t.Fatalf("joinRoom: %s", f.Payload)
	}

	// carol publishes 660 Hz and listens to the phone's feed.
	jc, err := janus.Dial(ctx, obj.Server.WSS)
	if err != nil {
		t.Fatal(err)
	}
	defer jc.Close()
	js, err := jc.CreateSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ph, err := js.Attach(ctx, "janus.plugin.videoroom")
	if err != nil {
		t.Fatal(err)
	}
	joined, err := peer.JoinPublisher(ctx, ph, obj.Room, obj.Token, "carol")
	if err != nil {
		t.Fatal(err)
	}
	api := g711API(t)
	pub, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	track, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}, "audio", "carol")
	if _, err := pub.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	negotiate(ctx, t, ph, pub, map[string]any{"request": "publish"}, true)
	go func() {
		var seq uint16
		var ts uint32
		gen := tone.NewGenerator(660, 8000, 8000)
		pcm := make([]int16, 160)
		payload := make([]byte, 160)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			gen.Fill(pcm)
			for i, v := range pcm {
				payload[i] = g711.ULaw(v)
			}
			seq++
			ts += 160
			_ = track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq, Timestamp: ts, SSRC: 7}, Payload: payload})
		}
	}()
	feed := phoneFeed(ctx, t, ph, joined, "+34986999888")
	sh, err := js.Attach(ctx, "janus.plugin.videoroom")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var got, tone400 atomic.Int64
	sub.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		pcm := make([]int16, 0, 160)
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			pcm = pcm[:0]
			for _, b := range p.Payload {
				pcm = append(pcm, g711.ULawSample(b))
			}
			got.Add(1)
			if len(pcm) > 0 {
				pw := tone.Power(pcm, 400, 8000)
				if pw > 0.6*tone.RMSPower(pcm) && pw > 300*300/2 {
					tone400.Add(1)
				}
			}
		}
	})
	negotiate(ctx, t, sh, sub, map[string]any{"request": "join", "ptype": "subscriber", "room": obj.Room, "token": obj.Token,
		"streams": []map[string]any{{"feed": feed}}}, false)
	// Both ways: 50 packets (a second) of baresip's 400 Hz reach carol, and
	// a second of carol's 660 Hz is in baresip's recording of what it heard.
	for tone400.Load() < 50 || wavTone(rec, "dec", 660) < 50 {
		select {
		case <-ctx.Done():
			t.Fatalf("carol heard %d packets from the phone, %d with its 400 Hz; baresip heard %d blocks of carol's 660 Hz",
				got.Load(), tone400.Load(), wavTone(rec, "dec", 660))
		case <-time.After(100 * time.Millisecond):
		}
	}
	// carol hangs up: BYE through kamailio to baresip.
	if _, err := d1.Request(ctx, "leaveRoom", map[string]any{"room": obj.Room}, nil); err != nil {
		t.Fatal(err)
	}
	r.settled()

	// One device going keeps the registration; the last one unregisters.
	d1.Close()
	if got := k.lookup("207"); !strings.Contains(got, contact) {
		t.Fatalf("207 unregistered while carol's second device is connected: %s", got)
	}
	d2.Close()
	k.waitLookup(ctx, "207", contact, false)
	r.await(r.sipp("uac_refused.xml", map[string]string{"CODE": "404", "FORMATS": "0"},
		"-s", "207", "-p", strconv.Itoa(freeUDPPort(t)), "127.0.0.1:"+strconv.Itoa(k.port)))

	// carol again, then the node stops: it unregisters on its way out,
	// and leaves no goroutine of the SIP stack or the registrar.
	r.connect(carol)
	k.waitLookup(ctx, "207", contact, true)
	r.stop()
	if got := k.lookup("207"); strings.Contains(got, contact) {
		t.Fatalf("207 still registered after the node stopped: %s", got)
	}
	noSIPGoroutines(t)
}

// noSIPGoroutines waits until no goroutine of the SIP stack, the sip role
// or its media is left.
func noSIPGoroutines(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		var left []string
		for _, g := range strings.Split(stacks, "\n\n") {
			if strings.Contains(g, "emiago/sipgo") || strings.Contains(g, "internal/sip.") || strings.Contains(g, "internal/media/sipmedia") {
				left = append(left, g)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left:\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// phoneFeed is the media server's feed of the phone display in the room
// joined (from the publishers at the join, or those announced since).
func phoneFeed(ctx context.Context, t *testing.T, ph *janus.Handle, joined peer.Joined, display string) uint64 {
	t.Helper()
	type publisher struct {
		ID      uint64 `json:"id"`
		Display string `json:"display"`
	}
	for _, raw := range joined.Publishers {
		var p publisher
		if json.Unmarshal(raw, &p) == nil && p.Display == display {
			return p.ID
		}
	}
	for {
		m, err := ph.WaitEvent(ctx, func(m janus.Message) bool { return m.PluginData != nil })
		if err != nil {
			t.Fatalf("the phone never published: %v", err)
		}
		var ev struct {
			Publishers []publisher `json:"publishers"`
		}
		_ = json.Unmarshal(m.PluginData.Data, &ev)
		for _, p := range ev.Publishers {
			if p.Display == display {
				return p.ID
			}
		}
	}
}

// In a cluster one node registers a user with the PBX, wherever the
// user's devices are connected: carol on two sip nodes has one contact at
// kamailio (two would have the PBX fork each call to both nodes, and
// every device ring twice). When carol leaves the registering node, the
// other registers her (within the claim's recheck); when she leaves that
// one too, nothing is registered.
func TestSIPRegisterOnceInACluster(t *testing.T) {
	testenv.NeedPrograms(t, "kamailio", "kamcmd")
	const password = "pbx-secret-207"
	dir, cluster := natsCluster(t)
	kport := freeUDPPort(t)
	register := func(c *config.Config) {
		cluster("api", "signaling", "media")(c)
		c.Trunk.Port = kport
		c.Trunk.Register = true
		c.Trunk.RegisterExpires = 60 * time.Second
	}
	r := newSIPRig(t, register)
	k := startKamailio(t, r, password, kport)
	bListen := freeUDPPort(t)
	nb, bBase := startNodeWith(t, dir, func(c *config.Config) {
		register(c)
		c.Trunk.Address = "127.0.0.1"
		c.Trunk.Listen.Port = bListen
		base := 32000 + int(sippPorts.Add(1))*200
		c.Trunk.RTPPortMin, c.Trunk.RTPPortMax = base, base+99
		c.Trunk.MediaTimeout = 0
		c.QSS.RequestRate = 1000
	})
	if nb.SIP() == nil {
		t.Fatal("the second node runs no sip role")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	_, carolID := r.user("carol", "")
	if err := r.admin.API(ctx, "POST", "/sapi/sipMappings", map[string]any{"ownerUri": "wac-user:" + carolID,
		"credential": map[string]any{"username": "207", "password": password}}, nil); err != nil {
		t.Fatal(err)
	}
	contacts := map[string]string{
		"a": fmt.Sprintf("sip:207@127.0.0.1:%d", r.node.SIP().Addr().Port),
		"b": fmt.Sprintf("sip:207@127.0.0.1:%d", nb.SIP().Addr().Port),
	}
	conns := map[string]*client.Conn{}
	for name, base := range map[string]string{"a": r.base, "b": bBase} {
		cl, err := client.Login(ctx, base, "carol@wac", "a-password-1")
		if err != nil {
			t.Fatal(err)
		}
		conns[name] = r.connect(cl)
	}
	// registered is the node whose contact kamailio holds, once one does;
	// both at once fail the test.
	registered := func() string {
		t.Helper()
		for {
			got := k.lookup("207")
			a, b := strings.Contains(got, contacts["a"]), strings.Contains(got, contacts["b"])
			switch {
			case a && b:
				t.Fatalf("207 is registered by both nodes:\n%s", got)
			case a:
				return "a"
			case b:
				return "b"
			}
			select {
			case <-ctx.Done():
				t.Fatalf("207 is registered by neither node:\n%s", got)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	first := registered()
	// The other node looks again every 5 s: past two of its looks, still
	// one contact.
	for end := time.Now().Add(11 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		if got := registered(); got != first {
			t.Fatalf("the registration moved from node %s to %s while carol stayed on both", first, got)
		}
	}
	other := map[string]string{"a": "b", "b": "a"}[first]
	conns[first].Close()
	k.waitLookup(ctx, "207", contacts[first], false)
	k.waitLookup(ctx, "207", contacts[other], true)
	if got := registered(); got != other {
		t.Fatalf("after carol left node %s the registration is node %s's", first, got)
	}
	conns[other].Close()
	k.waitLookup(ctx, "207", contacts[other], false)
}
