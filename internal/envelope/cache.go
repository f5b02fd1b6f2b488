package envelope

import (
	"sync"
	"time"
)

// DEKCache holds unwrapped DEKs for a bounded time, so that a KMS-held KEK
// is not called on every seal. It holds DEKs only, never private keys.
//
// Entries are keyed by (org, DEK version) and expire ttl after Put; an
// expired, replaced or forgotten entry is zeroed at once, and Close zeroes
// everything. The cache owns its own copies: Put copies the DEK it is
// given and Get returns a fresh copy, so the caller zeroes what it holds
// (as always) without affecting the cache. It is safe for concurrent use.
type DEKCache struct {
	ttl     time.Duration
	mu      sync.Mutex
	entries map[cacheKey]*cacheEntry
	closed  bool
}

type cacheKey struct {
	org     string
	version uint32
}

type cacheEntry struct {
	dek     *DEK
	expires time.Time
	timer   *time.Timer
}

// NewDEKCache returns a cache whose entries live for ttl. With ttl <= 0 it
// caches nothing.
func NewDEKCache(ttl time.Duration) *DEKCache {
	return &DEKCache{ttl: ttl, entries: map[cacheKey]*cacheEntry{}}
}

// Put caches a copy of d, replacing any entry for the same org and
// version. The caller keeps ownership of d. A zeroed DEK is not cached.
func (c *DEKCache) Put(d *DEK) {
	if c.ttl <= 0 || d.usable() != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	k := cacheKey{d.org, d.version}
	c.removeLocked(k)
	e := &cacheEntry{dek: d.clone(), expires: time.Now().Add(c.ttl)}
	e.timer = time.AfterFunc(c.ttl, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.entries[k] == e {
			c.removeLocked(k)
		}
	})
	c.entries[k] = e
}

// Get returns a copy of the cached DEK version of org, which the caller
// owns and zeroes, or false if there is none or it has expired.
func (c *DEKCache) Get(org string, version uint32) (*DEK, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := cacheKey{org, version}
	e, ok := c.entries[k]
	if !ok {
		return nil, false
	}
	if !time.Now().Before(e.expires) {
		c.removeLocked(k)
		return nil, false
	}
	return e.dek.clone(), true
}

// Forget removes and zeroes the entry for DEK version of org, if any: call
// it when that DEK is destroyed.
func (c *DEKCache) Forget(org string, version uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeLocked(cacheKey{org, version})
}

// Len returns the number of entries, expired or not.
func (c *DEKCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// Close zeroes and removes every entry; the cache stays empty afterwards.
func (c *DEKCache) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.entries {
		c.removeLocked(k)
	}
	c.closed = true
}

func (c *DEKCache) removeLocked(k cacheKey) {
	if e, ok := c.entries[k]; ok {
		e.timer.Stop()
		e.dek.Zero()
		delete(c.entries, k)
	}
}
