package nlu

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// amountMatches must find what the reference pattern reAmount finds (the whole match may start at the
// spaces before a number without currency in the reference; both are ignored then).
func FuzzAmountMatches(f *testing.F) {
	for _, s := range []string{"NT$ 35,000", "花了三萬五", "點五", "nt 5", "5000塊錢 and $1,250.50 k", "三點在", "12萬5千 ntd",
		"新台幣  3萬", "1,2,3", "ant 5", "5kg", "\xff3萬"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		s = fold(s).norm
		want := reAmount.FindAllStringSubmatchIndex(s, -1)
		got := amountMatches(s)
		for _, m := range want {
			if m[2] < 0 {
				for m[0] < m[4] && unicode.IsSpace(rune(s[m[0]])) {
					m[0]++
				}
			}
		}
		if len(want) == 0 {
			want = nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got %v\nwant %v", s, got, want)
		}
	})
}

// findWords must agree with the alternation it replaces.
func FuzzFindWords(f *testing.F) {
	re := regexp.MustCompile(strings.Join(zhRelWords, "|"))
	for _, s := range []string{"大前天昨天", "前天前天", "今晚今早", "昨夜大後天後天", "\xff昨天"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		s = fold(s).norm
		want := re.FindAllStringIndex(s, -1)
		if got := findWords(s, zhRelWords); !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Fatalf("%q: got %v want %v", s, got, want)
		}
	})
}
