package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openwac/wac/client"
	"github.com/openwac/wac/internal/media/janus"
	"github.com/openwac/wac/internal/media/janus/peer"

	"github.com/openwac/wac/internal/testenv"
)

// TestMain runs the command itself when a test starts it as a process
// (WAC_TEST_EXEC=1, the command line in WAC_TEST_ARGS), so that a test
// can kill -9 a real wac serve.
func TestMain(m *testing.M) {
	if os.Getenv("WAC_TEST_EXEC") == "1" {
		os.Exit(runMain(context.Background(), strings.Fields(os.Getenv("WAC_TEST_ARGS")), os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// serveProcess starts wac serve over data as a process of its own.
func serveProcess(t *testing.T, data, cfgPath, url string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "WAC_TEST_EXEC=1", "WAC_TEST_ARGS=serve --config "+cfgPath,
		"WAC_ADMIN_PASSWORD=admin-secret-1", "WAC_PASSWORD_MEMORY=8192", "WAC_PASSWORD_ITERATIONS=1")
	log, err := os.Create(filepath.Join(data, fmt.Sprintf("serve-%d.log", time.Now().UnixNano())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("wac serve log:\n%s", b)
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; {
		if resp, err := http.Get(url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return cmd
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("wac serve did not get ready")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// callAndPublish logs alice in, makes her own room with record on, joins
// it and publishes real media until ctx ends.
func callAndPublish(ctx context.Context, t *testing.T, url string, m *peer.Media) *client.Conn {
	t.Helper()
	alice, err := client.Login(ctx, url, "alice@wac", "alice-password")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := alice.Connect(ctx, client.ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	f, err := conn.Request(ctx, "createRoom", map[string]any{"record": true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var obj struct {
		Room   string `json:"room"`
		Token  string `json:"token"`
		Record bool   `json:"record"`
		Server struct {
			WSS string `json:"wss"`
		} `json:"server"`
	}
	json.Unmarshal(f.Payload, &obj)
	if !obj.Record || obj.Room != "alice" {
		t.Fatalf("room object %s", f.Payload)
	}
	conn.Request(ctx, "joinRoom", map[string]any{"room": obj.Room}, nil)
	jc, err := janus.Dial(ctx, obj.Server.WSS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { jc.Close() })
	s, err := jc.CreateSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.Attach(ctx, "janus.plugin.videoroom")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := peer.JoinPublisher(ctx, h, obj.Room, obj.Token, "alice"); err != nil {
		t.Fatal(err)
	}
	api, _ := peer.NewAPI(peer.APIOptions{})
	pub, err := peer.Publish(ctx, api, h, "vp8", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	if err := peer.Active(ctx, h, pub.PC); err != nil {
		t.Fatal(err)
	}
	pub.SendMedia(ctx, m)
	return conn
}

func probeSeconds(t *testing.T, path string) float64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	d, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		t.Fatalf("ffprobe %s: duration %q", path, out)
	}
	if out, err := exec.Command("ffmpeg", "-v", "error", "-nostdin", "-i", path, "-f", "null", "-").CombinedOutput(); err != nil {
		t.Fatalf("%s does not decode: %v %s", path, err, out)
	}
	return d
}

// A wac serve killed with SIGKILL in the middle of a recording leaves
// track files that play (up to where they stop, with their duration); when
// it is back and the room records again, the recording continues as its
// second segment, and one file is composed of both.
func TestRecordingSurvivesKill9(t *testing.T) {
	testenv.NeedPrograms(t, "ffmpeg", "ffprobe")
	data := t.TempDir()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	cfg := fmt.Sprintf(`dataDir: %s
log: {level: info}
wiface: {public: {iface: 127.0.0.1, port: %d}}
http: {ddosProtection: false}
turn: {enabled: false}
media: {listenIp: 127.0.0.1, nodeId: media-1, heartbeatSeconds: 1}
rooms: {userIdAsRoomId: true}
recording: {minFreeMB: 0}
`, data, port)
	cfgPath := filepath.Join(data, "wac.yaml")
	os.WriteFile(cfgPath, []byte(cfg), 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	m, err := peer.MakeMedia(ctx, "ffmpeg", t.TempDir(), 3, 440)
	if err != nil {
		t.Fatalf("test media (Debian's ffmpeg is needed): %v", err)
	}

	first := serveProcess(t, data, cfgPath, url)
	admin, err := client.Login(ctx, url, "admin@wac", "admin-secret-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.API(ctx, "POST", "/sapi/users", map[string]any{"username": "alice", "password": "alice-password"}, nil); err != nil {
		t.Fatal(err)
	}
	pctx, stopMedia := context.WithCancel(ctx)
	callAndPublish(pctx, t, url, m)
	time.Sleep(4 * time.Second)
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	stopMedia()

	// What the killed process wrote plays.
	var tracks []string
	filepath.WalkDir(filepath.Join(data, "recordings"), func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".webm") {
			tracks = append(tracks, p)
		}
		return nil
	})
	if len(tracks) != 2 {
		t.Fatalf("track files after kill -9: %v", tracks)
	}
	for _, p := range tracks {
		if d := probeSeconds(t, p); d < 2 {
			t.Errorf("%s: %.2f s after 4 s of recording", filepath.Base(p), d)
		}
	}

	serveProcess(t, data, cfgPath, url)
	pctx, stopMedia = context.WithCancel(ctx)
	conn := callAndPublish(pctx, t, url, m)
	time.Sleep(3 * time.Second)
	stopMedia()
	if _, err := conn.Request(ctx, "destroyRoom", map[string]any{"room": "alice"}, nil); err != nil {
		t.Fatal(err)
	}
	alice, _ := client.Login(ctx, url, "alice@wac", "alice-password")
	var list []struct {
		ID       string `json:"id"`
		Status   string `json:"status"`
		Note     string `json:"note"`
		Segments []struct {
			Reason string            `json:"reason"`
			Tracks []json.RawMessage `json:"tracks"`
		} `json:"segments"`
		Media *struct {
			URL string `json:"url"`
		} `json:"media"`
	}
	for deadline := time.Now().Add(60 * time.Second); ; {
		list = nil
		if err := alice.API(ctx, "GET", "/sapi/recordings", nil, &list); err != nil {
			t.Fatal(err)
		}
		if len(list) == 1 && list[0].Status == "ready" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("recordings %+v", list)
		}
		time.Sleep(200 * time.Millisecond)
	}
	rec := list[0]
	if len(rec.Segments) != 2 || rec.Segments[0].Reason != "media node stopped" || len(rec.Segments[0].Tracks) != 2 ||
		len(rec.Segments[1].Tracks) != 2 {
		t.Fatalf("segments %+v", rec.Segments)
	}
	req, _ := http.NewRequest("GET", url+rec.Media.URL, nil)
	req.Header.Set("Authorization", "Bearer "+alice.AccessToken())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := filepath.Join(t.TempDir(), "composed.webm")
	f, _ := os.Create(out)
	f.ReadFrom(resp.Body)
	f.Close()
	// Segment 1 (about 4 s), the restart, segment 2 (about 3 s; its video
	// from its first keyframe).
	if d := probeSeconds(t, out); d < 6 {
		t.Errorf("the composed file lasts %.2f s", d)
	}
}
