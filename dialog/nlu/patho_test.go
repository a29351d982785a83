package nlu

import (
	"strings"
	"testing"
	"time"
)

// Long or repetitive input must stay roughly linear (a pasted document, a stuck key).
func TestLongInputs(t *testing.T) {
	b := newTest(t)
	for _, s := range []string{strings.Repeat("1", 5000), strings.Repeat("三", 5000), strings.Repeat("1/", 2000),
		strings.Repeat("下午三點", 1000), strings.Repeat("11月20日 ", 1000), strings.Repeat("0912345678 ", 500),
		strings.Repeat("1,", 2000), strings.Repeat("昨天下午三點", 1000), strings.Repeat("a", 5000)} {
		start := time.Now()
		n := len(b.Extract(s, testNow))
		b.Amount(s)
		b.Classify(s)
		t.Logf("%d runes of %q…: %d entities in %v", len([]rune(s)), string([]rune(s)[:3]), n, time.Since(start))
	}
}
