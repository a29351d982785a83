package nlu

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func readFile(t testing.TB, name string) []Example {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ex, err := ReadExamples(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ex
}

// The held-out figures reported in EVAL.md: go test -run TestEvaluateHeldOut -v ./dialog/nlu/
func TestEvaluateHeldOut(t *testing.T) {
	b := newTest(t)
	r := Evaluate(b, readFile(t, "data/test.jsonl"))
	var buf bytes.Buffer
	if err := r.Write(&buf); err != nil {
		t.Fatal(err)
	}
	t.Logf("held-out set:\n%s", buf.String())
	if r.Accuracy < 0.90 {
		t.Errorf("held-out accuracy %.1f%% < 90%%", 100*r.Accuracy)
	}
	for _, l := range r.ByLang {
		if l.Accuracy < 0.90 {
			t.Errorf("%s: held-out accuracy %.1f%% < 90%%", l.Lang, 100*l.Accuracy)
		}
	}
	langs := map[string]bool{}
	for _, l := range r.ByLang {
		langs[l.Lang] = true
	}
	for _, l := range []string{"zh-TW", "zh-CN", "en", "mixed"} {
		if !langs[l] {
			t.Errorf("no held-out examples in %s", l)
		}
	}
}

// The held-out set is at least 15% of the data in every language, and shares no text with training.
func TestHeldOutIsSeparate(t *testing.T) {
	train, test := readFile(t, "data/train.jsonl"), readFile(t, "data/test.jsonl")
	seen := map[string]bool{}
	nTrain, nTest := map[string]int{}, map[string]int{}
	for _, e := range train {
		seen[normKey(e.Text)] = true
		nTrain[e.Lang]++
	}
	for _, e := range test {
		if seen[normKey(e.Text)] {
			t.Errorf("held-out %q is also in the training set", e.Text)
		}
		nTest[e.Lang]++
	}
	for _, l := range []string{"zh-TW", "zh-CN", "en", "mixed"} {
		share := float64(nTest[l]) / float64(nTest[l]+nTrain[l])
		t.Logf("%-6s train %4d  held-out %3d (%.1f%%)", l, nTrain[l], nTest[l], 100*share)
		if share < 0.12 {
			t.Errorf("%s: held-out share %.1f%%", l, 100*share)
		}
	}
	perIntent := map[string]int{}
	for _, e := range train {
		perIntent[e.Intent]++
	}
	for _, in := range Intents {
		if perIntent[in] < 180 {
			t.Errorf("%s: only %d training examples", in, perIntent[in])
		}
	}
}

// normKey ignores case, width, script and punctuation, so a near-copy counts as a copy.
func normKey(s string) string {
	var b strings.Builder
	for _, r := range s {
		r = foldRune(r)
		if isHan(r) || isAlnum(r) || r > 0x2000 && isLetter(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestReadExamplesErrors(t *testing.T) {
	for in, want := range map[string]string{
		"{\"text\":\"hi\",\"intent\":\"greeting\"}\nnot json\n":              "line 2:",
		"\n\n{\"text\":\"\",\"intent\":\"greeting\"}":                        "line 3: empty",
		"{\"text\":\"hi\",\"intent\":\"hello\"}":                             "line 1: unknown intent \"hello\"",
		"{\"text\":\"hi\"}":                                                  "line 1: missing \"intent\"",
		"{\"text\":\"hi\",\"intent\":\"greeting\",\"lang\":\"en\",\"x\":1}":  "line 1:",
		"{\"text\":\"hi\",\"intent\":\"greeting\"} {\"text\":\"x\"}":         "line 1: more than one",
		"{\"text\":\"hi\",\"intent\":\"greeting\",\"lang\":\"en\"}\n[1,2]\n": "line 2:",
	} {
		_, err := ReadExamples(strings.NewReader(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", in, err, want)
		}
	}
	ex, err := ReadExamples(strings.NewReader("{\"text\":\"你好\",\"intent\":\"greeting\"}\n\n{\"text\":\"bye\",\"intent\":\"goodbye\",\"lang\":\"en\"}\n"))
	if err != nil || len(ex) != 2 || ex[0].Lang != "zh-TW" || ex[1].Lang != "en" {
		t.Fatalf("got %+v %v", ex, err)
	}
}

type fixed map[string]string

func (f fixed) Classify(text string) []Intent {
	return []Intent{{Name: f[text], Confidence: 1}}
}

func TestEvaluateCounts(t *testing.T) {
	ex := []Example{{"a", IntentAffirm, "en"}, {"b", IntentAffirm, "en"}, {"c", IntentDeny, "zh-TW"}, {"d", IntentDeny, "zh-TW"}}
	r := Evaluate(fixed{"a": IntentAffirm, "b": IntentDeny, "c": IntentDeny, "d": IntentDeny}, ex)
	if r.Total != 4 || r.Correct != 3 || r.Accuracy != 0.75 || len(r.Misses) != 1 || r.Misses[0].Text != "b" {
		t.Fatalf("%+v", r)
	}
	ia, id := indexOf(Intents, IntentAffirm), indexOf(Intents, IntentDeny)
	if r.Confusion[ia][id] != 1 || r.Confusion[id][id] != 2 {
		t.Errorf("confusion %v", r.Confusion)
	}
	aff, den := r.Intents[ia], r.Intents[id]
	if aff.Precision != 1 || aff.Recall != 0.5 || math.Abs(den.Precision-2.0/3) > 1e-9 || den.Recall != 1 || den.Support != 2 {
		t.Errorf("%+v %+v", aff, den)
	}
	if len(r.ByLang) != 2 || r.ByLang[0].Lang != "en" || r.ByLang[0].Accuracy != 0.5 || r.ByLang[1].Accuracy != 1 {
		t.Errorf("%+v", r.ByLang)
	}
	var buf bytes.Buffer
	if err := r.Write(&buf); err != nil || !strings.Contains(buf.String(), "75.0%") || !strings.Contains(buf.String(), "misses (1)") {
		t.Errorf("%v\n%s", err, buf.String())
	}
}

func indexOf(xs []string, x string) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return -1
}

// modelClassifier evaluates a bare classifier with the parser's entity damping.
type modelClassifier struct {
	c *classifier
	b *Builtin
}

func (m modelClassifier) Classify(text string) []Intent {
	return m.c.classify(text, !hasOwnWords(text, m.b.Extract(text, testNow)))
}

// The model comparison of EVAL.md: go test -run TestModelComparison -v ./dialog/nlu/
// Each candidate trains on data/train.jsonl and is scored on data/test.jsonl; the log is the table.
func TestModelComparison(t *testing.T) {
	if testing.Short() {
		t.Skip("trains every candidate")
	}
	b := newTest(t)
	trainEx, test := readFile(t, "data/train.jsonl"), readFile(t, "data/test.jsonl")
	sm := defaultModel
	cands := []modelOpts{sm}
	add := func(name string, f func(o *modelOpts)) {
		o := sm
		o.name = name
		f(&o)
		cands = append(cands, o)
	}
	add("softmax-T=1", func(o *modelOpts) { o.temp = 1 })
	add("softmax-T=0.85", func(o *modelOpts) { o.temp = 0.85 })
	add("softmax-han1..2", func(o *modelOpts) { o.feat.hanMax = 2 })
	add("softmax-han1..4", func(o *modelOpts) { o.feat.hanMax = 4 })
	add("softmax-lat2..5", func(o *modelOpts) { o.feat.latMin, o.feat.latMax = 2, 5 })
	add("softmax-L2=1e-4", func(o *modelOpts) { o.l2 = 1e-4 })
	add("softmax-L2=1e-3", func(o *modelOpts) { o.l2 = 1e-3 })
	add("softmax-15ep", func(o *modelOpts) { o.epochs = 15 })
	for _, a := range []float64{0.1, 0.3, 1} {
		add(fmt.Sprintf("cnb-a=%g", a), func(o *modelOpts) { o.kind, o.alpha = modelCNB, a })
	}
	add("cnb-a=0.3-han1..2", func(o *modelOpts) { o.kind, o.alpha, o.feat.hanMax = modelCNB, 0.3, 2 })
	var log strings.Builder
	fmt.Fprintf(&log, "%-20s %7s %7s %7s %7s %7s %8s %9s\n", "model", "all", "zh-TW", "zh-CN", "en", "mixed", "NLL", "train")
	for _, o := range cands {
		start := time.Now()
		c, err := train(trainEx, o)
		if err != nil {
			t.Fatal(err)
		}
		d := time.Since(start)
		r := Evaluate(modelClassifier{c, b}, test)
		byLang := map[string]float64{}
		for _, l := range r.ByLang {
			byLang[l.Lang] = l.Accuracy
		}
		fmt.Fprintf(&log, "%-20s %6.1f%% %6.1f%% %6.1f%% %6.1f%% %6.1f%% %8.3f %9v\n", o.name, 100*r.Accuracy,
			100*byLang["zh-TW"], 100*byLang["zh-CN"], 100*byLang["en"], 100*byLang["mixed"], nll(modelClassifier{c, b}, test),
			d.Round(time.Millisecond))
	}
	t.Logf("held-out comparison (NLL = mean negative log-likelihood of the right intent):\n%s", log.String())
}

func nll(c Classifier, ex []Example) float64 {
	var s float64
	for _, e := range ex {
		for _, in := range c.Classify(e.Text) {
			if in.Name == e.Intent {
				s -= math.Log(math.Max(in.Confidence, 1e-9))
			}
		}
	}
	return s / float64(len(ex))
}

// TestCalibrationFit fits the softmax temperature by 5-fold cross-validation on the training set only
// (the held-out set stays unseen) and logs the figure used for defaultModel.temp.
func TestCalibrationFit(t *testing.T) {
	if testing.Short() {
		t.Skip("trains five models")
	}
	b := newTest(t)
	ex := readFile(t, "data/train.jsonl")
	temps := []float64{0.5, 0.7, 0.85, 1, 1.2, 1.5, 2}
	loss := make([]float64, len(temps))
	const folds = 5
	for f := 0; f < folds; f++ {
		var tr, va []Example
		for i, e := range ex {
			if i%folds == f {
				va = append(va, e)
			} else {
				tr = append(tr, e)
			}
		}
		for i, temp := range temps {
			o := defaultModel
			o.temp = temp
			c, err := train(tr, o)
			if err != nil {
				t.Fatal(err)
			}
			loss[i] += nll(modelClassifier{c, b}, va) / folds
		}
	}
	best := 0
	for i := range temps {
		t.Logf("temperature %.2f: cross-validated NLL %.4f", temps[i], loss[i])
		if loss[i] < loss[best] {
			best = i
		}
	}
	t.Logf("best temperature %.2f (defaultModel.temp = %.2f)", temps[best], defaultModel.temp)
}

// Memory and start-up of the trained model, for EVAL.md: go test -run TestModelFootprint -v ./dialog/nlu/
func TestModelFootprint(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	c, err := trainEmbeddedNow() // New shares the model trained once per process: train a fresh one
	if err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("training: %v; retained heap %.2f MiB (%d features × %d intents)", d.Round(time.Millisecond),
		float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), len(c.vocab), len(c.labels))
	runtime.KeepAlive(c)
}
