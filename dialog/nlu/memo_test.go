package nlu

import (
	"context"
	"reflect"
	"testing"
	"time"
)

// answers is everything the extractors say about text, each from a parser that has seen nothing else.
func answers(t *testing.T, text string, now time.Time) []any {
	t.Helper()
	fresh := func() *Builtin {
		b, err := New(Config{})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	res, _ := fresh().Parse(context.Background(), text, "", now)
	w, wok := fresh().IncidentTime(text, now)
	a, ae, aok := fresh().Amount(text)
	d, dok := fresh().BirthDate(text)
	p, pe, pok := fresh().PolicyNumber(text)
	return []any{res, w, wok, a, ae, aok, d, dok, p, pe, pok}
}

// The memo never changes an answer: a parser asked in a dialog turn's order (Parse, then the form's
// extractors, twice, and again at another instant of the same day and of another day) answers what
// parsers asked once each do.
func TestMemoIsInvisible(t *testing.T) {
	texts := append([]string{"", "昨天下午三點在忠孝東路被機車撞到，大概花了三萬五", "5000塊", "29號", "the 31st of last month",
		"今年2月29日", "0912-345-678", "A123456789 74/3/2", "民國74年3月2日", "thirty-five thousand dollars"}, scriptMessages...)
	b := newTest(t)
	ctx := context.Background()
	now := time.Now()
	for _, text := range texts {
		for _, day := range []time.Time{now, now.Add(-3 * time.Hour), now.AddDate(0, 0, -1), testNow, now} {
			want := answers(t, text, day)
			for range 2 {
				res, _ := b.Parse(ctx, text, "", day)
				w, wok := b.IncidentTime(text, day)
				a, ae, aok := b.Amount(text)
				a, ae, aok = b.Amount(text)
				d, dok := b.BirthDate(text)
				p, pe, pok := b.PolicyNumber(text)
				got := []any{res, w, wok, a, ae, aok, d, dok, p, pe, pok}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("%q at %v:\n got %v\nwant %v", text, day, got, want)
				}
			}
			// What a caller does with what it got does not reach the memo.
			if ents := b.Extract(text, day); len(ents) > 0 {
				ents[0].Text = "changed"
				if again := b.Extract(text, day); again[0].Text == "changed" {
					t.Fatalf("%q: a caller changed the memo", text)
				}
			}
		}
	}
}
