package sms

import (
	"unicode/utf16"
)

// Encodings of a message on the air.
const (
	GSM7 = "GSM-7" // 7-bit default alphabet: 160 characters alone, 153 per part
	UCS2 = "UCS-2" // any other text: 70 characters alone, 67 per part
)

// gsmBasic is the GSM 03.38 default alphabet; gsmExt the characters of its
// extension table, which take two septets (an escape and the character).
var (
	gsmBasic = map[rune]bool{}
	gsmExt   = map[rune]bool{}
)

func init() {
	for _, r := range "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà" {
		gsmBasic[r] = true
	}
	for _, r := range "\f^{}\\[~]|€" {
		gsmExt[r] = true
	}
}

// Length is how a text travels: its encoding, its length in that
// encoding's units (septets for GSM-7, UTF-16 code units for UCS-2) and
// the number of SMS parts it takes.
type Length struct {
	Encoding string `json:"encoding"`
	Units    int    `json:"units"`
	Parts    int    `json:"parts"`
}

// Measure measures a text: GSM-7 when every character is in the default
// alphabet or its extension, else UCS-2. One part holds 160 septets (70
// UCS-2 units); a longer text is split into parts of 153 (67), the rest
// of each part carrying the concatenation header. A GSM-7 extension
// character is never split from its escape, nor a UCS-2 surrogate pair.
func Measure(text string) Length {
	gsm := true
	for _, r := range text {
		if !gsmBasic[r] && !gsmExt[r] {
			gsm = false
			break
		}
	}
	if gsm {
		units := 0
		for _, r := range text {
			units++
			if gsmExt[r] {
				units++
			}
		}
		l := Length{Encoding: GSM7, Units: units, Parts: 1}
		if units > 160 {
			l.Parts = split(text, 153, func(r rune) int {
				if gsmExt[r] {
					return 2
				}
				return 1
			})
		}
		return l
	}
	units := len(utf16.Encode([]rune(text)))
	l := Length{Encoding: UCS2, Units: units, Parts: 1}
	if units > 70 {
		l.Parts = split(text, 67, func(r rune) int { return utf16.RuneLen(r) })
	}
	return l
}

// split counts the parts of size units a text fills when no character is
// cut between two parts.
func split(text string, size int, width func(rune) int) int {
	parts, used := 1, 0
	for _, r := range text {
		w := width(r)
		if w < 1 {
			w = 1 // an invalid rune still takes a unit
		}
		if used+w > size {
			parts++
			used = 0
		}
		used += w
	}
	return parts
}
