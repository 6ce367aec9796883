package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openwac/wac/client"
	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/media/janus"
	"github.com/openwac/wac/internal/media/janus/peer"

	"github.com/openwac/wac/internal/testenv"
)

type recordingAnswer struct {
	ID     string `json:"id"`
	Room   string `json:"room"`
	Status string `json:"status"`
	Note   string `json:"note"`
	Media  *struct {
		URL     string `json:"url"`
		PlayURL string `json:"playUrl"`
	} `json:"media"`
	Tracks []struct {
		Kind string `json:"kind"`
		User string `json:"user"`
		URL  string `json:"url"`
	} `json:"tracks"`
	Events []struct {
		Type string `json:"type"`
		User string `json:"user"`
	} `json:"events"`
	Users []string `json:"users"`
}

// get does an authenticated GET and returns the status, headers and body.
func get(t *testing.T, url, token string, header map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body
}

// publishReal publishes real VP8 and Opus into the room of obj with its
// token until ctx ends.
func publishReal(ctx context.Context, t *testing.T, obj roomObject, display string, m *peer.Media) {
	t.Helper()
	c, err := janus.Dial(ctx, obj.Server.WSS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := c.CreateSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.Attach(ctx, "janus.plugin.videoroom")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := peer.JoinPublisher(ctx, h, obj.Room, obj.Token, display); err != nil {
		t.Fatal(err)
	}
	api, err := peer.NewAPI(peer.APIOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := peer.Publish(ctx, api, h, "vp8", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	if err := peer.Active(ctx, h, pub.PC); err != nil {
		t.Fatal(err)
	}
	pub.SendMedia(ctx, m)
}

// Recording end to end on one node: a room created with record records
// its participants' real media; stopRecording and startRecording tell
// everyone in the room; the recordings are listed for the participants
// (and no one else), their composed file streams with range requests and
// plays, and only an admin deletes them.
func TestRecordingEndToEnd(t *testing.T) {
	testenv.NeedPrograms(t, "ffmpeg", "ffprobe")
	n, url := startNodeWith(t, t.TempDir(), func(c *config.Config) { c.Media.Heartbeat = time.Second })
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	dir := t.TempDir()
	m, err := peer.MakeMedia(ctx, "ffmpeg", dir, 3, 440)
	if err != nil {
		t.Fatalf("test media (Debian's ffmpeg is needed): %v", err)
	}
	admin, err := client.Login(ctx, url, "admin@wac", "admin-secret-1")
	if err != nil {
		t.Fatal(err)
	}
	logins := map[string]*client.Client{}
	for _, u := range []string{"alice", "bob", "carol"} {
		if err := admin.API(ctx, "POST", "/sapi/users", map[string]any{"username": u, "password": u + "-password"}, nil); err != nil {
			t.Fatal(err)
		}
		if logins[u], err = client.Login(ctx, url, u+"@wac", u+"-password"); err != nil {
			t.Fatal(err)
		}
	}
	a, err := logins["alice"].Connect(ctx, client.ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := logins["bob"].Connect(ctx, client.ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	f, err := a.Request(ctx, "createRoom", map[string]any{"record": true, "acl": []string{"bob"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ar roomObject
	json.Unmarshal(f.Payload, &ar)
	if !strings.Contains(string(f.Payload), `"record":true`) {
		t.Fatalf("room object %s", f.Payload)
	}
	a.Request(ctx, "joinRoom", map[string]any{"room": ar.Room}, nil)
	fb, err := b.Request(ctx, "joinRoom", map[string]any{"room": ar.Room}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var br roomObject
	json.Unmarshal(fb.Payload, &br)
	pctx, stopMedia := context.WithCancel(ctx)
	defer stopMedia()
	publishReal(pctx, t, ar, "alice", m)
	publishReal(pctx, t, br, "bob", m)
	time.Sleep(2 * time.Second)

	// Bob stops the recording, Alice starts a new one: both hear it.
	if _, err := b.Request(ctx, "stopRecording", map[string]any{"room": ar.Room}, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client.Conn{a, b} {
		ev, err := c.WaitEvent(ctx, "recordingStopped")
		if err != nil || !strings.Contains(string(ev.Payload), `"record":false`) {
			t.Fatalf("recordingStopped: %s %v", ev.Payload, err)
		}
	}
	if _, err := a.Request(ctx, "startRecording", map[string]any{"room": ar.Room}, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client.Conn{a, b} {
		if _, err := c.WaitEvent(ctx, "recordingStarted"); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2 * time.Second)
	stopMedia()
	if _, err := a.Request(ctx, "destroyRoom", map[string]any{"room": ar.Room}, nil); err != nil {
		t.Fatal(err)
	}

	// Both recordings get composed.
	var list []recordingAnswer
	for deadline := time.Now().Add(60 * time.Second); ; {
		list = nil
		if err := logins["bob"].API(ctx, "GET", "/sapi/recordings?room="+ar.Room, nil, &list); err != nil {
			t.Fatal(err)
		}
		if len(list) == 2 && list[0].Status == "ready" && list[1].Status == "ready" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("recordings %+v", list)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, rec := range list {
		users := map[string]bool{}
		for _, u := range rec.Tracks {
			users[u.User] = true
		}
		if len(rec.Tracks) != 4 || len(users) != 2 {
			t.Errorf("recording %s tracks %+v", rec.ID, rec.Tracks)
		}
	}
	rec := list[1] // the first one, by alice's record
	var joined []string
	for _, e := range rec.Events {
		if e.Type == "joined" || e.Type == "present" {
			joined = append(joined, e.Type)
		}
	}
	if len(joined) < 2 {
		t.Errorf("events %+v", rec.Events)
	}

	// Range requests on the composed file, then the whole file plays.
	bobTok := logins["bob"].AccessToken()
	code, hdr, body := get(t, url+rec.Media.URL, bobTok, map[string]string{"Range": "bytes=0-99"})
	if code != http.StatusPartialContent || len(body) != 100 || !strings.HasPrefix(hdr.Get("Content-Range"), "bytes 0-99/") {
		t.Fatalf("range: %d %v %d bytes", code, hdr, len(body))
	}
	if hdr.Get("Content-Type") != "video/webm" || hdr.Get("Accept-Ranges") != "bytes" {
		t.Errorf("headers %v", hdr)
	}
	code, _, body = get(t, url+rec.Media.URL, bobTok, nil)
	if code != 200 {
		t.Fatalf("download: %d %s", code, body)
	}
	file := filepath.Join(dir, "dl.webm")
	os.WriteFile(file, body, 0o600)
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", file).Output()
	if err != nil || !strings.Contains(string(out), "vp8") || !strings.Contains(string(out), "opus") {
		t.Errorf("downloaded file: %s %v", out, err)
	}
	if code, _, body := get(t, url+rec.Tracks[0].URL, bobTok, nil); code != 200 || len(body) == 0 {
		t.Errorf("track download: %d", code)
	}
	// The signed play link serves a <video> element, which sends no token;
	// a link altered in any way does not.
	if rec.Media.PlayURL == "" {
		t.Fatal("no play link")
	}
	if code, _, body := get(t, url+rec.Media.PlayURL, "", map[string]string{"Range": "bytes=100-"}); code != 206 || len(body) == 0 {
		t.Errorf("play link: %d", code)
	}
	for _, bad := range []string{
		strings.Replace(rec.Media.PlayURL, "sig=", "sig=x", 1),
		strings.Replace(rec.Media.PlayURL, "/media?", "/tracks/0?", 1),
		strings.Replace(rec.Media.PlayURL, rec.ID, list[0].ID, 1),
	} {
		if code, _, _ := get(t, url+bad, "", nil); code != 401 {
			t.Errorf("altered link %s: %d", bad, code)
		}
	}

	// Carol took no part: she sees nothing.
	carolTok := logins["carol"].AccessToken()
	if code, _, body := get(t, url+"/sapi/recordings", carolTok, nil); code != 200 || strings.Contains(string(body), rec.ID) {
		t.Errorf("carol's list: %d %s", code, body)
	}
	for _, p := range []string{"", "/media", "/tracks/0"} {
		if code, _, _ := get(t, url+"/sapi/recordings/"+rec.ID+p, carolTok, nil); code != 404 {
			t.Errorf("carol GET %s: %d", p, code)
		}
	}
	// Bob may see it but not delete it; the admin deletes it.
	var ce *client.APIError
	if err := logins["bob"].API(ctx, "DELETE", "/sapi/recordings/"+rec.ID, nil, nil); !errors.As(err, &ce) || ce.Status != 403 {
		t.Errorf("bob deletes: %v", err)
	}
	if err := admin.API(ctx, "DELETE", "/sapi/recordings/"+rec.ID, nil, nil); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := get(t, url+rec.Media.URL, bobTok, nil); code != 404 {
		t.Errorf("after delete: %d", code)
	}
	filepath.WalkDir(n.Config.RecordingPath(), func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == rec.ID {
			t.Errorf("the files of a deleted recording are left: %s", path)
		}
		return nil
	})
}

// Where recording is off, the record field and startRecording are refused
// with 403 (never accepted and silently not done); so are they for a user
// without the recording capability.
func TestRecordRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tweak func(*config.Config)
		caps  []string
		want  string
	}{
		{"recording off", func(c *config.Config) { c.Recording.Enabled = false }, nil, "recording.enabled"},
		{"no capability", nil, []string{"-recording"}, "recording capability"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, url := startNodeWith(t, t.TempDir(), tc.tweak)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			admin, _ := client.Login(ctx, url, "admin@wac", "admin-secret-1")
			body := map[string]any{"username": "alice", "password": "alice-password"}
			if tc.caps != nil {
				body["capabilities"] = tc.caps
			}
			if err := admin.API(ctx, "POST", "/sapi/users", body, nil); err != nil {
				t.Fatal(err)
			}
			alice, _ := client.Login(ctx, url, "alice@wac", "alice-password")
			a, err := alice.Connect(ctx, client.ConnectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			check := func(what string, err error) {
				t.Helper()
				var c *client.CancelError
				if !errors.As(err, &c) || c.Code != 403 || !strings.Contains(c.Message, tc.want) {
					t.Errorf("%s: %v, want 403 naming %q", what, err, tc.want)
				}
			}
			_, err = a.Request(ctx, "createRoom", map[string]any{"record": true}, nil)
			check("createRoom record", err)
			f, err := a.Request(ctx, "createRoom", map[string]any{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var r roomObject
			json.Unmarshal(f.Payload, &r)
			_, err = a.Request(ctx, "updateRoom", map[string]any{"room": r.Room, "record": true}, nil)
			check("updateRoom record", err)
			_, err = a.Request(ctx, "startRecording", map[string]any{"room": r.Room}, nil)
			check("startRecording", err)
			if _, err := a.Request(ctx, "updateRoom", map[string]any{"room": r.Room, "record": false}, nil); err != nil {
				t.Errorf("record false is always accepted: %v", err)
			}
		})
	}
}

// A storage error on the media node stops the recording cleanly and the
// room is told: the node's heartbeat reports it, and everyone in the room
// gets recordingStopped with the reason; an alarm is raised and the file
// written so far is kept.
func TestRecordingStorageErrorTellsTheRoom(t *testing.T) {
	testenv.NeedPrograms(t, "ffmpeg")
	n, url := startNodeWith(t, t.TempDir(), func(c *config.Config) { c.Media.Heartbeat = time.Second })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	m, err := peer.MakeMedia(ctx, "ffmpeg", t.TempDir(), 3, 440)
	if err != nil {
		t.Fatalf("test media (Debian's ffmpeg is needed): %v", err)
	}
	admin, _ := client.Login(ctx, url, "admin@wac", "admin-secret-1")
	if err := admin.API(ctx, "POST", "/sapi/users", map[string]any{"username": "alice", "password": "alice-password"}, nil); err != nil {
		t.Fatal(err)
	}
	alice, _ := client.Login(ctx, url, "alice@wac", "alice-password")
	a, err := alice.Connect(ctx, client.ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	f, err := a.Request(ctx, "createRoom", map[string]any{"record": true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var obj roomObject
	json.Unmarshal(f.Payload, &obj)
	a.Request(ctx, "joinRoom", map[string]any{"room": obj.Room}, nil)
	var list []recordingAnswer
	if err := alice.API(ctx, "GET", "/sapi/recordings?room="+obj.Room, nil, &list); err != nil || len(list) != 1 {
		t.Fatalf("recordings %v %v", list, err)
	}
	// Alice's video file will be a device that is always full: ENOSPC.
	c, err := janus.Dial(ctx, obj.Server.WSS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, _ := c.CreateSession(ctx)
	h, _ := s.Attach(ctx, "janus.plugin.videoroom")
	joined, err := peer.JoinPublisher(ctx, h, obj.Room, obj.Token, "alice")
	if err != nil {
		t.Fatal(err)
	}
	d, err := n.Store.GetDomainByName(ctx, "wac")
	if err != nil {
		t.Fatal(err)
	}
	seg := filepath.Join(n.Config.RecordingPath(), d.ID, list[0].ID, "seg1")
	if err := os.Symlink("/dev/full", filepath.Join(seg, fmt.Sprintf("%d-video-2.webm", joined.ID))); err != nil {
		t.Fatal(err)
	}
	api, _ := peer.NewAPI(peer.APIOptions{})
	pub, err := peer.Publish(ctx, api, h, "vp8", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := peer.Active(ctx, h, pub.PC); err != nil {
		t.Fatal(err)
	}
	sctx, stopMedia := context.WithCancel(ctx)
	defer stopMedia() // before pub.Close, which waits for the senders
	pub.SendMedia(sctx, m)
	ev, err := a.WaitEvent(ctx, "recordingStopped")
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Record bool   `json:"record"`
		Reason string `json:"reason"`
		By     string `json:"by"`
	}
	ev.Decode(&p)
	if p.Record || p.By != "" || !strings.Contains(p.Reason, "no space left on device") {
		t.Errorf("recordingStopped %s", ev.Payload)
	}
	var alarms []struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	}
	if err := admin.API(ctx, "GET", "/sapi/alarms", nil, &alarms); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, al := range alarms {
		found = found || al.Type == "recording-storage"
	}
	if !found {
		t.Errorf("alarms %+v", alarms)
	}
	// The room may record again (a new recording).
	if _, err := a.Request(ctx, "getRoom", map[string]any{"room": obj.Room}, nil); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		list = nil
		alice.API(ctx, "GET", "/sapi/recordings?room="+obj.Room, nil, &list)
		if len(list) == 1 && list[0].Status != "recording" && list[0].Status != "stopped" && list[0].Status != "composing" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("recordings %+v", list)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(list[0].Note, "stopped early") {
		t.Errorf("note %q", list[0].Note)
	}
	kept := false
	for _, tr := range list[0].Tracks {
		kept = kept || tr.Kind == "audio"
	}
	if !kept {
		t.Errorf("the audio written before the error is not kept: %+v", list[0].Tracks)
	}
}
