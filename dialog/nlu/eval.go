package nlu

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Classifier ranks the intents of a text, best first. *Builtin implements it.
type Classifier interface {
	Classify(text string) []Intent
}

var _ Classifier = (*Builtin)(nil)

// ReadExamples reads labelled utterances, one JSON object per line: {"text": ..., "intent": ...,
// "lang": ...}. Blank lines are skipped. lang may be empty (it is then detected, "" when the text has
// no letters). A malformed line, an empty text or an unknown intent is an error naming the line.
func ReadExamples(r io.Reader) ([]Example, error) {
	known := map[string]bool{}
	for _, in := range Intents {
		known[in] = true
	}
	var out []Example
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var e Example
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("line %d: more than one JSON value", n)
		}
		switch {
		case strings.TrimSpace(e.Text) == "":
			return nil, fmt.Errorf("line %d: empty \"text\"", n)
		case e.Intent == "":
			return nil, fmt.Errorf("line %d: missing \"intent\"", n)
		case !known[e.Intent]:
			return nil, fmt.Errorf("line %d: unknown intent %q (want one of %s)", n, e.Intent, strings.Join(Intents, ", "))
		}
		if e.Lang == "" {
			e.Lang = DetectLang(e.Text)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("line %d: longer than 1 MiB", len(out)+1)
		}
		return nil, err
	}
	return out, nil
}

// Report is the result of Evaluate.
type Report struct {
	Total    int
	Correct  int
	Accuracy float64     // Correct / Total (0 when Total is 0)
	ByLang   []LangScore // per language, sorted by name ("" = no letters)
	Intents  []IntentScore
	// Labels names the rows and columns of Confusion: Intents, in their fixed order.
	Labels []string
	// Confusion[i][j] counts examples labelled Labels[i] classified as Labels[j].
	Confusion [][]int
	Misses    []Miss // every misclassified example, in input order
}

// LangScore is the accuracy on the examples of one language.
type LangScore struct {
	Lang     string
	Total    int
	Correct  int
	Accuracy float64
}

// IntentScore is precision, recall and F1 for one intent. Support is the number of examples labelled
// with it.
type IntentScore struct {
	Intent    string
	Precision float64
	Recall    float64
	F1        float64
	Support   int
}

// Miss is one misclassified example.
type Miss struct {
	Example
	Got        string
	Confidence float64
}

// Evaluate classifies every example and scores the results.
func Evaluate(c Classifier, examples []Example) Report {
	idx := map[string]int{}
	for i, in := range Intents {
		idx[in] = i
	}
	k := len(Intents)
	r := Report{Labels: append([]string(nil), Intents...), Confusion: make([][]int, k)}
	for i := range r.Confusion {
		r.Confusion[i] = make([]int, k)
	}
	langs := map[string]*LangScore{}
	for _, e := range examples {
		want, ok := idx[e.Intent]
		if !ok {
			continue // ReadExamples refuses these; a caller-built slice may still have them
		}
		rank := c.Classify(e.Text)
		got := -1
		var conf float64
		if len(rank) > 0 {
			conf = rank[0].Confidence
			if g, ok := idx[rank[0].Name]; ok {
				got = g
			}
		}
		ls := langs[e.Lang]
		if ls == nil {
			ls = &LangScore{Lang: e.Lang}
			langs[e.Lang] = ls
		}
		r.Total++
		ls.Total++
		if got >= 0 {
			r.Confusion[want][got]++
		}
		if got == want {
			r.Correct++
			ls.Correct++
		} else {
			name := ""
			if len(rank) > 0 {
				name = rank[0].Name
			}
			r.Misses = append(r.Misses, Miss{Example: e, Got: name, Confidence: conf})
		}
	}
	r.Accuracy = ratio(r.Correct, r.Total)
	for _, ls := range langs {
		ls.Accuracy = ratio(ls.Correct, ls.Total)
		r.ByLang = append(r.ByLang, *ls)
	}
	sort.Slice(r.ByLang, func(i, j int) bool { return r.ByLang[i].Lang < r.ByLang[j].Lang })
	for i, in := range Intents {
		tp, support, predicted := r.Confusion[i][i], 0, 0
		for j := 0; j < k; j++ {
			support += r.Confusion[i][j]
			predicted += r.Confusion[j][i]
		}
		s := IntentScore{Intent: in, Support: support, Precision: ratio(tp, predicted), Recall: ratio(tp, support)}
		if s.Precision+s.Recall > 0 {
			s.F1 = 2 * s.Precision * s.Recall / (s.Precision + s.Recall)
		}
		r.Intents = append(r.Intents, s)
	}
	return r
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// intentAbbrev are the confusion matrix's column heads.
var intentAbbrev = map[string]string{IntentFileClaim: "file", IntentSubmitDocuments: "docs",
	IntentCheckProgress: "prog", IntentComplaint: "cmpl", IntentHumanAgent: "human", IntentGreeting: "greet",
	IntentHelp: "help", IntentCancel: "cncl", IntentAffirm: "yes", IntentDeny: "no", IntentGoodbye: "bye",
	IntentOutOfScope: "oos"}

// Write prints the report as plain-text tables: overall and per-language accuracy, per-intent precision,
// recall and F1, the confusion matrix (rows = expected, columns = predicted) and up to 30 misses.
func (r Report) Write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "accuracy  %6.1f%%  (%d/%d)\n\n", 100*r.Accuracy, r.Correct, r.Total)
	fmt.Fprintf(bw, "%-10s %8s %7s\n", "language", "accuracy", "n")
	for _, l := range r.ByLang {
		name := l.Lang
		if name == "" {
			name = "(none)"
		}
		fmt.Fprintf(bw, "%-10s %7.1f%% %7d\n", name, 100*l.Accuracy, l.Total)
	}
	fmt.Fprintf(bw, "\n%-17s %9s %7s %7s %7s\n", "intent", "precision", "recall", "F1", "n")
	for _, s := range r.Intents {
		fmt.Fprintf(bw, "%-17s %8.1f%% %6.1f%% %6.1f%% %7d\n", s.Intent, 100*s.Precision, 100*s.Recall, 100*s.F1, s.Support)
	}
	fmt.Fprintf(bw, "\nconfusion (rows expected, columns predicted)\n%-17s", "")
	for _, l := range r.Labels {
		fmt.Fprintf(bw, " %5s", abbrev(l))
	}
	bw.WriteString("\n")
	for i, row := range r.Confusion {
		fmt.Fprintf(bw, "%-17s", r.Labels[i])
		for _, n := range row {
			if n == 0 {
				fmt.Fprintf(bw, " %5s", ".")
			} else {
				fmt.Fprintf(bw, " %5d", n)
			}
		}
		bw.WriteString("\n")
	}
	if len(r.Misses) > 0 {
		fmt.Fprintf(bw, "\nmisses (%d)\n", len(r.Misses))
		for i, m := range r.Misses {
			if i == 30 {
				fmt.Fprintf(bw, "  … %d more\n", len(r.Misses)-30)
				break
			}
			fmt.Fprintf(bw, "  %-6s %-16s → %-16s %.2f  %q\n", m.Lang, m.Intent, m.Got, m.Confidence, m.Text)
		}
	}
	return bw.Flush()
}

func abbrev(l string) string {
	if a, ok := intentAbbrev[l]; ok {
		return a
	}
	if len(l) > 5 {
		return l[:5]
	}
	return l
}
