package dialog

import (
	"encoding/json"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"

	"claimline/casesvc"
)

// The state is stored as the JSON encoding/json writes for type state. Writing and reading it by
// reflection was a fifth of a turn's CPU, so encodeState and decodeState do it by hand for the JSON
// encoding/json itself writes: field order, omitempty, sorted map keys, no spaces. A string it
// escapes (a newline, a quote, an HTML character) is written and read by encoding/json alone; anything
// else (invalid UTF-8, a state from an older build or edited by hand) sends the whole state through
// encoding/json, so the bytes written and the state read are always exactly encoding/json's
// (FuzzStateCodec, FuzzDecodeState and TestStateCodecOnConversations check).

// encodeState is json.Marshal(st); plain says it was written by hand (every string as it is), so
// reading it back gives st exactly, once canonical.
func encodeState(st *state) (b []byte, plain bool, err error) {
	bp := stateBufs.Get().(*[]byte)
	w := stateWriter{buf: (*bp)[:0], ok: true}
	w.state(st)
	if cap(w.buf) <= 64<<10 { // an unusually large state does not keep its buffer
		*bp = w.buf
		defer stateBufs.Put(bp)
	}
	if w.ok {
		// A copy of its own size: the caller keeps the state of every open conversation.
		return append([]byte(nil), w.buf...), true, nil
	}
	b, err = json.Marshal(st)
	return b, false, err
}

var stateBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// decodeState is json.Unmarshal(b, st) for a zero st.
func decodeState(b []byte, st *state) error {
	r := stateReader{b: b}
	if r.state(st) && r.i == len(b) {
		return nil
	}
	*st = state{}
	return json.Unmarshal(b, st)
}

type stateWriter struct {
	buf []byte
	ok  bool // false once something needs encoding/json
}

func (w *stateWriter) lit(s string) { w.buf = append(w.buf, s...) }

func (w *stateWriter) int(v int64) { w.buf = strconv.AppendInt(w.buf, v, 10) }

// str writes s as encoding/json does. A string it escapes (a story of several lines has newlines)
// is written by encoding/json itself; one it would change (invalid UTF-8) sends the whole state
// there, since reading it back would not give s.
func (w *stateWriter) str(s string) {
	if plainJSON(s) {
		w.buf = append(w.buf, '"')
		w.buf = append(w.buf, s...)
		w.buf = append(w.buf, '"')
		return
	}
	if !utf8.ValidString(s) {
		w.ok = false
		return
	}
	b, _ := json.Marshal(s) // a string always marshals
	w.buf = append(w.buf, b...)
}

// kv writes key and s.
func (w *stateWriter) kv(key, s string) {
	w.lit(key)
	w.str(s)
}

func (w *stateWriter) intValue(v int) { w.int(int64(v)) }

// field writes key and s unless s is empty (omitempty).
func (w *stateWriter) field(key, s string) {
	if s != "" {
		w.kv(key, s)
	}
}

// plainJSON says encoding/json writes s as it is between quotes: valid UTF-8 with no control
// character, no quote or backslash, none of the HTML characters it escapes and no U+2028/U+2029.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&':
			return false
		case c == 0xE2 && i+2 < len(s) && s[i+1] == 0x80 && (s[i+2] == 0xA8 || s[i+2] == 0xA9): // U+2028, U+2029
			return false
		}
	}
	return utf8.ValidString(s)
}

func (w *stateWriter) state(st *state) {
	w.lit(`{"v":`)
	w.int(int64(st.V))
	w.kv(`,"lang":`, st.Lang)
	if st.LangFixed {
		w.lit(`,"lang_fixed":true`)
	}
	if !st.Last.IsZero() {
		b, err := st.Last.MarshalJSON()
		if err != nil {
			w.ok = false
			return
		}
		w.lit(`,"last":`)
		w.buf = append(w.buf, b...)
	}
	writeList(w, `,"stack":`, st.Stack, func(f *frame) {
		if f == nil {
			w.ok = false
			return
		}
		w.kv(`{"flow":`, f.Flow)
		w.field(`,"step":`, f.Step)
		w.field(`,"asked":`, f.Asked)
		writeMap(w, `,"slots":`, f.Slots, w.str)
		writeMap(w, `,"tries":`, f.Tries, w.intValue)
		w.lit("}")
	})
	w.field(`,"verified":`, st.Verified)
	if p := st.Who; p != nil {
		w.kv(`,"who":{"name":`, p.Name)
		w.field(`,"national_id":`, p.NationalID)
		w.field(`,"birth_date":`, p.BirthDate)
		w.field(`,"phone":`, p.Phone)
		w.field(`,"email":`, p.Email)
		w.lit("}")
	}
	writeMap(w, `,"id_fails":`, st.IDFails, w.intValue)
	writeList(w, `,"locked":`, st.Locked, w.str)
	if st.Misses != 0 {
		w.lit(`,"misses":`)
		w.int(int64(st.Misses))
	}
	writeList(w, `,"files":`, st.Files, func(f pendingFile) {
		w.kv(`{"id":`, f.ID)
		w.kv(`,"filename":`, f.Filename)
		w.kv(`,"content_type":`, f.ContentType)
		w.lit(`,"size":`)
		w.int(f.Size)
		w.kv(`,"sha256":`, f.SHA256)
		w.kv(`,"blob_ref":`, f.BlobRef)
		w.field(`,"hint":`, f.Hint)
		w.field(`,"kind":`, f.Kind)
		w.lit("}")
	})
	w.field(`,"last_case":`, st.LastCase)
	writeList(w, `,"resend":`, st.Resend, func(r resend) {
		w.kv(`{"case":`, r.Case)
		w.kv(`,"kind":`, r.Kind)
		w.field(`,"reason":`, r.Reason)
		w.lit("}")
	})
	w.field(`,"emergency":`, st.Emergency)
	w.field(`,"notice_case":`, st.NoticeCase)
	w.lit("}")
}

// writeList writes key[item,item,...], or nothing for an empty list (omitempty).
func writeList[T any](w *stateWriter, key string, items []T, item func(T)) {
	writeSeq(w, key+"[", "]", items, item)
}

// writeMap writes key{"k":v,...} with the keys in encoding/json's order (sorted), or nothing for an
// empty map (omitempty).
func writeMap[V any](w *stateWriter, key string, m map[string]V, val func(V)) {
	var kb [16]string
	keys := kb[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	writeSeq(w, key+"{", "}", keys, func(k string) {
		w.str(k)
		w.lit(":")
		val(m[k])
	})
}

func writeSeq[T any](w *stateWriter, open, close string, items []T, item func(T)) {
	if len(items) == 0 {
		return
	}
	w.lit(open)
	for i, x := range items {
		if i > 0 {
			w.lit(",")
		}
		item(x)
	}
	w.lit(close)
}

// stateReader reads what stateWriter writes, and nothing else: every method returns false at the
// first byte that is not exactly that, and decodeState gives the whole state to encoding/json. An
// escaped string is the one part it leaves to encoding/json.
type stateReader struct {
	b []byte
	i int
}

func (r *stateReader) lit(s string) bool {
	if len(r.b)-r.i >= len(s) && string(r.b[r.i:r.i+len(s)]) == s {
		r.i += len(s)
		return true
	}
	return false
}

// strBytes reads a string with no escapes and returns it with its quotes.
func (r *stateReader) strBytes() ([]byte, bool) {
	if b, plain, ok := r.peekString(); ok && plain {
		r.i += len(b)
		return b, true
	}
	return nil, false
}

// str reads a string; one with escapes (or invalid UTF-8) is read by encoding/json, so the string is
// exactly what it would make of it.
func (r *stateReader) str(s *string) bool {
	b, plain, ok := r.peekString()
	switch {
	case !ok:
		return false
	case plain:
		*s = string(b[1 : len(b)-1])
	case json.Unmarshal(b, s) != nil:
		return false
	}
	r.i += len(b)
	return true
}

// peekString finds the string that starts at r.i and returns it with its quotes, and whether it is
// plain: no escape, valid UTF-8. A raw control character is not JSON.
func (r *stateReader) peekString() (b []byte, plain, ok bool) {
	if r.i >= len(r.b) || r.b[r.i] != '"' {
		return nil, false, false
	}
	plain = true
	for j := r.i + 1; j < len(r.b); j++ {
		switch c := r.b[j]; {
		case c == '"':
			b = r.b[r.i : j+1]
			return b, plain && utf8.Valid(b), true
		case c == '\\':
			plain = false
			j++
		case c < 0x20:
			return nil, false, false
		}
	}
	return nil, false, false
}

// opt reads ,"key":"value" when it comes next; false only for a malformed value.
func (r *stateReader) opt(key string, s *string) bool {
	return !r.lit(key) || r.str(s)
}

// int64 reads an integer as encoding/json writes one (no sign but minus, no leading zero) of at
// most 18 digits, so it cannot overflow.
func (r *stateReader) int64() (int64, bool) {
	j, neg := r.i, false
	if j < len(r.b) && r.b[j] == '-' {
		j, neg = j+1, true
	}
	d := j
	var v int64
	for j < len(r.b) && '0' <= r.b[j] && r.b[j] <= '9' {
		v = v*10 + int64(r.b[j]-'0')
		j++
	}
	if j == d || j-d > 18 || r.b[d] == '0' && j > d+1 {
		return 0, false
	}
	if neg {
		v = -v
	}
	r.i = j
	return v, true
}

func (r *stateReader) int(v *int) bool {
	n, ok := r.int64()
	*v = int(n)
	return ok && int64(*v) == n
}

// list reads [item,item,...] with at least one item.
func (r *stateReader) list(item func() bool) bool {
	if !r.lit("[") {
		return false
	}
	for {
		if !item() {
			return false
		}
		if r.lit("]") {
			return true
		}
		if !r.lit(",") {
			return false
		}
	}
}

// readMap reads a non-empty object whose keys are in strictly ascending order (so none repeats).
// The pairs are read first so the map is made at its size.
func readMap[V any](r *stateReader, val func(*V) bool) (map[string]V, bool) {
	if !r.lit("{") {
		return nil, false
	}
	type pair struct {
		k string
		v V
	}
	var pb [24]pair
	pairs := pb[:0]
	for {
		var p pair
		if !r.str(&p.k) || len(pairs) > 0 && p.k <= pairs[len(pairs)-1].k || !r.lit(":") || !val(&p.v) {
			return nil, false
		}
		pairs = append(pairs, p)
		if r.lit("}") {
			break
		}
		if !r.lit(",") {
			return nil, false
		}
	}
	m := make(map[string]V, len(pairs))
	for _, p := range pairs {
		m[p.k] = p.v
	}
	return m, true
}

func (r *stateReader) state(st *state) bool {
	if !r.lit(`{"v":`) || !r.int(&st.V) || !r.lit(`,"lang":`) || !r.str(&st.Lang) {
		return false
	}
	if r.lit(`,"lang_fixed":`) {
		switch {
		case r.lit("true"):
			st.LangFixed = true
		case !r.lit("false"):
			return false
		}
	}
	if r.lit(`,"last":`) {
		b, ok := r.strBytes()
		if !ok || st.Last.UnmarshalJSON(b) != nil {
			return false
		}
	}
	if r.lit(`,"stack":`) && !r.list(func() bool {
		f := &frame{}
		st.Stack = append(st.Stack, f)
		return r.frame(f)
	}) {
		return false
	}
	if !r.opt(`,"verified":`, &st.Verified) {
		return false
	}
	if r.lit(`,"who":`) {
		p := &casesvc.Person{}
		st.Who = p
		if !r.lit(`{"name":`) || !r.str(&p.Name) || !r.opt(`,"national_id":`, &p.NationalID) ||
			!r.opt(`,"birth_date":`, &p.BirthDate) || !r.opt(`,"phone":`, &p.Phone) || !r.opt(`,"email":`, &p.Email) ||
			!r.lit("}") {
			return false
		}
	}
	if r.lit(`,"id_fails":`) {
		var ok bool
		if st.IDFails, ok = readMap(r, r.int); !ok {
			return false
		}
	}
	if r.lit(`,"locked":`) && !r.list(func() bool {
		var s string
		ok := r.str(&s)
		st.Locked = append(st.Locked, s)
		return ok
	}) {
		return false
	}
	if r.lit(`,"misses":`) && !r.int(&st.Misses) {
		return false
	}
	if r.lit(`,"files":`) && !r.list(func() bool {
		var f pendingFile
		ok := r.lit(`{"id":`) && r.str(&f.ID) && r.lit(`,"filename":`) && r.str(&f.Filename) &&
			r.lit(`,"content_type":`) && r.str(&f.ContentType) && r.lit(`,"size":`)
		if ok {
			f.Size, ok = r.int64()
		}
		ok = ok && r.lit(`,"sha256":`) && r.str(&f.SHA256) && r.lit(`,"blob_ref":`) && r.str(&f.BlobRef) &&
			r.opt(`,"hint":`, &f.Hint) && r.opt(`,"kind":`, &f.Kind) && r.lit("}")
		st.Files = append(st.Files, f)
		return ok
	}) {
		return false
	}
	if !r.opt(`,"last_case":`, &st.LastCase) {
		return false
	}
	if r.lit(`,"resend":`) && !r.list(func() bool {
		var x resend
		ok := r.lit(`{"case":`) && r.str(&x.Case) && r.lit(`,"kind":`) && r.str(&x.Kind) &&
			r.opt(`,"reason":`, &x.Reason) && r.lit("}")
		st.Resend = append(st.Resend, x)
		return ok
	}) {
		return false
	}
	return r.opt(`,"emergency":`, &st.Emergency) && r.opt(`,"notice_case":`, &st.NoticeCase) && r.lit("}")
}

func (r *stateReader) frame(f *frame) bool {
	if !r.lit(`{"flow":`) || !r.str(&f.Flow) || !r.opt(`,"step":`, &f.Step) || !r.opt(`,"asked":`, &f.Asked) {
		return false
	}
	if r.lit(`,"slots":`) {
		var ok bool
		if f.Slots, ok = readMap(r, r.str); !ok {
			return false
		}
	}
	if r.lit(`,"tries":`) {
		var ok bool
		if f.Tries, ok = readMap(r, r.int); !ok {
			return false
		}
	}
	return r.lit("}")
}
