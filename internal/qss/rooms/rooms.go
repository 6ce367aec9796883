// Package rooms is the rooms layer of signaling: the conference rooms a
// node owns (those its sessions created), their ACLs, participants and
// media (placed through Media), the requests about rooms (createRoom,
// joinRoom ..., quickConference), and their call records. An operation on
// a room owned by another node travels there as a typed operation
// (cluster.Ops) and runs under the room's lock on its owner.
//
// It sits on the sessions layer (package session) and knows nothing of
// invitations: they use the rooms through the methods of api.go, and hear
// of rooms that end through Options.Ended.
package rooms

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/openwac/wac/internal/bus"
	"github.com/openwac/wac/internal/grant"
	"github.com/openwac/wac/internal/qss/session"
	"github.com/openwac/wac/internal/qss/wire"
	"github.com/openwac/wac/internal/store"
)

// Media is the media side of rooms: the dispatcher that places a room on a
// media node. Nil means rooms have no media server.
type Media interface {
	CreateRoom(ctx context.Context, id string, opts MediaOptions) (MediaRoom, error)
	DestroyRoom(ctx context.Context, id string) error
	// ExpelUser ends a user's media in a room and refuses the user's room
	// grants there until AdmitUser.
	ExpelUser(ctx context.Context, room, user string) error
	AdmitUser(ctx context.Context, room, user string) error
	// StartRecording and StopRecording turn a room's recording on and off
	// on its media node.
	StartRecording(ctx context.Context, room string, o RecordingOptions) error
	StopRecording(ctx context.Context, room, by string) error
	// ICEServers are the STUN/TURN servers (with credentials) for a user.
	ICEServers(userID string) []wire.ICEServer
}

// MediaOptions are what a media room is created with.
type MediaOptions struct {
	Bitrate   int // kbps per video
	Record    bool
	Recording *RecordingOptions // what to record with, when Record
	// Number is the room's number, claimed in the cluster's state; the
	// media node gives the room that number, or refuses with
	// ErrNumberTaken when a room of its own has it. "" = the media node
	// picks one.
	Number string
}

// ErrNumberTaken is Media.CreateRoom's error when the number asked for is
// taken on the media node (by a room created there by its own API).
var ErrNumberTaken = errors.New("the room number is taken on the media node")

// MediaRoom is where a room's media lives.
type MediaRoom struct {
	Number     string // the numeric media room id
	ServerUUID string
	HTTPS      string // Janus HTTP endpoint
	WSS        string // Janus WebSocket endpoint
}

// Table holds the rooms this node owns and routes operations on rooms
// owned elsewhere to their node.
type Table struct {
	session.Base
	media    Media
	secret   []byte
	quickURI *regexp.Regexp
	calls    *callWriter
	// ended hears of the rooms of this node that end (their invitations
	// stop ringing).
	ended func(ctx context.Context, room string)
	// watchers hear of users leaving and rooms ending (Watch).
	watchers []Watcher
	// keypad sends the apps' DTMF to the phones of this node's rooms
	// (SetKeypad); nil = no sip role here.
	keypad Keypad
	// holder holds the phones of this node's rooms when their apps hold
	// (SetHolder); nil = no sip role here.
	holder Holder

	// numbers gives the candidate numbers of new rooms (claimNewNumber).
	numbers func() string

	mu    sync.Mutex
	rooms map[string]*room
	// created counts the rooms of this node each user created and that
	// still exist, for rooms.maxPerUser.
	created map[string]int
	owners  sync.Map // room id → ownerEntry, for rooms of other nodes
}

// Options are the parts a Table works with.
type Options struct {
	session.Base
	// Media places rooms on media nodes; nil = rooms have no media.
	Media Media
	// Secret signs the room grants of the room objects.
	Secret []byte
	// Ended hears of the rooms of this node that end.
	Ended func(ctx context.Context, room string)
	// Numbers gives the candidate numbers of new rooms; nil = 8 random
	// digits (tests make them collide).
	Numbers func() string
}

// New makes the rooms layer of a node: it serves the room requests of the
// sessions and the room operations of other nodes. Start starts its work.
func New(opts Options) (*Table, error) {
	quickURI, err := regexp.Compile(opts.Config.QuickConference.URIRegex)
	if err != nil {
		return nil, fmt.Errorf("config key quickConference.uriRegex: %w", err)
	}
	t := &Table{Base: opts.Base, media: opts.Media, secret: opts.Secret, quickURI: quickURI, ended: opts.Ended,
		calls: newCallWriter(opts.Store, opts.Log), rooms: map[string]*room{}, created: map[string]int{},
		numbers: opts.Numbers}
	if t.numbers == nil {
		t.numbers = newNumber
	}
	t.registerHandlers()
	t.Node.Serve(serviceRooms, t.serve)
	return t, nil
}

// Start finishes the calls an earlier run of this node left unfinished,
// before the node has rooms of its own (with a fixed bus.nodeId, the
// earlier run had this id), and starts the background work: the call
// records' writer, and every minute the owner cache's sweep and Upkeep.
func (t *Table) Start(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	t.finishDeadCalls(ctx, true)
	cancel()
	t.Tasks.Go(t.calls.run)
	t.Tasks.Every(time.Minute, func(context.Context) { t.sweepOwners() })
	t.Tasks.Every(time.Minute, t.Upkeep)
}

// reserve counts a new room of user, unless the user has rooms.maxPerUser
// rooms on this node already.
func (t *Table) reserve(user string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if limit := t.Config.Rooms.MaxPerUser; limit > 0 && t.created[user] >= limit {
		return false
	}
	t.created[user]++
	return true
}

func (t *Table) release(user string) {
	t.mu.Lock()
	t.releaseLocked(user)
	t.mu.Unlock()
}

func (t *Table) releaseLocked(user string) {
	if t.created[user] <= 1 {
		delete(t.created, user)
		return
	}
	t.created[user]--
}

// room is a conference room, on the node that owns it.
type room struct {
	mu       sync.Mutex
	id       string // the room's uuid (or the owner's username with userIdAsRoomId)
	recordID string // 24-hex id of the room object and of its call record
	number   string
	owner    string
	creator  string // the user who created it, for rooms.maxPerUser
	// domainID is the domain of the room: its creator's. Admin rights over
	// a room are those of admins of this domain (and of domains above it).
	domainID string
	record   bool
	bitrate  int
	limit    int
	created  time.Time
	media    MediaRoom
	acl      []string // users allowed in, in the order they were added
	inACL    map[string]bool
	// expelled are users expelled from the room's media, refused by the
	// media server until they are in the ACL again.
	expelled     map[string]bool
	t            *Table
	participants map[string]*participant // joined users
	order        []string                // joined users in joining order
	idleSince    time.Time
	destroyed    bool
	quickURI     string
	call         *store.Call
	users        map[string]string // every user of the call → domain id, for the call record
	invited      map[string]string // users added to the ACL by an invitation → invite id
}

type participant struct {
	user     session.User
	sessions map[string]int64 // session → joined (ms)
	joined   int64
	hold     bool
}

// Info is a snapshot of a room: what every room object is built from.
type Info struct {
	ID                string        `json:"id"`
	RecordID          string        `json:"recordId"`
	Number            string        `json:"number"`
	DomainID          string        `json:"domainId"`
	Owner             string        `json:"owner"`
	Record            bool          `json:"record"`
	Bitrate           int           `json:"bitrate"`
	Limit             int           `json:"limit"`
	Created           int64         `json:"created"`
	Media             MediaRoom     `json:"media"`
	ACL               []string      `json:"acl"`
	Joined            []string      `json:"joined"`
	ParticipantDetail []Participant `json:"participantsDetails,omitempty"`
}

type Participant struct {
	ID       string   `json:"id"`
	Username string   `json:"username"`
	Domain   string   `json:"domain"`
	Sessions []string `json:"sessions"`
	Joined   int64    `json:"joined"`
	Hold     bool     `json:"hold"`
}

// Object is the seeds' room object, made for one user: its token is that
// user's grant for the room's media.
type Object struct {
	ID                string           `json:"id"`
	UUID              string           `json:"uuid"`
	Owner             string           `json:"owner"`
	Record            bool             `json:"record"`
	Number            string           `json:"number"`
	SipURI            string           `json:"sipUri"`
	Bitrate           int              `json:"bitrate"`
	ServerUUID        string           `json:"serverUuid"`
	Server            roomServer       `json:"server"`
	Timestamp         int64            `json:"timestamp"`
	ParticipantsLimit int              `json:"participantsLimit"`
	ICE               []wire.ICEServer `json:"ice"`
	Room              string           `json:"room"`
	Token             string           `json:"token"`
	Participants      []string         `json:"participants"`
	Joined            []string         `json:"joined"`
	ParticipantDetail []Participant    `json:"participantsDetails,omitempty"`
}

type roomServer struct {
	HTTPS string `json:"https"`
	WSS   string `json:"wss"`
}

// Object builds the room object of info for user (and session).
func (t *Table) Object(info *Info, user, session string) *Object {
	sip := ""
	if d := t.Config.RoomSIPDomain(); d != "" && info.Number != "" {
		sip = "sip:888" + info.Number + "@" + d
	}
	ttl := t.Config.Rooms.TokenTTL
	tok := grant.Sign(t.secret, grant.Grant{Room: info.ID, User: user, Session: session, Publish: true, Subscribe: true,
		Expires: time.Now().Add(ttl).Unix()})
	ice := t.iceServers(user)
	return &Object{
		ID: info.RecordID, UUID: info.ID, Owner: info.Owner, Record: info.Record, Number: info.Number, SipURI: sip,
		Bitrate: info.Bitrate, ServerUUID: info.Media.ServerUUID,
		Server:    roomServer{HTTPS: info.Media.HTTPS, WSS: info.Media.WSS},
		Timestamp: info.Created, ParticipantsLimit: info.Limit, ICE: ice, Room: info.ID, Token: tok,
		Participants: nonNilStrings(info.ACL), Joined: nonNilStrings(info.Joined), ParticipantDetail: info.ParticipantDetail,
	}
}

// iceServers is the room object's ice list for a user: the media side's
// STUN and TURN servers, or turn.stunServers when the node has no media.
func (t *Table) iceServers(user string) []wire.ICEServer {
	if t.media != nil {
		if ice := t.media.ICEServers(user); ice != nil {
			return ice
		}
		return []wire.ICEServer{}
	}
	ice := []wire.ICEServer{}
	for _, u := range t.Config.TURN.STUNServers {
		ice = append(ice, wire.ICEServer{URLs: []string{u}})
	}
	return ice
}

func nonNilStrings(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// roomToken is a room id as a key token: itself when it is lower-case
// letters and digits (uuids), else x and its hex (usernames).
func roomToken(id string) string {
	if isToken(id) {
		return id
	}
	return "x" + hex.EncodeToString([]byte(id))
}

// callsKey is the shared set of the rooms a user is in: room id → owner
// node.
func callsKey(user string) string { return "calls." + user }

// roomKey is the shared-state key that names a room's owner node.
func roomKey(id string) string { return "room." + roomToken(id) }

// isToken reports whether s is lower-case letters and digits only.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func newUUID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func newNumber() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(90000000))
	return fmt.Sprint(10000000 + n.Int64())
}

// createOptions are createRoom's payload.
type createOptions struct {
	Room              string   `json:"room"`
	Record            bool     `json:"record"`
	ACL               []string `json:"acl"`
	ParticipantsLimit int      `json:"participantsLimit"`
	Bitrate           int      `json:"bitrate"`
	// domainID is the domain the room belongs to when it is not its
	// creator's (a meeting's room is the meeting's domain's); never read
	// from a request.
	domainID string
}

// create makes a room owned by this node, with s's user as owner (when
// rooms.setOwner) and in the ACL.
func (t *Table) create(ctx context.Context, s *session.Session, opts createOptions, acl []session.User, quickURI, fixedID string) (*Info, error) {
	return t.createAs(ctx, s.Me(), s.ID, opts, acl, quickURI, fixedID)
}

// createAs makes a room owned by this node for creator (whose session peer
// asked for it; empty for a room the server makes, such as a call from the
// SIP trunk).
func (t *Table) createAs(ctx context.Context, creator session.User, peer string, opts createOptions, acl []session.User, quickURI, fixedID string) (*Info, error) {
	id := fixedID
	if id == "" {
		id = newUUID()
	}
	if t.Config.Rooms.UserIDAsRoomID && quickURI == "" {
		id = personalRoomID(t.Config.DefaultDomain, creator)
	}
	limit := t.Config.Rooms.ParticipantsLimit
	if opts.ParticipantsLimit > 0 && opts.ParticipantsLimit < limit {
		limit = opts.ParticipantsLimit
	}
	bitrate := t.Config.Rooms.Bitrate
	if opts.Bitrate > 0 && opts.Bitrate < bitrate {
		bitrate = opts.Bitrate
	}
	err := t.Node.State.Create(ctx, roomKey(id), []byte(t.Node.ID))
	if errors.Is(err, bus.ErrExists) && t.takeOver(ctx, id) {
		err = nil
	}
	if err != nil {
		if errors.Is(err, bus.ErrExists) {
			if t.Config.Rooms.UserIDAsRoomID && quickURI == "" {
				// The user's room exists already: it is theirs to use.
				return ask[Info](ctx, t, id, actor{User: creator}, &getOp{})
			}
			return nil, wire.Refuse(409, "room %s exists", id)
		}
		return nil, fmt.Errorf("claim room: %w", err)
	}
	if !t.reserve(creator.ID) {
		t.Node.State.Delete(ctx, roomKey(id))
		return nil, wire.Refuse(429, "you have %d rooms open, the most rooms.maxPerUser allows; destroy or leave one first", t.Config.Rooms.MaxPerUser)
	}
	r := &room{
		t: t, id: id, recordID: store.NewID(), domainID: cmp.Or(opts.domainID, creator.DomainID), creator: creator.ID,
		record: opts.Record, bitrate: bitrate, limit: limit,
		created: time.Now(), inACL: map[string]bool{}, participants: map[string]*participant{}, quickURI: quickURI,
		users: map[string]string{}, invited: map[string]string{},
	}
	r.idleSince = r.created
	if t.Config.Rooms.SetOwner && quickURI == "" {
		r.owner = creator.ID
	}
	if quickURI == "" {
		r.addACL(creator)
	}
	for _, u := range acl {
		r.addACL(u)
	}
	// The number is claimed before the media room is made with it, so
	// that no two rooms of the cluster share one (it is how phones dial
	// in, and Janus clients address rooms).
	var claimed bool
	r.number, claimed = t.claimNewNumber(ctx, id)
	if t.media != nil {
		mo := MediaOptions{Bitrate: t.Config.Media.Bitrate, Record: opts.Record,
			Recording: recordingOptions(r.domainID, creator, acl), Number: r.number}
		m, err := t.media.CreateRoom(ctx, id, mo)
		for try := 0; errors.Is(err, ErrNumberTaken) && try < maxNumberTries; try++ {
			t.releaseNumber(ctx, id, r.number)
			r.number, claimed = t.claimNewNumber(ctx, id)
			mo.Number = r.number
			m, err = t.media.CreateRoom(ctx, id, mo)
		}
		if err != nil {
			t.releaseNumber(ctx, id, r.number)
			t.release(r.creator)
			t.Node.State.Delete(ctx, roomKey(id))
			var c *wire.Cancel
			if errors.As(err, &c) {
				return nil, err
			}
			// A media node that did not answer, or refused, or no
			// number free: the app may try again (not an internal
			// error); the cause is for the operator.
			t.Log.Warn("qss: the room's media could not be made", "room", id, "err", err)
			return nil, wire.Refuse(503, "no media server could take the room; try again")
		}
		r.media = m
		if m.Number != "" && m.Number != r.number {
			// The media node had the room already, with its number.
			t.releaseNumber(ctx, id, r.number)
			r.number, claimed = m.Number, false
		}
	}
	if !claimed {
		t.claimNumber(ctx, id, r.number)
	}
	r.call = &store.Call{ID: r.recordID, Room: id, OwnerID: r.owner, Node: t.Node.ID, Created: r.created.UnixMilli(),
		Detail: store.CallDetail{Creator: creator.ID}}
	r.users[creator.ID] = creator.DomainID
	t.mu.Lock()
	t.rooms[id] = r
	t.mu.Unlock()
	t.calls.save(r.snapshotCall())
	t.Log.Debug("create", "peer", peer, "room", id, "record", opts.Record)
	t.Log.Info("Creating room state for the room "+id+" with type "+roomType(quickURI), "room", id)
	info := r.info(false)
	return &info, nil
}

// personalRoomID is the id of a user's own room with rooms.userIdAsRoomId:
// the username for users of the default domain, as the seeds have it, and
// username@domain for the other domains, so that alice of one tenant never
// lands in (or blocks) the room of alice of another.
func personalRoomID(defaultDomain string, p session.User) string {
	if strings.EqualFold(p.Domain, defaultDomain) {
		return p.Username
	}
	return p.Username + "@" + p.Domain
}

func roomType(quickURI string) string {
	if isMeeting(quickURI) {
		return "meeting"
	}
	if quickURI != "" {
		return "quickConference"
	}
	return "basic"
}

func (r *room) addACL(u session.User) {
	if !r.inACL[u.ID] {
		r.inACL[u.ID] = true
		r.acl = append(r.acl, u.ID)
	}
	r.readmit(u.ID)
}

// readmit lets an expelled user back into the room's media, now that the
// user is in the ACL again. The user needs an invitation, an answer and a
// join before using media, so the command is well ahead of it.
func (r *room) readmit(user string) {
	if !r.expelled[user] {
		return
	}
	delete(r.expelled, user)
	t, id := r.t, r.id
	if t == nil || t.media == nil {
		return
	}
	t.Tasks.Go(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := t.media.AdmitUser(ctx, id, user); err != nil {
			t.Log.Warn("qss: admit a user to the media room again", "room", id, "user", user, "err", err)
		}
	})
}

func (r *room) removeACL(id string) {
	if !r.inACL[id] {
		return
	}
	delete(r.inACL, id)
	for i, a := range r.acl {
		if a == id {
			r.acl = append(r.acl[:i:i], r.acl[i+1:]...)
			break
		}
	}
}

// info snapshots the room; r.mu is held or the room is new.
func (r *room) info(details bool) Info {
	ri := Info{ID: r.id, RecordID: r.recordID, Number: r.number, DomainID: r.domainID, Owner: r.owner, Record: r.record, Bitrate: r.bitrate,
		Limit: r.limit, Created: r.created.UnixMilli(), Media: r.media, ACL: append([]string{}, r.acl...),
		Joined: append([]string{}, r.order...)}
	if details {
		ri.ParticipantDetail = []Participant{}
		for _, id := range r.order {
			p := r.participants[id]
			pj := Participant{ID: id, Username: p.user.Username, Domain: p.user.Domain, Joined: p.joined, Hold: p.hold}
			for sid := range p.sessions {
				pj.Sessions = append(pj.Sessions, sid)
			}
			sort.Strings(pj.Sessions)
			ri.ParticipantDetail = append(ri.ParticipantDetail, pj)
		}
	}
	return ri
}

func (r *room) snapshotCall() *callSave {
	c := *r.call
	c.Detail.Participants = append([]store.CallParticipant{}, r.call.Detail.Participants...)
	c.Detail.Invites = append([]store.CallInvite{}, r.call.Detail.Invites...)
	c.Detail.Transfers = append([]store.CallTransfer{}, r.call.Detail.Transfers...)
	domains := map[string]bool{}
	users := map[string]string{}
	for u, d := range r.users {
		users[u] = d
		domains[d] = true
	}
	c.Detail.Domains = nil
	for d := range domains {
		c.Detail.Domains = append(c.Detail.Domains, d)
	}
	sort.Strings(c.Detail.Domains)
	c.OwnerID = r.owner
	return &callSave{call: &c, users: users}
}

// takeOver claims a room id whose owner node is gone (it died without
// destroying its rooms), so that the id can be used again: a user's own
// room with userIdAsRoomId, a quick conference URI. The claim is a
// compare-and-set: of two nodes taking over at once, one wins.
func (t *Table) takeOver(ctx context.Context, id string) bool {
	v, rev, err := t.Node.State.Get(ctx, roomKey(id))
	if err != nil {
		return false
	}
	owner := string(v)
	if owner == t.Node.ID || t.Node.Alive(ctx, owner) {
		return false
	}
	if err := t.Node.State.Update(ctx, roomKey(id), []byte(t.Node.ID), rev); err != nil {
		return false
	}
	t.owners.Delete(id)
	t.Log.Info("qss: reusing the id of a room whose node is gone", "room", id, "node", owner)
	return true
}

// ownerEntry is a cached owner of a room of another node.
type ownerEntry struct {
	node string
	at   time.Time
}

// ownerCacheTTL is how long a room's owner is remembered without asking
// the shared state again.
const ownerCacheTTL = 5 * time.Minute

// sweepOwners forgets owners cached long ago, so that the cache holds only
// rooms in use.
func (t *Table) sweepOwners() {
	old := time.Now().Add(-ownerCacheTTL)
	t.owners.Range(func(k, v any) bool {
		if v.(ownerEntry).at.Before(old) {
			t.owners.Delete(k)
		}
		return true
	})
}

func (t *Table) owner(ctx context.Context, id string) (string, error) {
	if v, ok := t.owners.Load(id); ok {
		return v.(ownerEntry).node, nil
	}
	v, _, err := t.Node.State.Get(ctx, roomKey(id))
	if errors.Is(err, bus.ErrNotFound) {
		return "", wire.Refuse(404, "room %s not found", wire.Truncate(id, 80))
	}
	if err != nil {
		return "", err
	}
	owner := string(v)
	if !t.Node.Alive(ctx, owner) {
		return "", wire.Refuse(404, "room %s not found (its node is gone)", wire.Truncate(id, 80))
	}
	t.owners.Store(id, ownerEntry{node: owner, at: time.Now()})
	return owner, nil
}

// LeaveAll takes a session out of the rooms it joined, with code and
// reason: it is gone.
func (t *Table) LeaveAll(ctx context.Context, s *session.Session, code int, reason string) {
	for _, room := range s.Rooms() {
		if err := t.do(ctx, room, actor{User: s.Me()}, &leaveOp{Session: s.ID, Code: code, Reason: reason}); err != nil {
			t.Log.Debug("qss: leave on disconnect", "room", room, "session", s.ID, "err", err)
		}
		s.SetJoined(room, false)
	}
}

// administers reports whether u has admin rights over a room of domainID:
// u is an admin of that domain or of a domain above it, or of the default
// domain (the system's admins). An admin of another tenant has none: to it
// the room is any other user's room.
func (t *Table) administers(ctx context.Context, u session.User, domainID string) bool {
	if u.Role != store.RoleAdmin || u.DomainID == "" {
		return false
	}
	ok, err := t.Auth.Administers(ctx, u.DomainID, u.Domain, domainID)
	if err != nil {
		t.Log.Warn("qss: check an admin's domain", "user", u.ID, "domain", domainID, "err", err)
		return false
	}
	return ok
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// broadcast returns a function that sends frame to the joined sessions of
// every participant but except.
func (r *room) broadcast(t *Table, frame []byte, except string) func() {
	type target struct {
		user     string
		sessions []string
	}
	var targets []target
	for _, id := range r.order {
		if id == except {
			continue
		}
		targets = append(targets, target{id, keys(r.participants[id].sessions)})
	}
	return func() {
		for _, tg := range targets {
			t.Sessions.Deliver(t.Tasks.Context(), tg.user, tg.sessions, frame)
		}
	}
}

// remoteParticipants is the event with the room's participant list.
func (r *room) remoteParticipants() []byte {
	info := r.info(true)
	return wire.EventFrame("remoteParticipants", map[string]any{"room": r.id, "participants": info.ParticipantDetail})
}

// destroyLocked ends a room; r.mu is held. It returns the notifications to
// send once the lock is released.
func (t *Table) destroyLocked(r *room, by, reason string) []func() {
	r.destroyed = true
	now := time.Now().UnixMilli()
	for i := range r.call.Detail.Participants {
		if cp := &r.call.Detail.Participants[i]; cp.Left == 0 {
			cp.Left, cp.Code = now, 200
		}
	}
	r.call.Finished = now
	t.calls.save(r.snapshotCall())
	frame := wire.EventFrame("destroyed", map[string]any{"room": r.id, "by": by, "reason": reason})
	notify := []func(){r.broadcast(t, frame, "")}
	joined := map[string][]string{}
	for id, p := range r.participants {
		joined[id] = keys(p.sessions)
	}
	id, quick, number := r.id, r.quickURI, r.number
	t.mu.Lock()
	delete(t.rooms, id)
	t.releaseLocked(r.creator)
	t.mu.Unlock()
	notify = append(notify, func() {
		ctx, cancel := context.WithTimeout(t.Tasks.Context(), 10*time.Second)
		defer cancel()
		for user, sessions := range joined {
			t.Sessions.SetJoined(ctx, user, sessions, id, false)
			t.Node.State.SetDelete(ctx, callsKey(user), id)
		}
		t.ended(ctx, id)
		t.tellWatchers(id, nil, true)
		if t.media != nil {
			if err := t.media.DestroyRoom(ctx, id); err != nil {
				t.Log.Warn("qss: destroy media room", "room", id, "err", err)
			}
		}
		t.Node.State.Delete(ctx, roomKey(id))
		t.releaseNumber(ctx, id, number)
		if quick != "" {
			t.Node.State.Delete(ctx, "qconf.x"+hexOf(quick))
		}
		t.Log.Info("Destroying the room state of the room "+id, "room", id, "reason", reason)
	})
	return notify
}

// MediaRoomEnded destroys a room whose media node died.
func (t *Table) MediaRoomEnded(id, reason string) {
	t.mu.Lock()
	r := t.rooms[id]
	t.mu.Unlock()
	if r == nil {
		return
	}
	r.mu.Lock()
	if r.destroyed {
		r.mu.Unlock()
		return
	}
	notify := t.destroyLocked(r, "", "media ended: "+reason)
	r.mu.Unlock()
	for _, fn := range notify {
		fn()
	}
}

func (t *Table) destroyIdle(ctx context.Context, idle time.Duration) {
	t.mu.Lock()
	var list []*room
	for _, r := range t.rooms {
		list = append(list, r)
	}
	t.mu.Unlock()
	for _, r := range list {
		r.mu.Lock()
		if !r.destroyed && len(r.participants) == 0 && time.Since(r.idleSince) > idle {
			notify := t.destroyLocked(r, "", "idle")
			r.mu.Unlock()
			for _, fn := range notify {
				fn()
			}
			continue
		}
		r.mu.Unlock()
	}
}

// CloseAll destroys the rooms of this node: it is shutting down.
func (t *Table) CloseAll(ctx context.Context) {
	t.mu.Lock()
	var list []*room
	for _, r := range t.rooms {
		list = append(list, r)
	}
	t.mu.Unlock()
	for _, r := range list {
		r.mu.Lock()
		if r.destroyed {
			r.mu.Unlock()
			continue
		}
		notify := t.destroyLocked(r, "", "server shutting down")
		r.mu.Unlock()
		for _, fn := range notify {
			fn()
		}
	}
}

func (r *room) recordInvite(e store.CallInvite) {
	for i := range r.call.Detail.Invites {
		if r.call.Detail.Invites[i].ID == e.ID {
			r.call.Detail.Invites[i] = e
			return
		}
	}
	r.call.Detail.Invites = append(r.call.Detail.Invites, e)
}

func (r *room) recordTransfer(e store.CallTransfer) {
	for i := range r.call.Detail.Transfers {
		if r.call.Detail.Transfers[i].ID == e.ID {
			r.call.Detail.Transfers[i] = e
			return
		}
	}
	r.call.Detail.Transfers = append(r.call.Detail.Transfers, e)
}

// InCall reports whether a user is in a room other than except.
func (t *Table) InCall(ctx context.Context, userID, except string) bool {
	m, err := t.Node.State.SetGet(ctx, callsKey(userID))
	if err != nil {
		return false
	}
	for room, raw := range m {
		var node string
		if room == except || json.Unmarshal(raw, &node) != nil {
			continue
		}
		if t.Node.Alive(ctx, node) {
			return true
		}
	}
	return false
}

// errNotInACL is the seeds' refusal of a user who is not in a room's ACL.
func errNotInACL() *wire.Cancel {
	return &wire.Cancel{Code: 403, Message: "user not included into ACL"}
}
