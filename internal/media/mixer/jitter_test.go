package mixer

import "testing"

func pops(j *jitter, n int) []string {
	var out []string
	buf := make([]byte, 8)
	for range n {
		k, r := j.pop(buf)
		switch r {
		case popped:
			out = append(out, string(buf[:k]))
		case lost:
			out = append(out, "lost")
		case empty:
			out = append(out, "-")
		}
	}
	return out
}

func eq(t *testing.T, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}

func TestJitterReordersAndConceals(t *testing.T) {
	j := jitter{prebuffer: 2}
	j.put(11, []byte("b"))
	eq(t, pops(&j, 1), "-") // prebuffering
	j.put(10, []byte("a"))  // reordered before the start
	j.put(13, []byte("d"))  // 12 is missing
	if r, _ := j.put(13, []byte("d")); r != duplicate {
		t.Errorf("second 13: %v", r)
	}
	eq(t, pops(&j, 4), "a", "b", "lost", "d")
	if r, _ := j.put(12, []byte("c")); r != late {
		t.Errorf("12 after its turn: %v", r)
	}
	// Ran dry: it prebuffers again before playing, and what was played
	// stays played.
	eq(t, pops(&j, 1), "-")
	j.put(15, []byte("f")) // 14 comes after 15
	if r, _ := j.put(13, []byte("d")); r != late {
		t.Errorf("13 again after running dry: %v", r)
	}
	eq(t, pops(&j, 1), "-")
	j.put(14, []byte("e"))
	eq(t, pops(&j, 3), "e", "f", "-")
	// A source that starts again far behind is taken as new.
	if r, _ := j.put(60000, []byte("n")); r != reset {
		t.Errorf("far behind: %v", r)
	}
	j.put(60001, []byte("o"))
	eq(t, pops(&j, 2), "n", "o")
}

func TestJitterWrapsAndResets(t *testing.T) {
	j := jitter{prebuffer: 1}
	j.put(65535, []byte("y"))
	j.put(0, []byte("z"))
	eq(t, pops(&j, 2), "y", "z")
	j.put(1, []byte("a"))
	// A jump far ahead (a new source, a restart): start again from it.
	if r, dropped := j.put(5000, []byte("n")); r != reset || dropped != 1 {
		t.Errorf("jump: %v, %d dropped", r, dropped)
	}
	eq(t, pops(&j, 2), "n", "-")
}

func TestJitterBoundsItsDepth(t *testing.T) {
	j := jitter{prebuffer: 2}
	total := 0
	for i := range 15 {
		_, d := j.put(uint16(100+i), []byte{byte('a' + i)})
		total += d
	}
	if total != 15-maxDepth || j.count != maxDepth {
		t.Fatalf("%d dropped, %d held", total, j.count)
	}
	got := pops(&j, maxDepth+1)
	eq(t, got, "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "-")
}

// FuzzJitter drives a buffer with arbitrary sequence numbers (two bytes
// each, a pop when the first byte is 0xFF): it never holds more than
// maxDepth packets, its count matches its slots, and between two resets
// no packet comes out twice and they come out in order (running dry and
// waiting again included).
func FuzzJitter(f *testing.F) {
	f.Add([]byte{0, 10, 0, 11, 0xFF, 0, 0, 13, 0xFF, 0xFF, 0xFF})
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0x80, 0, 0xFF})
	f.Fuzz(func(t *testing.T, ops []byte) {
		j := jitter{prebuffer: 2}
		seen := map[uint16]bool{}
		var last uint16
		haveLast := false
		buf := make([]byte, 4)
		for i := 0; i+1 < len(ops); i += 2 {
			if ops[i] == 0xFF {
				n, r := j.pop(buf)
				if r == popped {
					seq := uint16(buf[0])<<8 | uint16(buf[1])
					if n != 2 || seen[seq] {
						t.Fatalf("popped %x (%d bytes) again", seq, n)
					}
					if haveLast && int16(seq-last) <= 0 {
						t.Fatalf("popped %d after %d", seq, last)
					}
					seen[seq], last, haveLast = true, seq, true
				}
			} else {
				seq := uint16(ops[i])<<8 | uint16(ops[i+1])
				if r, _ := j.put(seq, []byte{ops[i], ops[i+1]}); r == reset {
					clear(seen) // a new source may reuse any number
					haveLast = false
				}
			}
			full := 0
			for _, s := range j.slots {
				if s.full {
					full++
				}
			}
			if full != j.count || j.count > maxDepth {
				t.Fatalf("count %d, %d slots full", j.count, full)
			}
		}
	})
}
