package webhook

import (
	"container/list"
	"sync"
	"time"
)

// replayCache remembers the signatures of verified requests for as long as their timestamp could
// still pass the freshness check, so that a replay inside the window is noticed. It holds at most
// size entries, dropping the oldest first: a flood of valid signed requests (which needs the
// secret) can push an old one out, never make the cache grow.
type replayCache struct {
	size int
	mu   sync.Mutex
	ll   *list.List // front = newest
	m    map[string]*list.Element
}

type seenEntry struct {
	key     string
	expires time.Time
}

func newReplayCache(size int) *replayCache {
	return &replayCache{size: max(size, 1), ll: list.New(), m: map[string]*list.Element{}}
}

// seen records key until expires and reports whether it was already recorded and not expired.
func (c *replayCache) seen(key string, now, expires time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Expired entries are at the back (entries are added newest first with the same lifetime).
	for e := c.ll.Back(); e != nil; e = c.ll.Back() {
		if se := e.Value.(*seenEntry); now.After(se.expires) {
			c.ll.Remove(e)
			delete(c.m, se.key)
			continue
		}
		break
	}
	if e, ok := c.m[key]; ok && !now.After(e.Value.(*seenEntry).expires) {
		return true
	}
	c.m[key] = c.ll.PushFront(&seenEntry{key: key, expires: expires})
	for c.ll.Len() > c.size {
		e := c.ll.Back()
		c.ll.Remove(e)
		delete(c.m, e.Value.(*seenEntry).key)
	}
	return false
}

func (c *replayCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
