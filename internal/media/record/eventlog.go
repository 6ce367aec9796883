package record

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/openwac/wac/internal/store"
)

// The events log of a segment is one JSON object a line, appended as
// things happen, so that a media node that dies leaves the segment's
// metadata on disk with its tracks: the room's events, and each track
// when its file is created and when it is closed.
type logLine struct {
	Event *store.RecordingEvent `json:"event,omitempty"`
	Track *store.RecordingTrack `json:"track,omitempty"`
}

// eventLog appends lines to a segment's events file.
type eventLog struct {
	mu  sync.Mutex
	f   *os.File
	err error
}

func openEventLog(path string) (*eventLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open recording events log: %w", err)
	}
	return &eventLog{f: f}, nil
}

// append writes one line; the first error is kept and returned.
func (l *eventLog) append(line logLine) error {
	b, err := json.Marshal(line)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil || l.f == nil {
		return l.err
	}
	if _, err := l.f.Write(append(b, '\n')); err != nil {
		l.err = fmt.Errorf("write recording events log: %w", err)
	}
	return l.err
}

func (l *eventLog) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return l.err
	}
	err := l.f.Sync()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	if l.err == nil && err != nil {
		l.err = fmt.Errorf("close recording events log: %w", err)
	}
	return l.err
}

// maxLogLine bounds one line of an events log.
const maxLogLine = 64 << 10

// ParseEventLog reads a segment's events log: the events in order, and
// the last entry of each track (by key). A line cut short by a crash, or
// one that is not a log line, is skipped; so are tracks without a key.
func ParseEventLog(r io.Reader) ([]store.RecordingEvent, []store.RecordingTrack, error) {
	var events []store.RecordingEvent
	var tracks []store.RecordingTrack
	at := map[string]int{}
	br := bufio.NewReaderSize(r, 4096)
	for {
		line, err := readLine(br)
		if len(line) > 0 {
			var l logLine
			if json.Unmarshal(line, &l) == nil {
				if l.Event != nil && l.Event.Type != "" {
					events = append(events, *l.Event)
				}
				if t := l.Track; t != nil && t.Key != "" && validKey(t.Key) {
					if i, ok := at[t.Key]; ok {
						tracks[i] = *t
					} else {
						at[t.Key] = len(tracks)
						tracks = append(tracks, *t)
					}
				}
			}
		}
		if err == io.EOF {
			return events, tracks, nil
		}
		if err != nil {
			return events, tracks, fmt.Errorf("read recording events log: %w", err)
		}
	}
}

// readLine reads one line, dropping the rest of lines longer than
// maxLogLine.
func readLine(br *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(buf)+len(chunk) <= maxLogLine {
			buf = append(buf, chunk...)
		} else {
			buf = buf[:0:0]
			// too long: keep reading to its end, then return nothing
			for err == bufio.ErrBufferFull {
				_, err = br.ReadSlice('\n')
			}
			return nil, err
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return bytes.TrimSpace(buf), err
	}
}
