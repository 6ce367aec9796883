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
	// Ran dry: it prebuffers again before playing.
	eq(t, pops(&j, 1), "-")
	j.put(14, []byte("e"))
	eq(t, pops(&j, 1), "-")
	j.put(15, []byte("f"))
	eq(t, pops(&j, 3), "e", "f", "-")
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
