package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/at-wat/ebml-go"
	"github.com/at-wat/ebml-go/webm"
)

// mkvFile writes one track as WebM or Matroska. ebml-go marshals the
// EBML header, the segment's info and tracks, and the cues; the clusters
// and their SimpleBlocks, one per frame, are written here directly: the
// library's block writer marshals every block by reflection into growing
// buffers and hands each frame to a goroutine of its own through a block
// sorter, which cost more than all the rest of recording a packet.
//
// The segment and the clusters have unknown sizes, so that a file cut at
// any point plays up to there. Space for the cues is reserved after the
// tracks (a Void element) and filled at close, with the exact Duration;
// the spool file keeps the Duration up to date at each flush meanwhile.
type mkvFile struct {
	f         *spoolFile
	pos       int64 // bytes written
	segData   int64 // where the segment's data starts (cue positions count from there)
	cuesAt    int64 // the reserved space for the cues
	durAt     int64 // the Duration's value
	video     bool
	begun     bool
	tc0       int64 // timestamp (ms) of the first frame: the file's 0
	clusterTC int64 // timecode of the open cluster
	inCluster bool
	lastTC    int64
	cues      []webm.CuePoint
	hdr       [32]byte
}

// cuesReserve is the space kept for the cues: a cue point takes about 12
// bytes, so a cue a keyframe (video) or every clusterMillis (audio) fits
// for hours; more are thinned out at close.
const cuesReserve = 16 << 10

// clusterMillis is the longest cluster; a video also starts one at every
// keyframe. Block timecodes are 16-bit offsets from their cluster's.
const clusterMillis = 5000

type mkvHeader struct {
	Header  webm.EBMLHeader `ebml:"EBML"`
	Segment mkvSegment      `ebml:"Segment,size=unknown"`
}

type mkvSegment struct {
	Info   webm.Info   `ebml:"Info"`
	Tracks webm.Tracks `ebml:"Tracks"`
}

var (
	segmentID = []byte{0x18, 0x53, 0x80, 0x67}
	clusterID = []byte{0x1f, 0x43, 0xb6, 0x75}
)

// newMKV writes the file's header and the space for its cues.
func newMKV(f *spoolFile, docType string, info webm.Info, entry webm.TrackEntry) (*mkvFile, error) {
	h := mkvHeader{Header: webm.EBMLHeader{EBMLVersion: 1, EBMLReadVersion: 1, EBMLMaxIDLength: 4, EBMLMaxSizeLength: 8,
		DocType: docType, DocTypeVersion: 4, DocTypeReadVersion: 2}}
	info.Duration = math.SmallestNonzeroFloat64 // a placeholder, so that the element is written
	h.Segment.Info = info
	h.Segment.Tracks.TrackEntry = []webm.TrackEntry{entry}
	var b bytes.Buffer
	if err := ebml.Marshal(&h, &b); err != nil {
		return nil, fmt.Errorf("write the track file's header: %w", err)
	}
	head := b.Bytes()
	seg := bytes.Index(head, segmentID)
	dur := findDuration(head)
	if seg < 0 || dur < 0 || seg+len(segmentID) >= len(head) {
		return nil, errors.New("write the track file's header: no segment or duration in it")
	}
	m := &mkvFile{f: f, video: entry.TrackType == 1, durAt: dur}
	m.segData = int64(seg + len(segmentID) + vintLen(head[seg+len(segmentID)]))
	f.durPos = dur
	m.write(head)
	m.cuesAt = m.pos
	m.write(voidElement(cuesReserve))
	return m, f.Err()
}

func (m *mkvFile) write(b []byte) {
	m.f.Write(b)
	m.pos += int64(len(b))
}

// vintLen is the length of an EBML variable-size integer by its first byte.
func vintLen(first byte) int {
	for n := 1; n <= 8; n++ {
		if first&(0x80>>(n-1)) != 0 {
			return n
		}
	}
	return 8
}

// putVint appends n as an EBML variable-size integer of the least length.
func putVint(b []byte, n uint64) []byte {
	for l := 1; l <= 8; l++ {
		if n < 1<<(7*l)-1 {
			for i := l - 1; i >= 0; i-- {
				v := byte(n >> (8 * i))
				if i == l-1 {
					v |= 0x80 >> (l - 1)
				}
				b = append(b, v)
			}
			return b
		}
	}
	return append(b, 0x01, byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// voidElement is a Void element of size bytes in all.
func voidElement(size int) []byte {
	b := make([]byte, size)
	b[0] = 0xec
	binary.BigEndian.PutUint64(b[1:], uint64(size-9))
	b[1] = 0x01
	return b
}

// WriteFrame writes one frame at ts (ms, not before the last frame).
func (m *mkvFile) WriteFrame(key bool, ts int64, data []byte) {
	if !m.begun {
		m.begun, m.tc0 = true, ts
	}
	tc := max(ts-m.tc0, m.lastTC)
	m.lastTC = tc
	if !m.inCluster || tc-m.clusterTC >= clusterMillis || (m.video && key && tc > m.clusterTC) {
		m.cluster(tc, key || !m.video)
	}
	h := append(m.hdr[:0], 0xa3)
	h = putVint(h, uint64(len(data)+4))
	flags := byte(0)
	if key {
		flags = 0x80
	}
	h = append(h, 0x81, byte(uint16(tc-m.clusterTC)>>8), byte(tc-m.clusterTC), flags)
	m.write(h)
	m.write(data)
	m.f.duration.Store(tc)
}

// cluster starts a cluster at tc; cue notes it in the cues.
func (m *mkvFile) cluster(tc int64, cue bool) {
	if cue {
		m.cues = append(m.cues, webm.CuePoint{CueTime: uint64(tc),
			CueTrackPositions: []webm.CueTrackPosition{{CueTrack: 1, CueClusterPosition: uint64(m.pos - m.segData)}}})
	}
	h := append(m.hdr[:0], clusterID...)
	h = append(h, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff) // unknown size
	h = append(h, 0xe7, 0x88)
	h = binary.BigEndian.AppendUint64(h, uint64(tc))
	m.write(h)
	m.clusterTC, m.inCluster = tc, true
}

// Close writes the cues and the exact duration, and closes the file.
func (m *mkvFile) Close() error {
	m.f.duration.Store(m.lastTC)
	if b := cuesBytes(m.cues); b != nil {
		m.f.WriteAt(b, m.cuesAt)
	}
	var d [8]byte
	binary.BigEndian.PutUint64(d[:], math.Float64bits(float64(m.lastTC)))
	m.f.WriteAt(d[:], m.durAt)
	m.f.Close()
	return m.f.Err()
}

// cuesBytes marshals the cues into the reserved space (thinning them out
// until they fit), padded with a Void element.
func cuesBytes(cues []webm.CuePoint) []byte {
	for len(cues) > 0 {
		var b bytes.Buffer
		if err := ebml.Marshal(&struct {
			Cues webm.Cues `ebml:"Cues"`
		}{webm.Cues{CuePoint: cues}}, &b); err != nil {
			return nil
		}
		if rest := cuesReserve - b.Len(); rest == 0 || rest >= 9 {
			if rest > 0 {
				b.Write(voidElement(rest))
			}
			return b.Bytes()
		}
		half := make([]webm.CuePoint, 0, len(cues)/2)
		for i := 0; i < len(cues); i += 2 {
			half = append(half, cues[i])
		}
		if len(half) == len(cues) {
			return nil
		}
		cues = half
	}
	return nil
}
