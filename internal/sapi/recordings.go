package sapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/openwac/wac/internal/auth"
	"github.com/openwac/wac/internal/store"
)

// RecordingFiles gives the API the files of recordings (package record's
// storage: the local disk or an object store).
type RecordingFiles interface {
	// Open returns the file at key, or an error wrapping ErrNoFile.
	Open(ctx context.Context, key string) (RecordingFile, error)
	// Delete removes a recording's files and its row.
	Delete(ctx context.Context, rec *store.Recording) error
}

// RecordingFile is an opened recording file.
type RecordingFile interface {
	io.ReadSeekCloser
	Size() int64
	ModTime() time.Time
}

// ErrNoFile is what RecordingFiles.Open wraps for a missing file.
var ErrNoFile = errors.New("no such recording file")

// SetRecordings gives the API the recordings' files and the key that
// signs their play links; without it the recordings are listed but their
// files are not served.
func (a *API) SetRecordings(f RecordingFiles, linkKey []byte) {
	a.recordings, a.linkKey = f, linkKey
}

// playURL is a signed link to a recording file for user, valid for
// recording.linkSeconds: a <video> element cannot send a bearer token.
func (a *API) playURL(base, id, file, user string) string {
	if len(a.linkKey) == 0 {
		return ""
	}
	exp := time.Now().Add(a.cfg.Recording.LinkTTL).Unix()
	q := url.Values{"u": {user}, "exp": {strconv.FormatInt(exp, 10)}, "sig": {a.linkSig(id, file, user, exp)}}
	return base + "?" + q.Encode()
}

func (a *API) linkSig(id, file, user string, exp int64) string {
	m := hmac.New(sha256.New, a.linkKey)
	fmt.Fprintf(m, "recording-link\x00%s\x00%s\x00%s\x00%d", id, file, user, exp)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// signedOrAuthed serves a recording file to a request with a valid signed
// link (it was issued to a user who may see the recording), or else to an
// authenticated caller who may.
func (a *API) signedOrAuthed(file func(r *http.Request) string, h handlerFunc) http.Handler {
	authed := a.authed(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if !q.Has("sig") {
			authed.ServeHTTP(w, r)
			return
		}
		exp, err := strconv.ParseInt(q.Get("exp"), 10, 64)
		want := a.linkSig(r.PathValue("id"), file(r), q.Get("u"), exp)
		if len(a.linkKey) == 0 || err != nil || !hmac.Equal([]byte(want), []byte(q.Get("sig"))) {
			a.fail(w, r, errorf(http.StatusUnauthorized, "the recording link is not valid"))
			return
		}
		if time.Now().Unix() > exp {
			a.fail(w, r, errorf(http.StatusUnauthorized, "the recording link expired (recording.linkSeconds); get a new one from GET /sapi/recordings/{id}"))
			return
		}
		if err := h(w, r, nil); err != nil {
			a.fail(w, r, err)
		}
	})
}

// recordingJSON is a recording: its room, status, segments with their
// tracks, the room's events, and the composed file.
type recordingJSON struct {
	ID        string                   `json:"id"`
	Domain    string                   `json:"domain"`
	Room      string                   `json:"room"`
	Status    string                   `json:"status"`
	Started   int64                    `json:"started"`
	Stopped   int64                    `json:"stopped"`
	StartedBy string                   `json:"startedBy,omitempty"`
	Size      int64                    `json:"size"`
	Duration  int64                    `json:"duration"`
	Note      string                   `json:"note,omitempty"`
	Media     *recordingMediaJSON      `json:"media"`
	Segments  []store.RecordingSegment `json:"segments"`
	Tracks    []recordingTrackJSON     `json:"tracks"`
	Events    []store.RecordingEvent   `json:"events"`
	Users     []string                 `json:"users"`
}

type recordingMediaJSON struct {
	URL      string `json:"url"`
	PlayURL  string `json:"playUrl,omitempty"`
	Type     string `json:"type"`
	Size     int64  `json:"size"`
	Duration int64  `json:"duration"`
}

// recordingTrackJSON is a track with its download URL and its place on the
// recording's timeline.
type recordingTrackJSON struct {
	Index    int    `json:"index"`
	Segment  int    `json:"segment"`
	Kind     string `json:"kind"`
	Codec    string `json:"codec"`
	User     string `json:"user"`
	Display  string `json:"display,omitempty"`
	Offset   int64  `json:"offset"`
	Duration int64  `json:"duration"`
	Size     int64  `json:"size"`
	URL      string `json:"url"`
	PlayURL  string `json:"playUrl,omitempty"`
}

// recordingTracks flattens the tracks of every segment, numbered from 0.
func recordingTracks(rec *store.Recording) []store.RecordingTrack {
	var out []store.RecordingTrack
	for _, seg := range rec.Detail.Segments {
		out = append(out, seg.Tracks...)
	}
	return out
}

// recordingJSON is rec for caller p, with play links signed for p.
func (a *API) recordingJSON(rec *store.Recording, users map[string]string, p *auth.Principal) recordingJSON {
	out := toRecordingJSON(rec, users)
	if p == nil || p.UserID == "" {
		return out
	}
	if out.Media != nil {
		out.Media.PlayURL = a.playURL(out.Media.URL, rec.ID, "media", p.UserID)
	}
	for i := range out.Tracks {
		out.Tracks[i].PlayURL = a.playURL(out.Tracks[i].URL, rec.ID, "tracks/"+strconv.Itoa(i), p.UserID)
	}
	return out
}

func toRecordingJSON(rec *store.Recording, users map[string]string) recordingJSON {
	base := "/sapi/recordings/" + rec.ID
	out := recordingJSON{ID: rec.ID, Domain: rec.DomainID, Room: rec.Room, Status: rec.Status, Started: rec.Started,
		Stopped: rec.Stopped, StartedBy: rec.Detail.StartedBy, Size: rec.Size, Note: rec.Detail.Note,
		Segments: rec.Detail.Segments, Events: rec.Detail.Events, Tracks: []recordingTrackJSON{}, Users: []string{}}
	if out.Segments == nil {
		out.Segments = []store.RecordingSegment{}
	}
	if out.Events == nil {
		out.Events = []store.RecordingEvent{}
	}
	i := 0
	for _, seg := range rec.Detail.Segments {
		for _, t := range seg.Tracks {
			out.Tracks = append(out.Tracks, recordingTrackJSON{Index: i, Segment: seg.Index, Kind: t.Kind, Codec: t.Codec,
				User: t.User, Display: t.Display, Offset: seg.Started - rec.Started + t.Offset, Duration: t.Duration, Size: t.Size,
				URL: base + "/tracks/" + strconv.Itoa(i)})
			out.Duration = max(out.Duration, seg.Started-rec.Started+t.Offset+t.Duration)
			i++
		}
	}
	if c := rec.Detail.Composed; c != nil {
		out.Media = &recordingMediaJSON{URL: base + "/media", Type: c.Type, Size: c.Size, Duration: c.Duration}
		out.Duration = max(out.Duration, c.Duration)
	}
	for u := range users {
		out.Users = append(out.Users, u)
	}
	sort.Strings(out.Users)
	return out
}

// recordingFilter reads the listing's filters: room, user (admins), from
// and to (unix milliseconds, or an RFC 3339 date or time).
func recordingFilter(r *http.Request) (store.RecordingFilter, string, error) {
	var f store.RecordingFilter
	var err error
	if f.Room, err = queryText(r, "room", maxQueryName); err != nil {
		return f, "", err
	}
	userQ, err := queryText(r, "user", maxQueryName)
	if err != nil {
		return f, "", err
	}
	for _, q := range []struct {
		name string
		dst  *int64
	}{{"from", &f.From}, {"to", &f.To}} {
		v, err := queryText(r, q.name, 40)
		if err != nil {
			return f, "", err
		}
		if v == "" {
			continue
		}
		t, ok := parseWhen(v)
		if !ok {
			return f, "", fieldErr(http.StatusBadRequest, q.name, "must be unix milliseconds or an RFC 3339 date (2026-01-31) or time, not %q", v)
		}
		*q.dst = t
	}
	if f.From > 0 && f.To > 0 && f.To <= f.From {
		return f, "", fieldErr(http.StatusBadRequest, "to", "must be after from")
	}
	return f, userQ, nil
}

// parseWhen reads unix milliseconds, an RFC 3339 time or a date (UTC).
func parseWhen(v string) (int64, bool) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
		return n, true
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UnixMilli(), true
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t.UnixMilli(), true
	}
	return 0, false
}

// listRecordings is GET /sapi/recordings: the recordings the caller took
// part in, newest first; admins see those of their scope (?user= narrows
// to one user).
func (a *API) listRecordings(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	f, userQ, err := recordingFilter(r)
	if err != nil {
		return err
	}
	switch {
	case p.IsAdmin():
		if f.DomainIDs, err = a.auth.Scope(r.Context(), p); err != nil {
			return err
		}
		f.UserID = userQ
	case p.UserID == "":
		return forbidden("clients have no recordings")
	default:
		if userQ != "" && userQ != p.UserID {
			return forbidden("only admins may list another user's recordings (field user)")
		}
		f.UserID = p.UserID
	}
	list, err := a.st.ListRecordings(r.Context(), f, pg)
	if err != nil {
		return err
	}
	out := make([]recordingJSON, 0, len(list))
	for _, rec := range list {
		users, err := a.st.RecordingUsers(r.Context(), rec.ID)
		if err != nil {
			return err
		}
		out = append(out, a.recordingJSON(rec, users, p))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// visibleRecording loads the recording of the path for a caller who may
// see it: one of its users, or an admin whose scope holds its domain or
// one of its users' domains. Others get 404, as for a recording that does
// not exist.
func (a *API) visibleRecording(r *http.Request, p *auth.Principal) (*store.Recording, map[string]string, bool, error) {
	id, err := pathID(r, "id", "recording")
	if err != nil {
		return nil, nil, false, err
	}
	rec, err := a.st.GetRecording(r.Context(), id)
	if err != nil {
		return nil, nil, false, storeErr(err, "recording")
	}
	users, err := a.st.RecordingUsers(r.Context(), id)
	if err != nil {
		return nil, nil, false, err
	}
	if p == nil {
		// A signed link (signedOrAuthed checked it): it was issued to one
		// of the users who may see the recording.
		return rec, users, false, nil
	}
	admin := false
	if p.IsAdmin() {
		scope, err := a.auth.Scope(r.Context(), p)
		if err != nil {
			return nil, nil, false, err
		}
		admin = auth.InScope(scope, rec.DomainID)
		for _, d := range users {
			admin = admin || auth.InScope(scope, d)
		}
	}
	_, participant := users[p.UserID]
	if !admin && (p.UserID == "" || !participant) {
		return nil, nil, false, notFound("recording")
	}
	return rec, users, admin, nil
}

// getRecording is GET /sapi/recordings/{id}.
func (a *API) getRecording(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	rec, users, _, err := a.visibleRecording(r, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.recordingJSON(rec, users, p))
	return nil
}

// recordingMedia is GET /sapi/recordings/{id}/media: the composed file,
// with range requests (a <video> element seeks in it).
func (a *API) recordingMedia(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	rec, _, _, err := a.visibleRecording(r, p)
	if err != nil {
		return err
	}
	c := rec.Detail.Composed
	if c == nil {
		msg := "recording " + rec.ID + " has no composed file (status " + rec.Status + ")"
		if rec.Detail.Note != "" {
			msg += ": " + rec.Detail.Note
		}
		return errorf(http.StatusNotFound, "%s; its tracks are at /sapi/recordings/%s/tracks/{index}", msg, rec.ID)
	}
	return a.serveRecordingFile(w, r, c.Key, c.Type, "recording-"+rec.ID+".webm")
}

// recordingTrack is GET /sapi/recordings/{id}/tracks/{index}: one track's
// file, once the recording stopped.
func (a *API) recordingTrack(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	rec, _, _, err := a.visibleRecording(r, p)
	if err != nil {
		return err
	}
	tracks := recordingTracks(rec)
	i, err := strconv.Atoi(r.PathValue("index"))
	if err != nil || i < 0 || i >= len(tracks) {
		return errorf(http.StatusNotFound, "recording %s has no track %q (it has %d, from 0)", rec.ID, r.PathValue("index"), len(tracks))
	}
	if rec.Status == store.RecordingActive || rec.Status == store.RecordingComposing {
		return errorf(http.StatusConflict, "recording %s is %s: its tracks can be downloaded once it is done", rec.ID, rec.Status)
	}
	t := tracks[i]
	ext := ".webm"
	if strings.HasSuffix(t.Key, ".mkv") {
		ext = ".mkv"
	}
	ctype := "video/webm"
	switch {
	case ext == ".mkv":
		ctype = "video/x-matroska"
	case t.Kind == "audio":
		ctype = "audio/webm"
	}
	return a.serveRecordingFile(w, r, t.Key, ctype, "recording-"+rec.ID+"-"+strconv.Itoa(i)+"-"+t.Kind+ext)
}

// serveRecordingFile streams a file with http.ServeContent: ranges,
// If-Range and HEAD.
func (a *API) serveRecordingFile(w http.ResponseWriter, r *http.Request, key, ctype, name string) error {
	if a.recordings == nil {
		return errorf(http.StatusServiceUnavailable, "recording files are not served by this node (no recording storage)")
	}
	f, err := a.recordings.Open(r.Context(), key)
	if errors.Is(err, ErrNoFile) {
		return errorf(http.StatusNotFound, "the recording file is missing from the storage")
	}
	if err != nil {
		return err
	}
	defer f.Close()
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", `inline; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "private, no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", f.ModTime(), f)
	return nil
}

// deleteRecording is DELETE /sapi/recordings/{id}: the admins of the
// recording's domain (or of one of its users' domains) delete it; its
// other users may see it but not delete it.
func (a *API) deleteRecording(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	rec, _, admin, err := a.visibleRecording(r, p)
	if err != nil {
		return err
	}
	if !admin {
		return forbidden("only admins of the recording's domain may delete it")
	}
	if rec.Status == store.RecordingActive {
		return errorf(http.StatusConflict, "recording %s is still recording: stop it first (stopRecording)", rec.ID)
	}
	if a.recordings == nil {
		return errorf(http.StatusServiceUnavailable, "recording files are not served by this node (no recording storage)")
	}
	if err := a.recordings.Delete(r.Context(), rec); err != nil {
		return err
	}
	a.log.Info("recording deleted", "recording", rec.ID, "by", p.UserID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
