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

// currencyBefore must find what reAmountPre finds.
func FuzzCurrencyBefore(f *testing.F) {
	for _, s := range []string{"nt $ ", "nt\t$", "nt  $", "us$", "x$\n", "ntd", "twd ", "ant", "新台幣 ", "台幣", "幣", "$$", "n$"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		s = fold(s).norm
		c0, c1 := currencyBefore(s)
		want := reAmountPre.FindStringSubmatchIndex(s)
		if want == nil {
			if c0 >= 0 {
				t.Fatalf("%q: got %d,%d, the pattern does not match", s, c0, c1)
			}
			return
		}
		if c0 != want[2] || c1 != want[3] || want[0] != want[2] {
			t.Fatalf("%q: got %d,%d want %v", s, c0, c1, want)
		}
	})
}

// A gate never says no where its pattern matches.
func FuzzGates(f *testing.F) {
	for _, s := range []string{"2026-11-20", "11/20/2026", "1151120", "11/20", "Nov 21, 2026", "21st of March", "yesterday evening",
		"3 days ago", "last week Friday", "on the 20th", "10:30 pm", "6pm", "at 6", "6 o'clock", "A123456789", "AB12345678",
		"0912-345-678", "+886 2 2345 6789", "(02)2345-6789", "ＮＯＶ　２１", "\xffmonday"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fs := fold(s)
		for _, g := range gates {
			if g.re.MatchString(fs.norm) && !g.may(fs) {
				t.Fatalf("%s matches %q but its gate says it cannot", g.name, fs.norm)
			}
		}
	})
}

// amountBody must find what reAmountBody finds.
func FuzzAmountBody(f *testing.F) {
	for _, s := range []string{"1,234,5678元", "12.5k", "12 kg", "3 dollars", "3dollar", "三萬五 多 塊錢", "兩萬點五", "點", "5點半",
		"1,23", "1234,567", "5.", "5.5.5", "nt", "9 ntd", "七k", "k"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		s = fold(s).norm
		want := reAmountBody.FindStringSubmatchIndex(s)
		if got := amountBody(s); !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: got %v want %v", s, got, want)
		}
	})
}
