package redisstore

import "sync"

// contactIDs keeps the conversation id of contacts seen by this process (contact key → id), so a
// message from a known contact is stored without first reading which conversation it belongs to.
// It is exact, not a guess: a contact key is written once and never changed. Bounded: past
// maxContactIDs entries an arbitrary one goes (map order is random); a forgotten contact costs one
// read again.
type contactIDs struct {
	mu sync.Mutex
	m  map[string]string
}

const maxContactIDs = 1 << 16 // about 10 MiB at most (a 73-byte key and a 26-byte id each)

func (c *contactIDs) get(key string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.m[key]
	return id, ok
}

func (c *contactIDs) put(key, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]string)
	}
	if _, ok := c.m[key]; !ok && len(c.m) >= maxContactIDs {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[key] = id
}

// forget drops every contact kept for the conversation id (one that Redis no longer has). Rare, so a
// walk of the map.
func (c *contactIDs) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range c.m {
		if v == id {
			delete(c.m, k)
		}
	}
}
