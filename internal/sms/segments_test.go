package sms

import (
	"strings"
	"testing"
)

func TestMeasure(t *testing.T) {
	for _, c := range []struct {
		text string
		want Length
	}{
		{"", Length{GSM7, 0, 1}},
		{strings.Repeat("a", 160), Length{GSM7, 160, 1}},
		{strings.Repeat("a", 161), Length{GSM7, 161, 2}},
		{strings.Repeat("a", 306), Length{GSM7, 306, 2}},
		{strings.Repeat("a", 307), Length{GSM7, 307, 3}},
		{strings.Repeat("€", 80), Length{GSM7, 160, 1}}, // extension: two septets each
		{strings.Repeat("€", 81), Length{GSM7, 162, 2}}, //
		{strings.Repeat("a", 152) + "€" + "a", Length{GSM7, 155, 1}},
		{strings.Repeat("a", 152) + "€" + strings.Repeat("a", 7), Length{GSM7, 161, 2}},
		{strings.Repeat("a", 152) + "€" + strings.Repeat("a", 153), Length{GSM7, 307, 3}}, // € not cut: 152 | €+151 | 2
		{"Mañana à las 10", Length{GSM7, 15, 1}},                                          // ñ and à are GSM-7 ...
		{"Reunión", Length{UCS2, 7, 1}},                                                   // ... ó is not
		{strings.Repeat("ó", 70), Length{UCS2, 70, 1}},
		{strings.Repeat("ó", 71), Length{UCS2, 71, 2}},
		{strings.Repeat("ó", 134), Length{UCS2, 134, 2}},
		{strings.Repeat("ó", 135), Length{UCS2, 135, 3}},
		{strings.Repeat("😀", 35), Length{UCS2, 70, 1}}, // surrogate pairs
		{"x" + strings.Repeat("😀", 34) + "😀", Length{UCS2, 71, 2}},
	} {
		if got := Measure(c.text); got != c.want {
			t.Errorf("Measure(%.20q…) = %+v, want %+v", c.text, got, c.want)
		}
	}
}
