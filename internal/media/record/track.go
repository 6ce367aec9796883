package record

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/at-wat/ebml-go/webm"

	"github.com/openwac/wac/internal/media/forward"
	"github.com/openwac/wac/internal/store"
)

// TrackInfo describes a published audio or video to record.
type TrackInfo struct {
	Kind      string // audio or video
	MimeType  string // audio/opus, video/VP8, video/H264
	ClockRate uint32
	User      string
	Display   string
	Feed      uint64
	// Layer is the simulcast layer recorded (the packets of other layers
	// are ignored).
	Layer int
}

// spoolFile is a track's file as the container writer writes it: buffered,
// flushed at least every flushEvery so that a crash loses little, and
// keeping the first error (the writer never sees one: it would stop
// without telling, and later writes would block). Only the container
// writer's goroutine calls it.
type spoolFile struct {
	f     *os.File
	bw    *bufio.Writer
	last  time.Time
	size  atomic.Int64
	errMu sync.Mutex
	err   error
	// The segment's Duration (its value at durPos) is kept up to date at
	// every flush, so that a file a crash cuts short says how long it is;
	// the writer sets the exact value at close.
	durPos   int64
	duration atomic.Int64 // ms written so far
}

// durationID starts the Duration element as the writer makes it: its ID
// (0x4489) and a size of 8.
var durationID = []byte{0x44, 0x89, 0x88}

// findDuration returns the offset of the Duration value in the first
// bytes of a file, or -1.
func findDuration(head []byte) int64 {
	if i := bytes.Index(head, durationID); i >= 0 && i+len(durationID)+8 <= len(head) {
		return int64(i + len(durationID))
	}
	return -1
}

// ReadDuration reads the Duration of a WebM or Matroska file written by a
// Track (ms), from its header: exact for a closed file, up to the last
// flush for one a crash cut short.
func ReadDuration(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	head := make([]byte, 4096)
	n, err := io.ReadFull(f, head)
	if err != nil && n == 0 {
		return 0, err
	}
	return durationOf(head[:n])
}

// durationOf reads the Duration value (ms) in the first bytes of a file.
func durationOf(head []byte) (int64, error) {
	pos := findDuration(head)
	if pos < 0 {
		return 0, errors.New("no duration in the file's header")
	}
	d := math.Float64frombits(binary.BigEndian.Uint64(head[pos:]))
	if d < 0 || d > 1e12 || math.IsNaN(d) {
		return 0, errors.New("bad duration in the file's header")
	}
	return int64(d), nil
}

const flushEvery = 500 * time.Millisecond

func createSpool(path string) (*spoolFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	return &spoolFile{f: f, bw: bufio.NewWriterSize(f, 64<<10), last: time.Now()}, nil
}

func (s *spoolFile) setErr(err error) {
	s.errMu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.errMu.Unlock()
}

// Err is the first write error.
func (s *spoolFile) Err() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

func (s *spoolFile) Write(b []byte) (int, error) {
	if s.Err() != nil {
		return len(b), nil
	}
	if _, err := s.bw.Write(b); err != nil {
		s.setErr(err)
		return len(b), nil
	}
	s.size.Add(int64(len(b)))
	if time.Since(s.last) >= flushEvery {
		s.flush()
	}
	return len(b), nil
}

func (s *spoolFile) flush() {
	s.last = time.Now()
	if err := s.bw.Flush(); err != nil {
		s.setErr(err)
		return
	}
	if s.durPos > 0 {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], math.Float64bits(float64(s.duration.Load())))
		if _, err := s.f.WriteAt(b[:], s.durPos); err != nil {
			s.setErr(err)
		}
	}
}

// WriteAt writes the cues and duration at close.
func (s *spoolFile) WriteAt(b []byte, off int64) (int, error) {
	s.flush()
	if s.Err() != nil {
		return len(b), nil
	}
	if _, err := s.f.WriteAt(b, off); err != nil {
		s.setErr(err)
	}
	return len(b), nil
}

// Close flushes, syncs and closes the file.
func (s *spoolFile) Close() error {
	s.flush()
	if s.Err() == nil {
		if err := s.f.Sync(); err != nil {
			s.setErr(err)
		}
	}
	if err := s.f.Close(); err != nil {
		s.setErr(err)
	}
	return nil
}

// Track records one published audio or video: a forward.Sink of its
// stream. WriteRTP hands packets to the track's goroutine without
// blocking (a full queue drops them, counted as lost).
type Track struct {
	s         *Session
	info      TrackInfo
	c         codec
	key, path string
	index     int
	reqKey    func()

	in      chan packet
	quit    chan struct{}
	done    chan struct{}
	closed  atomic.Bool
	dropped atomic.Int64

	// state of the writing goroutine
	j        *jitter
	asm      *assembler
	file     *spoolFile
	w        *mkvFile
	begun    bool
	lastTS   uint32
	ext      int64
	baseMS   int64
	firstMS  int64
	lastMS   int64
	frames   int64
	lastReq  time.Time
	writeErr error
}

// queueLen is how many packets a track holds for its goroutine: about
// two seconds of a 2 Mbps video.
const queueLen = 512

// WriteRTP implements forward.Sink. It never counts as forwarded.
func (t *Track) WriteRTP(p *forward.Packet) bool {
	if p.Layer != t.info.Layer || t.closed.Load() {
		return false
	}
	pk := packet{seq: p.Header.SequenceNumber, ts: p.Header.Timestamp, marker: p.Header.Marker, arrival: p.Arrival,
		payload: p.Payload}
	select {
	case t.in <- pk:
	default:
		t.dropped.Add(1)
	}
	return false
}

// Info describes the track.
func (t *Track) Info() TrackInfo { return t.info }

// run writes the track until Close.
func (t *Track) run() {
	defer close(t.done)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	out := t.handle
	for {
		select {
		case p := <-t.in:
			t.j.push(p, time.Now().UnixNano(), out)
		case <-tick.C:
			t.j.drain(time.Now().UnixNano(), out)
		case <-t.quit:
			for {
				select {
				case p := <-t.in:
					t.j.push(p, time.Now().UnixNano(), out)
					continue
				default:
				}
				break
			}
			t.j.flush(out)
			t.finish()
			return
		}
	}
}

// handle rebuilds frames from an in-order packet and writes them.
func (t *Track) handle(p packet, gap bool) {
	if t.writeErr != nil {
		return
	}
	if !t.begun {
		t.begun, t.lastTS = true, p.ts
		t.baseMS = (p.arrival - t.s.origin.UnixNano()) / int64(time.Millisecond)
	} else {
		t.ext += int64(int32(p.ts - t.lastTS))
		t.lastTS = p.ts
	}
	if gap {
		t.asm.gap()
	}
	f, needKey := t.asm.push(&p)
	if needKey {
		t.askKeyframe()
	}
	if f == nil {
		return
	}
	ms := t.baseMS + t.ext*1000/int64(t.info.ClockRate)
	if t.w == nil {
		if err := t.open(f); err != nil {
			t.fail(err)
			return
		}
		if t.w == nil {
			return
		}
		t.firstMS = ms
	}
	if ms < t.lastMS {
		ms = t.lastMS
	}
	t.lastMS = ms
	t.w.WriteFrame(f.key, ms, f.data)
	t.frames++
	if err := t.file.Err(); err != nil {
		t.fail(err)
	}
}

// askKeyframe asks the publisher for a keyframe, at most twice a second.
func (t *Track) askKeyframe() {
	if t.reqKey == nil || time.Since(t.lastReq) < 500*time.Millisecond {
		return
	}
	t.lastReq = time.Now()
	t.reqKey()
}

// open creates the file at the first frame that can start it (a
// keyframe with its parameter sets, for video).
func (t *Track) open(f *frame) error {
	entry := webm.TrackEntry{Name: t.info.Kind, TrackNumber: 1, TrackUID: uint64(t.index + 1)}
	switch t.c {
	case codecOpus:
		entry.CodecID, entry.TrackType = "A_OPUS", 2
		entry.CodecPrivate = opusHead()
		entry.Audio = &webm.Audio{SamplingFrequency: 48000, Channels: 2}
	case codecVP8:
		w, h := vp8Size(f.data)
		entry.CodecID, entry.TrackType = "V_VP8", 1
		entry.Video = &webm.Video{PixelWidth: uint64(w), PixelHeight: uint64(h)}
	case codecH264:
		cfg := t.asm.avcConfig()
		if cfg == nil {
			t.askKeyframe()
			return nil // wait for a keyframe with SPS and PPS
		}
		entry.CodecID, entry.TrackType, entry.CodecPrivate = "V_MPEG4/ISO/AVC", 1, cfg
		entry.Video = &webm.Video{}
	}
	file, err := createSpool(t.path)
	if err != nil {
		return fmt.Errorf("create track file: %w", err)
	}
	doc := "webm"
	if t.c == codecH264 {
		doc = "matroska" // H.264 is not WebM
	}
	w, err := newMKV(file, doc, webm.Info{TimecodeScale: 1000000, MuxingApp: "openwac", WritingApp: "openwac",
		DateUTC: t.s.started}, entry)
	if err != nil {
		file.Close()
		os.Remove(t.path)
		return fmt.Errorf("start track file: %w", err)
	}
	t.file, t.w = file, w
	t.s.trackOpened(t)
	return nil
}

// fail stops writing the track and tells the session.
func (t *Track) fail(err error) {
	if t.writeErr == nil {
		t.writeErr = err
		go t.s.fail(fmt.Errorf("track %s of %s: %w", t.key, t.info.User, err))
	}
}

// finish closes the file (cues and duration written).
func (t *Track) finish() {
	if t.w == nil {
		return
	}
	if err := t.w.Close(); err != nil && t.writeErr == nil {
		t.writeErr = err
		go t.s.fail(fmt.Errorf("track %s of %s: %w", t.key, t.info.User, err))
	}
}

// Close stops the track and waits until its file is closed.
func (t *Track) Close() {
	if t.closed.CompareAndSwap(false, true) {
		close(t.quit)
	}
	<-t.done
}

// record is the track's entry in the recording's metadata.
func (t *Track) record() store.RecordingTrack {
	r := store.RecordingTrack{Key: t.key, Kind: t.info.Kind, Codec: t.info.MimeType, User: t.info.User, Display: t.info.Display,
		Feed: t.info.Feed, Offset: t.firstMS, Duration: t.lastMS - t.firstMS, Frames: t.frames,
		Lost: t.j.lost + t.dropped.Load()}
	if t.file != nil {
		r.Size = t.file.size.Load()
	}
	return r
}

// errDiskFull stops recordings when the disk has less than
// recording.minFreeMB free.
var errDiskFull = errors.New("the recording disk is full (under recording.minFreeMB free)")
