package videoroom

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/pion/dtls/v3"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/srtp/v3"
	"github.com/pion/transport/v5/packetio"
	"github.com/pion/webrtc/v4"

	"github.com/openwac/wac/internal/media/udpport"
)

// Direct SRTP receive (media.directReceive).
//
// Pion hands a publisher's packet from the shared UDP port to the track
// through four goroutines, each behind a buffer: the ICE UDP mux's
// reader, the ICE agent's candidate reader, the DTLS/SRTP demultiplexer
// and the SRTP session, which decrypts into the read stream's buffer that
// the track's reader (the forwarder) reads through the interceptors. Per
// packet that is four buffer copies and four goroutine wake-ups, about a
// quarter of a media node's CPU when it bridges SIP calls (docs/sip.md).
//
// Once a publisher's connection is up, the port's reader takes the RTP of
// its audio streams itself (udpport.Diverter): found by the source address
// (the selected ICE pair's remote), decrypted with the connection's SRTP
// keys, and written into the read stream's buffer that Pion's SRTP session
// would have written it to, so that the interceptors (receiver reports,
// NACK, transport-cc) and the forwarder see every packet as before.
// Everything else takes Pion's path: STUN, DTLS, RTCP, video, the packets
// before the connection is up. One audio packet in directSample (by
// sequence number) is given to Pion's path as well, once written, so that
// the ICE agent keeps seeing the pair in use and the SRTP session's
// rollover counter keeps up with the stream; the buffer drops the copy
// Pion's session writes. (Left to Pion alone, that packet came late at
// 500 SIP calls, behind the next ones, and a SIP leg drops a late packet:
// 3% of the audio to the trunk.)
//
// Pion does not export the DTLS connection of a transport, whose keying
// material gives the SRTP keys; dtlsConnOf reads it from the transport's
// field. When that fails (another Pion version) the connection takes
// Pion's path and the log says why, once (TestDirectReceiveArms fails).

// directSample: one in directSample packets of a directly received stream
// (sequence number multiple of it) is given to Pion's path as well; one
// in directSample of a directly sent stream takes Pion's path. Enough for
// Pion's SRTP contexts to keep each stream's rollover counter (a packet
// well within every 2^15 sequence numbers) and its ICE agent to see the
// pair in use.
const directSample = 64

// directSteer tells the media port which datagrams take is likely to
// take, to receive them on sockets of their own spread over the cores
// (udpport.Steer): audio RTP of the payload types the node answers with
// (Opus, PCMU, PCMA) and the one Firefox offers Opus with (109). A video
// stream with one of these types only costs a hand-over to Pion's path.
var directSteer = udpport.Steer{PayloadTypes: []uint8{111, 0, 8, 109}}

// directRTP routes the directly received packets of the media port to
// their publishers' connections.
type directRTP struct {
	mu     sync.RWMutex
	routes map[netip.AddrPort]*directPeer

	taken, dropped, sent atomic.Uint64
	warned               atomic.Bool
}

func newDirectRTP() *directRTP {
	return &directRTP{routes: map[netip.AddrPort]*directPeer{}}
}

// take is the media port's divert function: it takes the packet when it
// is RTP of a stream received directly. The port's receivers call it
// concurrently.
func (d *directRTP) take(b []byte, from netip.AddrPort) bool {
	// RTP version 2, and not RTCP (RFC 5761: payload types 64-95 with the
	// marker bit, as Pion's demultiplexer tells them).
	if len(b) < 12 || b[0]>>6 != 2 || (b[1] >= 192 && b[1] <= 223) {
		return false
	}
	d.mu.RLock()
	dp := d.routes[from]
	d.mu.RUnlock()
	if dp == nil {
		return false
	}
	switch dp.take(b) {
	case directTaken:
		d.taken.Add(1)
		return true
	case directShared:
		d.taken.Add(1)
		return false
	case directDropped:
		d.dropped.Add(1)
		return true
	}
	return false
}

// route sends the packets from addr to dp (an invalid addr: none), and
// no longer those from the address dp had.
func (d *directRTP) route(dp *directPeer, addr netip.AddrPort) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if old := dp.addr; old.IsValid() && d.routes[old] == dp {
		delete(d.routes, old)
	}
	dp.addr = netip.AddrPort{}
	if !addr.IsValid() || dp.closed {
		return
	}
	if other := d.routes[addr]; other != nil {
		// Two connections with one remote address (a client muxing its
		// connections on one port): the first keeps it.
		return
	}
	d.routes[addr] = dp
	dp.addr = addr
}

// forget removes dp's route for good.
func (d *directRTP) forget(dp *directPeer) {
	d.mu.Lock()
	dp.closed = true
	if old := dp.addr; old.IsValid() && d.routes[old] == dp {
		delete(d.routes, old)
	}
	dp.addr = netip.AddrPort{}
	d.mu.Unlock()
}

// directPeer is a publisher's connection as the direct receive knows it.
type directPeer struct {
	d *directRTP

	// addr and closed are guarded by d.mu.
	addr   netip.AddrPort
	closed bool

	mu      sync.RWMutex
	buffers map[uint32]*directBuffer // the read streams' RTP buffers, by SSRC

	srtp    atomic.Pointer[srtp.Context] // the remote's keys; nil until armed
	cryptex atomic.Int32                 // the srtp.CryptexMode it was made with

	// rx guards take's use of the SRTP context and the fields below (the
	// port's receivers call it concurrently; a stream's packets come
	// from one of them, so it is rarely contended).
	rx      sync.Mutex
	hdr     rtp.Header
	scratch [directMTU]byte
}

// directMTU bounds a packet received directly (the forwarder's receive MTU).
const directMTU = 1600

type directResult int

const (
	directNot     directResult = iota // Pion's path
	directTaken                       // written to the stream's buffer
	directShared                      // written, and Pion's path sees it too (sampled)
	directDropped                     // not authentic, a replay, or no room
)

func (d *directRTP) newPeer() *directPeer {
	return &directPeer{d: d, buffers: map[uint32]*directBuffer{}}
}

func (dp *directPeer) take(b []byte) directResult {
	ctx := dp.srtp.Load()
	if ctx == nil || len(b) > len(dp.scratch) {
		return directNot
	}
	seq := binary.BigEndian.Uint16(b[2:4])
	sampled := seq%directSample == 0
	ssrc := binary.BigEndian.Uint32(b[8:12])
	dp.mu.RLock()
	buf := dp.buffers[ssrc]
	dp.mu.RUnlock()
	if buf == nil || !buf.direct.Load() {
		return directNot // not a stream whose reader is reader's
	}
	dp.rx.Lock()
	defer dp.rx.Unlock()
	out, err := ctx.DecryptRTP(dp.scratch[:0], b, &dp.hdr)
	if err != nil {
		if sampled {
			return directNot // Pion's to judge
		}
		return directDropped
	}
	if sampled {
		// Before the write: Pion's copy can only come after take
		// returns.
		buf.shared(seq)
	}
	if _, err := buf.Buffer.Write(out, nil); err != nil {
		return directDropped // the buffer is full or closed
	}
	if sampled {
		return directShared
	}
	return directTaken
}

// bufferFactory is the publisher's connection's SettingEngine
// BufferFactory: the buffers Pion's SRTP session writes into, the RTP
// ones kept by SSRC for take and reader. Sizes as Pion's own.
func (dp *directPeer) bufferFactory(kind packetio.BufferPacketType, ssrc uint32) io.ReadWriteCloser {
	b := packetio.NewBuffer()
	if kind != packetio.RTPBufferPacket {
		b.SetLimitSize(100 * 1000)
		return &directBuffer{Buffer: b}
	}
	b.SetLimitSize(1000 * 1000)
	db := &directBuffer{Buffer: b, dp: dp, ssrc: ssrc}
	dp.mu.Lock()
	dp.buffers[ssrc] = db
	dp.mu.Unlock()
	return db
}

// directBuffer is a read stream's buffer, written by Pion's SRTP session
// and (RTP, dp set) by take. Pion's read stream reads it only once a
// write of its own told it a packet is there, so the packets take writes
// would wait there unseen: the stream's reader is reader, which reads the
// buffer itself. A packet Pion's read stream did read (the one it peeks
// at to identify a stream whose SSRC the SDP did not declare) is kept in
// held for reader to give first. An RTP buffer leaves its peer's list
// when it is closed.
type directBuffer struct {
	*packetio.Buffer
	dp   *directPeer
	ssrc uint32

	mu    sync.Mutex
	held  [][]byte
	bound bool // its reader is chosen: nothing more is held
	// twins are the sequence numbers of sampled packets take wrote whose
	// copy Pion's session has not written yet (at most len: older ones
	// are forgotten).
	twins  [4]uint16
	ntwins int
	// direct is set when the stream's reader is reader's (an audio
	// stream): take may write to the buffer from then on.
	direct atomic.Bool
}

// Write implements io.Writer for Pion's SRTP session. The copy of a
// packet take wrote already is dropped.
func (b *directBuffer) Write(p []byte) (int, error) {
	if b.direct.Load() && len(p) >= 4 && b.twin(binary.BigEndian.Uint16(p[2:4])) {
		return len(p), nil
	}
	return b.Buffer.Write(p, nil)
}

// WriteWithAttributes is Write for Pion's SRTP session (which has no
// attributes to keep here).
func (b *directBuffer) WriteWithAttributes(p []byte, _ packetio.Attributes) (int, error) {
	return b.Write(p)
}

// shared notes that take wrote the sampled packet seq, which Pion's path
// gets as well.
func (b *directBuffer) shared(seq uint16) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ntwins == len(b.twins) {
		copy(b.twins[:], b.twins[1:])
		b.ntwins--
	}
	b.twins[b.ntwins] = seq
	b.ntwins++
}

// twin says whether Pion's session writes a packet take wrote already
// (and forgets it: Pion's replay check lets no second copy through).
func (b *directBuffer) twin(seq uint16) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, s := range b.twins[:b.ntwins] {
		if s == seq {
			copy(b.twins[i:], b.twins[i+1:b.ntwins])
			b.ntwins--
			return true
		}
	}
	return false
}

// Read implements io.Reader for Pion's read stream. Until the stream is
// bound (its reader chosen), what Pion reads is also kept for reader;
// a stream left to Pion's reader (not audio) keeps nothing.
func (b *directBuffer) Read(p []byte) (int, error) {
	n, _, err := b.Buffer.Read(p, nil)
	if err == nil && b.dp != nil {
		b.mu.Lock()
		if !b.bound && len(b.held) < maxHeld {
			b.held = append(b.held, append([]byte(nil), p[:n]...))
		}
		b.mu.Unlock()
	}
	return n, err
}

// maxHeld bounds the packets kept of Pion's reads before a stream is
// bound (it peeks at one, or a few for a simulcast stream's ids).
const maxHeld = 16

// Close implements io.Closer.
func (b *directBuffer) Close() error {
	if b.dp != nil {
		b.dp.mu.Lock()
		if b.dp.buffers[b.ssrc] == b {
			delete(b.dp.buffers, b.ssrc)
		}
		b.dp.mu.Unlock()
	}
	return b.Buffer.Close()
}

// readHeld gives the oldest packet Pion's read stream read, if any.
func (b *directBuffer) readHeld(p []byte) (int, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.held) == 0 {
		return 0, false, nil
	}
	pkt := b.held[0]
	b.held = b.held[1:]
	if len(pkt) > len(p) {
		return 0, true, io.ErrShortBuffer
	}
	return copy(p, pkt), true, nil
}

// reader binds the stream ssrc: for audio, the innermost RTP reader
// (headerOnce puts it in place of Pion's read stream), which reads the
// stream's buffer, where both Pion's SRTP session and take write; other
// streams, and those without a buffer of dp's, keep Pion's reader (and
// their buffer holds nothing more of what Pion reads).
func (dp *directPeer) reader(ssrc uint32, audio bool, pion interceptor.RTPReader) interceptor.RTPReader {
	dp.mu.RLock()
	db := dp.buffers[ssrc]
	dp.mu.RUnlock()
	if db == nil {
		return pion
	}
	db.mu.Lock()
	db.bound = true
	if !audio {
		db.held = nil
	}
	db.mu.Unlock()
	if !audio {
		return pion
	}
	db.direct.Store(true)
	return interceptor.RTPReaderFunc(func(p []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		if n, ok, err := db.readHeld(p); ok {
			return n, a, err
		}
		n, _, err := db.Buffer.Read(p, nil)
		return n, a, err
	})
}

// arm starts the direct receive of a connected publisher's connection:
// the remote's SRTP keys from its DTLS connection, and the route from the
// selected pair (followed when it changes).
func (dp *directPeer) arm(pc *webrtc.PeerConnection) error {
	if dp.srtp.Load() != nil {
		return nil
	}
	keys, profile, dt, err := srtpKeys(pc)
	if err != nil {
		return err
	}
	// The replay window of Pion's SRTP sessions, and RTP header
	// encryption as Pion receives it: accepted when this side's
	// description offers it (RFC 9335).
	mode := cryptexMode(pc.LocalDescription())
	ctx, err := srtp.CreateContext(keys.RemoteMasterKey, keys.RemoteMasterSalt, profile,
		srtp.SRTPReplayProtection(64), srtp.Cryptex(mode))
	if err != nil {
		return fmt.Errorf("SRTP context: %w", err)
	}
	it := dt.ICETransport()
	it.OnSelectedCandidatePairChange(dp.follow)
	pair, err := it.GetSelectedCandidatePair()
	if err != nil {
		return fmt.Errorf("selected ICE pair: %w", err)
	}
	dp.cryptex.Store(int32(mode))
	dp.srtp.Store(ctx)
	dp.follow(pair)
	return nil
}

// renegotiated stops the direct receive when a new local description
// changed whether RTP headers are encrypted (the SRTP context would no
// longer receive as Pion's does).
func (dp *directPeer) renegotiated(pc *webrtc.PeerConnection) {
	if dp.srtp.Load() != nil && srtp.CryptexMode(dp.cryptex.Load()) != cryptexMode(pc.LocalDescription()) {
		dp.close()
	}
}

// follow routes the remote address of the selected pair to dp when the
// pair is on the media port (a host UDP candidate of ours).
func (dp *directPeer) follow(pair *webrtc.ICECandidatePair) {
	dp.d.route(dp, portRoute(pair))
}

// close stops the direct receive (the connection closes).
func (dp *directPeer) close() { dp.d.forget(dp) }

// dtlsTransportOf is the connection's DTLS transport (one: bundled).
func dtlsTransportOf(pc *webrtc.PeerConnection) *webrtc.DTLSTransport {
	for _, tr := range pc.GetTransceivers() {
		if r := tr.Receiver(); r != nil {
			if dt := r.Transport(); dt != nil {
				return dt
			}
		}
		if s := tr.Sender(); s != nil {
			if dt := s.Transport(); dt != nil {
				return dt
			}
		}
	}
	return nil
}

// dtlsConnOf reads the DTLS connection of a transport, which Pion keeps
// in an unexported field: the only way to its keying material.
func dtlsConnOf(dt *webrtc.DTLSTransport) (*dtls.Conn, error) {
	f := reflect.ValueOf(dt).Elem().FieldByName("conn")
	if !f.IsValid() || f.Type() != reflect.TypeFor[*dtls.Conn]() {
		return nil, errors.New("this Pion version keeps no *dtls.Conn in DTLSTransport.conn")
	}
	c := *(**dtls.Conn)(unsafe.Pointer(f.UnsafeAddr()))
	if c == nil {
		return nil, errors.New("the DTLS transport has no connection yet")
	}
	return c, nil
}

// dtlsClient says whether this side of pc is the DTLS client (RFC 5763:
// the side whose setup is active; when this side offered actpass, the
// answer's setup tells).
func dtlsClient(pc *webrtc.PeerConnection) (bool, error) {
	local, err := setupOf(pc.LocalDescription())
	if err != nil {
		return false, fmt.Errorf("local description: %w", err)
	}
	switch local {
	case "active":
		return true, nil
	case "passive":
		return false, nil
	}
	remote, err := setupOf(pc.RemoteDescription())
	if err != nil {
		return false, fmt.Errorf("remote description: %w", err)
	}
	switch remote {
	case "active":
		return false, nil
	case "passive":
		return true, nil
	}
	return false, fmt.Errorf("setup %q answered by %q", local, remote)
}

// setupOf is a description's setup attribute (its first media's, else
// the session's).
func setupOf(desc *webrtc.SessionDescription) (string, error) {
	if desc == nil {
		return "", errors.New("none")
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(desc.SDP); err != nil {
		return "", err
	}
	for _, md := range sd.MediaDescriptions {
		if v, ok := md.Attribute("setup"); ok {
			return v, nil
		}
	}
	v, _ := sd.Attribute("setup")
	return v, nil
}

// cryptexMode is how the peer receives RTP with encrypted headers (RFC
// 9335) given this side's description, as Pion decides it: enabled when
// the description offers it for any media.
func cryptexMode(desc *webrtc.SessionDescription) srtp.CryptexMode {
	if desc == nil {
		return srtp.CryptexModeDisabled
	}
	var sd sdp.SessionDescription
	if sd.UnmarshalString(desc.SDP) != nil {
		return srtp.CryptexModeDisabled
	}
	if _, ok := sd.Attribute("cryptex"); ok {
		return srtp.CryptexModeEnabled
	}
	for _, md := range sd.MediaDescriptions {
		if _, ok := md.Attribute("cryptex"); ok {
			return srtp.CryptexModeEnabled
		}
	}
	return srtp.CryptexModeDisabled
}

// Direct send: the same for what a subscriber's connection sends. Pion
// hands a packet from the track's writer (after the interceptors) to the
// SRTP session, which encrypts it and writes it through the
// demultiplexer's endpoint, the ICE connection and the UDP mux to the
// media port. Once the connection is up and its selected pair is on the
// media port, the audio streams' packets are encrypted with the
// connection's keys and written to the port directly (corked like every
// write of a forwarding loop); one in directSample still takes Pion's
// path, so that Pion's SRTP context keeps the stream's rollover counter
// should the pair leave the port.

// portWriter is the media port's allocation-free send.
type portWriter interface {
	WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error)
}

// directSend is a subscriber connection's direct send.
type directSend struct {
	d    *directRTP
	port portWriter
	addr atomic.Pointer[netip.AddrPort] // the selected pair's remote; nil = Pion's path

	mu  sync.Mutex // guards ctx's use and buf
	ctx atomic.Pointer[srtp.Context]
	buf [directMTU + 32]byte // a packet and the longest SRTP tag
}

func (d *directRTP) newSend(port portWriter) *directSend {
	return &directSend{d: d, port: port}
}

// arm starts the direct send of a connected subscriber's connection.
func (ds *directSend) arm(pc *webrtc.PeerConnection) error {
	if ds.ctx.Load() != nil {
		return nil
	}
	keys, profile, dt, err := srtpKeys(pc)
	if err != nil {
		return err
	}
	// What this side sends encrypts RTP headers when the remote's
	// description offers it (as Pion decides).
	ctx, err := srtp.CreateContext(keys.LocalMasterKey, keys.LocalMasterSalt, profile,
		srtp.Cryptex(cryptexMode(pc.RemoteDescription())))
	if err != nil {
		return fmt.Errorf("SRTP context: %w", err)
	}
	it := dt.ICETransport()
	it.OnSelectedCandidatePairChange(ds.follow)
	pair, err := it.GetSelectedCandidatePair()
	if err != nil {
		return fmt.Errorf("selected ICE pair: %w", err)
	}
	ds.ctx.Store(ctx)
	ds.follow(pair)
	return nil
}

// follow sends to the selected pair's remote when the pair is on the
// media port.
func (ds *directSend) follow(pair *webrtc.ICECandidatePair) {
	addr := portRoute(pair)
	if !addr.IsValid() {
		ds.addr.Store(nil)
		return
	}
	ds.addr.Store(&addr)
}

// close sends every packet Pion's way from now on.
func (ds *directSend) close() { ds.addr.Store(nil) }

// writer is the stream's innermost RTP writer (sendDirect puts it in
// place of Pion's SRTP writer).
func (ds *directSend) writer(pion interceptor.RTPWriter) interceptor.RTPWriter {
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		addr := ds.addr.Load()
		ctx := ds.ctx.Load()
		if addr == nil || ctx == nil || h.SequenceNumber%directSample == 0 {
			return pion.Write(h, payload, a)
		}
		pkt := rtp.Packet{Header: *h, Payload: payload}
		ds.mu.Lock()
		defer ds.mu.Unlock()
		n, err := pkt.MarshalTo(ds.buf[:directMTU])
		if err != nil {
			return 0, err
		}
		out, err := ctx.EncryptRTP(ds.buf[:], ds.buf[:n], nil)
		if err != nil {
			return 0, err
		}
		if _, err := ds.port.WriteToAddrPort(out, *addr); err != nil {
			return 0, err
		}
		ds.d.sent.Add(1)
		return n, nil
	})
}

// sendDirect is the innermost interceptor of a subscriber connection
// with a direct send: it puts the direct send's writer in place of
// Pion's SRTP writer for its audio streams.
type sendDirect struct{ ds *directSend }

// NewInterceptor implements interceptor.Factory.
func (s sendDirect) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &sendDirectInterceptor{ds: s.ds}, nil
}

type sendDirectInterceptor struct {
	interceptor.NoOp
	ds *directSend
}

// BindLocalStream implements interceptor.Interceptor.
func (s *sendDirectInterceptor) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	if !isAudio(info.MimeType) {
		return w
	}
	return s.ds.writer(w)
}

// isAudio says whether a stream's MIME type is audio's.
func isAudio(mime string) bool { return strings.HasPrefix(strings.ToLower(mime), "audio/") }

// srtpKeys derives a connected connection's SRTP keys from its DTLS
// connection, as Pion does.
func srtpKeys(pc *webrtc.PeerConnection) (srtp.SessionKeys, srtp.ProtectionProfile, *webrtc.DTLSTransport, error) {
	var none srtp.SessionKeys
	dt := dtlsTransportOf(pc)
	if dt == nil {
		return none, 0, nil, errors.New("no DTLS transport")
	}
	conn, err := dtlsConnOf(dt)
	if err != nil {
		return none, 0, nil, err
	}
	state, ok := conn.ConnectionState()
	if !ok {
		return none, 0, nil, errors.New("the DTLS connection has no state yet")
	}
	profile, ok := conn.SelectedSRTPProtectionProfile()
	if !ok {
		return none, 0, nil, errors.New("no SRTP protection profile was agreed")
	}
	client, err := dtlsClient(pc)
	if err != nil {
		return none, 0, nil, err
	}
	cfg := srtp.Config{Profile: srtp.ProtectionProfile(profile)}
	if err := cfg.ExtractSessionKeysFromDTLS(&state, client); err != nil {
		return none, 0, nil, fmt.Errorf("SRTP keys: %w", err)
	}
	return cfg.Keys, cfg.Profile, dt, nil
}

// portRoute is the remote address of a selected pair on the media port
// (a host UDP candidate of ours); invalid otherwise.
func portRoute(pair *webrtc.ICECandidatePair) netip.AddrPort {
	if pair == nil || pair.Local == nil || pair.Remote == nil ||
		pair.Local.Protocol != webrtc.ICEProtocolUDP || pair.Local.Typ != webrtc.ICECandidateTypeHost {
		return netip.AddrPort{}
	}
	ip, err := netip.ParseAddr(pair.Remote.Address)
	if err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(ip.Unmap(), pair.Remote.Port)
}
