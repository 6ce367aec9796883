package dtmf

import (
	"testing"
)

func TestSenderPackets(t *testing.T) {
	s, err := NewSender('5', 800, 160, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []Event
	var firsts []bool
	for {
		ev, first, ok := s.Next()
		if !ok {
			break
		}
		got = append(got, ev)
		firsts = append(firsts, first)
	}
	want := []uint16{160, 320, 480, 640, 800, 800, 800}
	if len(got) != len(want) {
		t.Fatalf("%d packets, want %d: %+v", len(got), len(want), got)
	}
	for i, ev := range got {
		if ev.Code != 5 || ev.Volume != 10 || ev.Duration != want[i] || ev.End != (i >= 4) || firsts[i] != (i == 0) {
			t.Errorf("packet %d: %+v first=%v", i, ev, firsts[i])
		}
	}
	// A duration that is not a whole number of steps ends on the duration.
	s, _ = NewSender('#', 500, 160, 10)
	var last Event
	n := 0
	for ev, _, ok := s.Next(); ok; ev, _, ok = s.Next() {
		last = ev
		n++
	}
	if n != 4+2 || last.Duration != 500 || !last.End || last.Code != 11 {
		t.Errorf("500 samples in steps of 160: %d packets, last %+v", n, last)
	}
}

func TestSenderRefuses(t *testing.T) {
	for _, c := range []struct {
		digit          rune
		duration, step int
		volume         uint8
	}{{'x', 800, 160, 10}, {'1', 100, 160, 10}, {'1', 70000, 160, 10}, {'1', 800, 0, 10}, {'1', 800, 160, 64}} {
		if _, err := NewSender(c.digit, c.duration, c.step, c.volume); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

func TestRoundTripEveryDigit(t *testing.T) {
	var r Receiver
	var got []rune
	ts := uint32(1000)
	for _, d := range "0123456789*#ABCDa" {
		s, err := NewSender(d, 640, 160, 10)
		if err != nil {
			t.Fatal(err)
		}
		for ev, _, ok := s.Next(); ok; ev, _, ok = s.Next() {
			payload := ev.Append(nil)
			back, err := Parse(payload)
			if err != nil || back != ev {
				t.Fatalf("%+v parses back as %+v, %v", ev, back, err)
			}
			digit, ok, err := r.Receive(ts, payload)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				got = append(got, digit)
			}
		}
		ts += 1600
	}
	if string(got) != "0123456789*#ABCDA" {
		t.Errorf("received %q", string(got))
	}
}

func TestReceiverDeduplicates(t *testing.T) {
	var r Receiver
	p := func(code uint8, end bool, dur uint16) []byte {
		return Event{Code: code, End: end, Duration: dur, Volume: 10}.Append(nil)
	}
	var got []rune
	for _, pk := range []struct {
		ts      uint32
		payload []byte
	}{
		{100, p(1, false, 160)},
		{100, p(1, false, 320)},
		{100, p(1, true, 480)},
		{100, p(1, true, 480)}, // the end, repeated
		{100, p(1, true, 480)},
		{50, p(7, true, 480)},  // a late packet of an older event
		{900, p(1, true, 480)}, // the same digit again: only its end arrived
		{900, p(1, true, 480)},
		{2000, p(16, false, 160)}, // flash: not a DTMF digit
		{3000, p(11, false, 160)},
	} {
		d, ok, err := r.Receive(pk.ts, pk.payload)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			got = append(got, d)
		}
	}
	if string(got) != "11#" {
		t.Errorf("received %q, want \"11#\"", string(got))
	}
	if _, _, err := r.Receive(4000, []byte{1, 2, 3}); err == nil {
		t.Error("a 3-byte payload was read")
	}
}

func TestTimestampWraps(t *testing.T) {
	var r Receiver
	ev := Event{Code: 3, Duration: 160}.Append(nil)
	if d, ok, _ := r.Receive(0xFFFFFF00, ev); !ok || d != '3' {
		t.Fatal("first event not received")
	}
	if d, ok, _ := r.Receive(0x00000100, ev); !ok || d != '3' {
		t.Error("the event after the timestamp wrapped was taken for an old one")
	}
}

// FuzzReceive feeds arbitrary payloads and timestamps: no panic, and a
// digit only ever comes from a payload that parses as a DTMF code.
func FuzzReceive(f *testing.F) {
	f.Add(uint32(0), []byte{1, 0x8a, 0x03, 0x20}, uint32(0), []byte{1, 0x0a, 0, 160})
	f.Add(uint32(5), []byte{}, uint32(7), []byte{0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, ts1 uint32, p1 []byte, ts2 uint32, p2 []byte) {
		var r Receiver
		for _, pk := range []struct {
			ts uint32
			p  []byte
		}{{ts1, p1}, {ts2, p2}, {ts1, p1}} {
			d, ok, err := r.Receive(pk.ts, pk.p)
			if err != nil {
				if len(pk.p) >= PayloadSize || ok {
					t.Fatalf("error %v on %x (digit %v)", err, pk.p, ok)
				}
				continue
			}
			if ok {
				code, cerr := Code(d)
				if cerr != nil || code != pk.p[0] {
					t.Fatalf("digit %q from payload %x", d, pk.p)
				}
			}
		}
	})
}
