package sqlitestore

import (
	"os"
	"path/filepath"
	"sync"
	"time"

	"claimline/channels"
)

// convCache keeps conversation rows in memory, so the router's per-message lookups (by (channel,
// contact) on receive, by id before each turn) do not read the database.
//
// Why it stays correct:
//   - Every write to the conversations table goes through a writer op that records what it changed
//     (the new last_seq from RETURNING, the state, the started mark, the update time), and the writer
//     applies those changes after its COMMIT, holding commitMu across the COMMIT and the puts. Stores of the same file in one process share one convCache (by path),
//     and SQLite serialises their transactions, so puts happen in commit order: the newest row wins.
//   - A read that misses fills the cache only if no put or drop happened while it read (puts), so an
//     older row read from the database never replaces a newer one.
//   - Another process writing the file is not seen by the puts: the writer compares PRAGMA
//     data_version at the start of each transaction and empties the cache when someone else
//     committed. The embedded deployment has one process per file; a second writing process would be
//     read late (until this store's next write), so it is not supported while one serves.
//
// Returned rows are copies.
type convCache struct {
	commitMu sync.Mutex // writer: COMMIT and its puts

	mu    sync.Mutex
	byID  map[string]*channels.Conversation
	byKey map[convKey]string
	puts  uint64 // puts and drops so far; a read fill needs it unchanged
	refs  int    // Stores sharing it (registry)
	path  string
	file  os.FileInfo // the file it caches: a new file at the same path gets a new cache
}

type convKey struct{ channel, contact string }

// cacheMax bounds the cached conversations; beyond it an arbitrary one is dropped.
const cacheMax = 20000

var (
	cachesMu sync.Mutex
	caches   = map[string][]*convCache{}
)

// sharedCache returns the cache of the database file at path (which exists), shared by the Stores of
// this process that have the same file open.
func sharedCache(path string) *convCache {
	key := path
	if abs, err := filepath.Abs(path); err == nil {
		key = abs
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			key = real
		}
	}
	fi, _ := os.Stat(key)
	cachesMu.Lock()
	defer cachesMu.Unlock()
	for _, c := range caches[key] {
		if fi != nil && c.file != nil && os.SameFile(fi, c.file) {
			c.refs++
			return c
		}
	}
	c := &convCache{byID: map[string]*channels.Conversation{}, byKey: map[convKey]string{}, path: key, file: fi, refs: 1}
	caches[key] = append(caches[key], c)
	return c
}

// release drops a Store's reference; the last one frees the cache.
func (c *convCache) release() {
	cachesMu.Lock()
	defer cachesMu.Unlock()
	c.refs--
	if c.refs > 0 {
		return
	}
	list := caches[c.path]
	for i, o := range list {
		if o == c {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(caches, c.path)
	} else {
		caches[c.path] = list
	}
}

func copyConv(c *channels.Conversation) *channels.Conversation {
	cp := *c
	if c.State != nil {
		cp.State = append([]byte(nil), c.State...)
	}
	return &cp
}

// get returns a copy of the cached conversation id.
func (c *convCache) get(id string) (*channels.Conversation, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	conv, ok := c.byID[id]
	if !ok {
		return nil, false
	}
	return copyConv(conv), true
}

func (c *convCache) find(channel, contact string) (*channels.Conversation, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.byKey[convKey{channel, contact}]
	if !ok {
		return nil, false
	}
	conv, ok := c.byID[id]
	if !ok {
		return nil, false
	}
	return copyConv(conv), true
}

// bump marks a commit about to happen (see fill).
func (c *convCache) bump() {
	c.mu.Lock()
	c.puts++
	c.mu.Unlock()
}

// version is read before a database read whose row may fill the cache.
func (c *convCache) version() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.puts
}

// fill caches a row read from the database, unless the cache changed since version v.
func (c *convCache) fill(conv *channels.Conversation, v uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.puts != v {
		return
	}
	if _, ok := c.byID[conv.ID]; ok {
		return
	}
	c.store(copyConv(conv))
}

// convWrite is one committed change to a conversation row: a new row (full), or the columns an
// append or a turn changed (applied to a cached row; nothing to do when it is not cached).
type convWrite struct {
	full     *channels.Conversation // a new conversation; nobody else holds it
	id       string
	lastSeq  int64
	setState bool
	state    []byte // owned by the cache once put
	started  bool
	updated  time.Time
}

// put applies the changes a writer committed (called with commitMu held, in commit order).
func (c *convCache) put(rows []convWrite) {
	if len(rows) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.puts++
	for _, w := range rows {
		if w.full != nil {
			c.store(w.full)
			continue
		}
		e, ok := c.byID[w.id]
		if !ok {
			continue
		}
		e.LastSeq = w.lastSeq
		if w.setState {
			e.State = w.state
		}
		if w.started {
			e.Started = true
		}
		e.Updated = w.updated
	}
}

func (c *convCache) store(conv *channels.Conversation) {
	if _, ok := c.byID[conv.ID]; !ok && len(c.byID) >= cacheMax {
		for id, old := range c.byID {
			delete(c.byID, id)
			delete(c.byKey, convKey{old.Channel, old.Contact})
			break
		}
	}
	c.byID[conv.ID] = conv
	c.byKey[convKey{conv.Channel, conv.Contact}] = conv.ID
}

// drop empties the cache (another process wrote the file, or a commit failed).
func (c *convCache) drop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.puts++
	clear(c.byID)
	clear(c.byKey)
}
