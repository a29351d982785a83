package dialog

import (
	"bytes"
	"slices"
	"sync"
)

// stateCache keeps the decoded state of a conversation's last turn with the bytes that turn
// returned, so the next turn, given those bytes back, need not read them again. It is only a
// shortcut: a turn given any other bytes reads them, so Turn stays a function of its arguments, and
// what it keeps is exactly what reading the bytes gives (canonical; TestStateCacheIsInvisible).
// A turn takes its conversation's entry out while it runs, so two turns never share a state and a
// turn that fails or panics leaves nothing behind. The cache is small and bounded (an idle
// connection must stay cheap): past stateCacheSize entries an arbitrary one goes.
type stateCache struct {
	mu sync.Mutex
	m  map[string]cachedState
}

type cachedState struct {
	b  []byte
	st *state
}

const stateCacheSize = 256

// take returns the state the conversation's last turn left when b is what that turn returned, and
// removes it; nil otherwise.
func (c *stateCache) take(conv string, b []byte) *state {
	if conv == "" || len(b) == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[conv]
	if !ok {
		return nil
	}
	delete(c.m, conv)
	if !bytes.Equal(e.b, b) {
		return nil
	}
	return e.st
}

// put keeps st, which encodes as b, for the conversation's next turn. st must be canonical.
func (c *stateCache) put(conv string, b []byte, st *state) {
	if conv == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]cachedState, stateCacheSize)
	}
	if _, ok := c.m[conv]; !ok && len(c.m) >= stateCacheSize {
		for k := range c.m { // an arbitrary entry: map order is random
			delete(c.m, k)
			break
		}
	}
	c.m[conv] = cachedState{b, st}
}

// canonical makes st what reading its encoding gives: no empty map or list (omitempty leaves them
// out, and they read back as nil), lists without spare capacity, and the time as read back (its
// zone). It reports false when st cannot be made so cheaply (it has something encodeState leaves to
// encoding/json, which may change it: an invalid UTF-8 string, say); such a state is not kept.
func canonical(st *state) bool {
	if !st.Last.IsZero() {
		b, err := st.Last.MarshalJSON()
		if err != nil || st.Last.UnmarshalJSON(b) != nil {
			return false
		}
	}
	for _, f := range st.Stack {
		if f == nil {
			return false
		}
		if len(f.Slots) == 0 {
			f.Slots = nil
		}
		if len(f.Tries) == 0 {
			f.Tries = nil
		}
	}
	if len(st.IDFails) == 0 {
		st.IDFails = nil
	}
	st.Stack, st.Locked, st.Files, st.Resend = clip(st.Stack), clip(st.Locked), clip(st.Files), clip(st.Resend)
	return true
}

// clip is s without spare capacity, nil when empty.
func clip[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return slices.Clip(s)
}
