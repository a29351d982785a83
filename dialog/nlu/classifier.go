package nlu

import (
	"bufio"
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"unicode"
)

// data/test.jsonl is deliberately not embedded: it is the held-out set, read only by the tests.
//
//go:embed data/train.jsonl
var dataFS embed.FS

// Intents lists the twelve intent names in a fixed order.
var Intents = []string{IntentFileClaim, IntentSubmitDocuments, IntentCheckProgress, IntentComplaint,
	IntentHumanAgent, IntentGreeting, IntentHelp, IntentCancel, IntentAffirm, IntentDeny, IntentGoodbye,
	IntentOutOfScope}

// Example is one labelled utterance of the training or held-out set.
type Example struct {
	Text   string `json:"text"`
	Intent string `json:"intent"`
	Lang   string `json:"lang"`
}

// classifier is a linear model over hashed character and word n-grams: score_j = bias_j + Σ w[f][j]·scale.
// Both trainers (softmax regression, complement naive Bayes) produce this shape, so classification and
// its cost are the same whichever was chosen.
type classifier struct {
	vocab  map[uint64]int32 // feature hash → row
	w      [][]float32      // row → per-intent weight
	bias   []float64
	labels []string
	opts   modelOpts
}

func loadExamples(data []byte) ([]Example, error) {
	var out []Example
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var e Example
		if err := json.Unmarshal(line, &e); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// trainEmbedded is the model trained from the embedded data, trained once per process: training is
// deterministic and a classifier is never changed after it, so every Builtin can share it (a
// process with several parsers, and every test, would otherwise train again; it takes a second).
var trainEmbedded = sync.OnceValues(trainEmbeddedNow)

func trainEmbeddedNow() (*classifier, error) {
	data, err := dataFS.ReadFile("data/train.jsonl")
	if err != nil {
		return nil, err
	}
	ex, err := loadExamples(data)
	if err != nil {
		return nil, fmt.Errorf("nlu: training data: %w", err)
	}
	return train(ex, defaultModel)
}

// modelOpts selects the learner and its features; defaultModel is the one chosen by measurement (see
// TestModelComparison and EVAL.md).
type modelOpts struct {
	name    string
	kind    int // modelSoftmax or modelCNB
	feat    featOpts
	epochs  int
	lr, l2  float64
	alpha   float64 // naive Bayes smoothing
	temp    float64 // softmax temperature applied to the scores (calibration; 1 = none)
	minSeen int     // known features below which the ranking is damped towards "no evidence"
}

const (
	modelSoftmax = iota
	modelCNB
)

// temp 0.7 was fitted by 5-fold cross-validation on the training set (TestCalibrationFit) and confirmed
// on the held-out set (NLL 0.209 → 0.168, accuracy unchanged).
var defaultModel = modelOpts{name: "softmax-T=0.7", kind: modelSoftmax, feat: defaultFeat,
	epochs: 30, lr: 1.0, l2: 1e-5, temp: 0.7, minSeen: 3}

// train fits the model; deterministic (fixed seed) so a build always behaves the same.
func train(ex []Example, o modelOpts) (*classifier, error) {
	c := &classifier{vocab: map[uint64]int32{}, labels: Intents, opts: o}
	idx := map[string]int{}
	for i, l := range c.labels {
		idx[l] = i
	}
	k := len(c.labels)
	type row struct {
		feats []int32
		y     int
	}
	rows := make([]row, 0, len(ex))
	var buf []uint64
	for _, e := range ex {
		y, ok := idx[e.Intent]
		if !ok {
			return nil, fmt.Errorf("nlu: unknown intent %q in training data", e.Intent)
		}
		buf = featuresWith(e.Text, o.feat, buf[:0])
		fs := make([]int32, 0, len(buf))
		for _, h := range buf {
			id, ok := c.vocab[h]
			if !ok {
				id = int32(len(c.vocab))
				c.vocab[h] = id
			}
			fs = append(fs, id)
		}
		rows = append(rows, row{fs, y})
	}
	nf := len(c.vocab)
	w := make([][]float64, nf)
	flat := make([]float64, nf*k)
	for i := range w {
		w[i] = flat[i*k : (i+1)*k]
	}
	c.bias = make([]float64, k)
	switch o.kind {
	case modelCNB:
		// Complement naive Bayes (Rennie et al. 2003): a class is scored by how badly the other classes'
		// feature distribution explains the text; weights are normalised per class.
		comp := make([]float64, nf*k) // counts of feature f in classes other than j
		tot := make([]float64, k)
		for _, r := range rows {
			for _, f := range r.feats {
				for j := 0; j < k; j++ {
					if j != r.y {
						comp[int(f)*k+j]++
						tot[j]++
					}
				}
			}
		}
		norm := make([]float64, k)
		for f := 0; f < nf; f++ {
			for j := 0; j < k; j++ {
				v := math.Log((comp[f*k+j] + o.alpha) / (tot[j] + o.alpha*float64(nf)))
				w[f][j] = v
				norm[j] += math.Abs(v)
			}
		}
		for f := 0; f < nf; f++ {
			for j := 0; j < k; j++ {
				w[f][j] = -w[f][j] / norm[j] * float64(nf) / 10 // negate: higher is better; rescale for softmax
			}
		}
	default:
		rng := rand.New(rand.NewPCG(1, 2))
		p := make([]float64, k)
		for ep := 0; ep < o.epochs; ep++ {
			lr := o.lr / (1 + 0.1*float64(ep))
			rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
			for _, r := range rows {
				scale := featScale(len(r.feats))
				copy(p, c.bias)
				for _, f := range r.feats {
					for j, v := range w[f] {
						p[j] += v * scale
					}
				}
				softmax(p)
				for j := 0; j < k; j++ {
					g := p[j]
					if j == r.y {
						g--
					}
					c.bias[j] -= lr * g * hpBias
					for _, f := range r.feats {
						w[f][j] -= lr * (g*scale + o.l2*w[f][j])
					}
				}
			}
		}
	}
	// Weights are stored as float32: half the memory, and the scores differ by far less than the
	// margins between intents.
	c.w = make([][]float32, nf)
	flat32 := make([]float32, nf*k)
	for i := range c.w {
		c.w[i] = flat32[i*k : (i+1)*k]
		for j := range c.w[i] {
			c.w[i][j] = float32(w[i][j])
		}
	}
	return c, nil
}

// hpBias: the bias learns slower than the weights; class sizes in the data say little about real traffic.
const hpBias = 0.1

// featScale keeps long and short messages on the same footing.
func featScale(n int) float64 {
	if n == 0 {
		return 0
	}
	return 1 / math.Sqrt(float64(n))
}

func (c *classifier) scores(feats []int32, scale float64, p []float64) {
	copy(p, c.bias)
	for _, f := range feats {
		for j, w := range c.w[f] {
			p[j] += float64(w) * scale
		}
	}
}

func softmax(p []float64) {
	m := math.Inf(-1)
	for _, v := range p {
		m = math.Max(m, v)
	}
	var s float64
	for i, v := range p {
		p[i] = math.Exp(v - m)
		s += p[i]
	}
	for i := range p {
		p[i] /= s
	}
}

// noEvidenceWeight is how much of the model's ranking survives when a message carries no words of its
// own (an ID, a policy number or a date alone): the rest is spread evenly, so the top confidence stays
// well below the dialog's clarify threshold (0.5) while the ranking still orders the buttons.
const noEvidenceWeight = 0.3

// classify ranks the intents, best first. noEvidence says the text has no words outside its entities.
func (c *classifier) classify(text string, noEvidence bool) []Intent {
	var hb [128]uint64
	hs := featuresWith(text, c.opts.feat, hb[:0])
	var fb [128]int32
	feats := fb[:0]
	for _, h := range hs {
		if id, ok := c.vocab[h]; ok {
			feats = append(feats, id)
		}
	}
	k := len(c.labels)
	var pb [16]float64
	p := pb[:k]
	out := make([]Intent, k)
	if len(feats) == 0 {
		// Nothing we have seen before (empty text, an unknown script): not something we handle.
		for j, l := range c.labels {
			out[j] = Intent{Name: l, Confidence: 0.2 / float64(k-1)}
			if l == IntentOutOfScope {
				out[j].Confidence = 0.8
			}
		}
	} else {
		// Scale by the count of all features, known or not: a message of mostly unknown words is less sure.
		c.scores(feats, featScale(len(hs)), p)
		if t := c.opts.temp; t > 0 && t != 1 {
			for j := range p {
				p[j] /= t
			}
		}
		softmax(p)
		// Few known n-grams, or none outside entities: little evidence, so little confidence.
		lambda := 1.0
		if c.opts.minSeen > 0 && len(feats) < c.opts.minSeen {
			lambda = 0.5 + 0.5*float64(len(feats))/float64(c.opts.minSeen)
		}
		if noEvidence {
			lambda *= noEvidenceWeight
		}
		for j, l := range c.labels {
			out[j] = Intent{Name: l, Confidence: lambda*p[j] + (1-lambda)/float64(k)}
		}
	}
	slices.SortStableFunc(out, func(a, b Intent) int { // most confident first
		switch {
		case a.Confidence > b.Confidence:
			return -1
		case a.Confidence < b.Confidence:
			return 1
		}
		return 0
	})
	return out
}

// FNV-1a, folded in rune by rune so features need no string allocation.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func hashRunes(kind byte, rs []rune) uint64 {
	h := uint64(fnvOffset)
	h = (h ^ uint64(kind)) * fnvPrime
	for _, r := range rs {
		h = (h ^ uint64(r)) * fnvPrime
		h = (h ^ uint64(r>>8)) * fnvPrime
	}
	return h
}

// featOpts selects the n-grams: Han character n-grams hanMin..hanMax (with run-edge markers), Latin
// character n-grams latMin..latMax inside words, and word unigrams and bigrams.
type featOpts struct {
	hanMin, hanMax int
	latMin, latMax int
}

var defaultFeat = featOpts{hanMin: 1, hanMax: 3, latMin: 3, latMax: 4}

// features appends the default features of text (see featuresWith).
func features(text string, out []uint64) []uint64 { return featuresWith(text, defaultFeat, out) }

// featuresWith appends the hashed features of text: character n-grams of Han runs (with run-edge markers,
// so a lone 是 differs from 不是), word unigrams and bigrams and character n-grams of Latin words.
// Text is folded (width, case, Simplified→Traditional), digits collapse to 0, punctuation is dropped.
func featuresWith(text string, o featOpts, out []uint64) []uint64 {
	var rb [256]rune
	rs := rb[:0]
	for _, r := range text {
		rs = append(rs, foldRune(r))
	}
	var han [96]rune
	var word [64]rune
	var prevWord uint64
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case isHan(r):
			h := append(han[:0], '^')
			for i < len(rs) && isHan(rs[i]) {
				if len(h) < cap(han)-1 {
					h = append(h, rs[i])
				}
				i++
			}
			h = append(h, '$')
			for n := o.hanMin; n <= o.hanMax; n++ {
				for j := 0; j+n <= len(h); j++ {
					g := h[j : j+n]
					if n == 1 && (g[0] == '^' || g[0] == '$') {
						continue
					}
					out = append(out, hashRunes('h', g))
				}
			}
			prevWord = 0
		case isDigit(r) || unicode.IsLetter(r):
			w := append(word[:0], '<')
			for i < len(rs) && (isDigit(rs[i]) || (unicode.IsLetter(rs[i]) && !isHan(rs[i])) || rs[i] == '\'') {
				c := rs[i]
				if isDigit(c) {
					c = '0'
				}
				if c != '\'' && len(w) < cap(word)-1 {
					w = append(w, c)
				}
				i++
			}
			w = append(w, '>')
			wh := hashRunes('w', w)
			out = append(out, wh)
			if prevWord != 0 {
				out = append(out, (prevWord*31)^wh^0x9e3779b97f4a7c15)
			}
			prevWord = wh
			for n := o.latMin; n <= o.latMax; n++ {
				for j := 0; j+n <= len(w); j++ {
					if n == len(w) {
						continue // the whole word is already a feature
					}
					out = append(out, hashRunes(byte('0'+n), w[j:j+n]))
				}
			}
		default:
			i++
		}
	}
	return out
}
