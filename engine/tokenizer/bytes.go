package tokenizer

import (
	"unicode/utf8"
)

// byteChar maps each byte to the printable rune GPT-2's byte-level BPE uses
// for it (bytes_to_unicode): printable Latin-1 bytes map to themselves and
// the rest to U+0100 onwards, so that every byte string is a valid, visible
// string the vocabulary can hold.
var byteChar [256]rune

// byteCharStr is byteChar as UTF-8 strings, to build mapped words without
// re-encoding runes on the hot path.
var byteCharStr [256]string

// charByteArr is the inverse of byteChar (-1: not a byte-level char); all
// byte-level chars are below U+0144.
var charByteArr [0x144]int16

func init() {
	var used [256]bool
	for b := '!'; b <= '~'; b++ {
		used[b] = true
	}
	for b := '¡'; b <= '¬'; b++ {
		used[b] = true
	}
	for b := '®'; b <= 'ÿ'; b++ {
		used[b] = true
	}
	for i := range charByteArr {
		charByteArr[i] = -1
	}
	n := 0
	for b := 0; b < 256; b++ {
		if used[b] {
			byteChar[b] = rune(b)
		} else {
			byteChar[b] = rune(256 + n)
			n++
		}
		byteCharStr[b] = string(byteChar[b])
		charByteArr[byteChar[b]] = int16(b)
	}
}

// lossyUTF8 converts b to a string the way Rust's String::from_utf8_lossy
// does: each maximal invalid subsequence (as defined by the Unicode
// "substitution of maximal subparts" practice) becomes one U+FFFD. Go's
// strings.ToValidUTF8 collapses whole runs instead, which would not match
// Hugging Face's decode output.
func lossyUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	out := make([]byte, 0, len(b)+8)
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || size > 1 {
			out = append(out, b[i:i+size]...)
			i += size
			continue
		}
		// Invalid: find the maximal subpart starting at i.
		n := maximalSubpart(b[i:])
		out = append(out, "\uFFFD"...)
		i += n
	}
	return string(out)
}

// maximalSubpart returns how many bytes at the start of b form one maximal
// subpart of an ill-formed sequence (at least 1).
func maximalSubpart(b []byte) int {
	b0 := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF)
	switch {
	case b0 >= 0xC2 && b0 <= 0xDF:
		need = 1
	case b0 == 0xE0:
		need, lo = 2, 0xA0
	case b0 >= 0xE1 && b0 <= 0xEC, b0 == 0xEE, b0 == 0xEF:
		need = 2
	case b0 == 0xED:
		need, hi = 2, 0x9F
	case b0 == 0xF0:
		need, lo = 3, 0x90
	case b0 >= 0xF1 && b0 <= 0xF3:
		need = 3
	case b0 == 0xF4:
		need, hi = 3, 0x8F
	default:
		return 1
	}
	n := 1
	for k := 0; k < need && n < len(b); k++ {
		c := b[n]
		if c < lo || c > hi {
			break
		}
		lo, hi = 0x80, 0xBF
		n++
	}
	return n
}

// sanitizeUTF8 replaces each invalid byte of s with U+FFFD. Hugging Face
// tokenizers only ever see valid Unicode (Rust and Python strings), so
// invalid input has no reference behaviour; this keeps Encode total.
func sanitizeUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	out := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			out = append(out, "\uFFFD"...)
		} else {
			out = append(out, s[i:i+size]...)
		}
		i += size
	}
	return string(out)
}
