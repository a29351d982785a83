package dialog

import (
	"strings"
	"testing"
	"unicode"
)

// squash must be what its first definition was: lowercase, then drop spaces, punctuation, symbols.
func FuzzSquash(f *testing.F) {
	for _, s := range []string{"", "HL20240017", "確認送出！", "Yes, please.", "ＯＫ", "\xff\xfeok", "\ufffd", "a\x00b\x01",
		"İstanbul", "ΣΑΣ", "Rear-ended by a taxi", "abc", "台大醫院"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var b strings.Builder
		for _, r := range strings.ToLower(s) {
			if unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) {
				continue
			}
			b.WriteRune(r)
		}
		if got, want := squash(s), b.String(); got != want {
			t.Fatalf("squash(%q) = %q, want %q", s, got, want)
		}
	})
}
