package record

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// The events log is read back after a crash: any bytes (a line cut
// short, garbage, huge lines) give events and tracks without a panic, and
// every track key it returns is a clean relative path.
func FuzzParseEventLog(f *testing.F) {
	f.Add([]byte(`{"event":{"at":1,"type":"started","user":"alice"}}` + "\n" +
		`{"track":{"key":"d/r/seg1/1-video-1.webm","kind":"video","offset":20}}` + "\n" + `{"track":{"key":"d/r/seg1/1-vi`))
	f.Add([]byte(`{"track":{"key":"../../etc/passwd"}}` + "\n" + `{"event":null}` + "\n\n" + `[1,2]`))
	f.Add(bytes.Repeat([]byte("x"), 70<<10))
	f.Fuzz(func(t *testing.T, data []byte) {
		events, tracks, err := ParseEventLog(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("a reader of bytes failed: %v", err)
		}
		for _, e := range events {
			if e.Type == "" {
				t.Fatalf("an event without a type: %+v", e)
			}
		}
		seen := map[string]bool{}
		for _, tr := range tracks {
			if !validKey(tr.Key) || seen[tr.Key] {
				t.Fatalf("track key %q (seen %v)", tr.Key, seen[tr.Key])
			}
			seen[tr.Key] = true
		}
	})
}

// Packets of any payload, in any order with any gaps, never panic the
// frame assembler of any codec, and a frame it returns is never empty.
func FuzzAssembler(f *testing.F) {
	f.Add(byte(2), []byte{0x10, 0x00, 0x9d, 0x01, 0x2a, 1, 2, 3}, uint16(1), true, false)
	f.Add(byte(3), []byte{0x7c, 0x85, 0x65, 0x88}, uint16(7), false, true)
	f.Add(byte(3), []byte{0x78, 0x00, 0x03, 0x67, 0x42, 0x00, 0x00, 0x02, 0x68, 0xce}, uint16(2), true, false)
	f.Add(byte(1), []byte{0xfc}, uint16(3), true, true)
	f.Fuzz(func(t *testing.T, c byte, payload []byte, seq uint16, marker, gap bool) {
		a := newAssembler(codec(c%3 + 1))
		for i := 0; i < 3; i++ {
			if gap && i == 1 {
				a.gap()
			}
			fr, _ := a.push(&packet{seq: seq + uint16(i), ts: uint32(i / 2), marker: marker || i == 2, payload: payload})
			if fr != nil && len(fr.data) == 0 {
				t.Fatal("an empty frame")
			}
		}
		a.avcConfig()
		vp8Size(payload)
	})
}

// The duration reader of crashed files takes any header without a panic.
func FuzzReadDuration(f *testing.F) {
	f.Add(append([]byte{0x1a, 0x45, 0xdf, 0xa3, 0x44, 0x89, 0x88}, binary.BigEndian.AppendUint64(nil, 0x40a7700000000000)...))
	f.Add([]byte{0x44, 0x89, 0x88, 0xff})
	f.Fuzz(func(t *testing.T, head []byte) {
		if d, err := durationOf(head); err == nil && d < 0 {
			t.Fatalf("negative duration %d", d)
		}
	})
}
