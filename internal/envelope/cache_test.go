package envelope

import (
	"testing"
	"testing/synctest"
	"time"
)

// cached returns the Secret the cache holds for (org, version), to watch
// it being zeroed.
func cachedLen(c *DEKCache, org string, version uint32) func() int {
	k := c.entries[cacheKey{org, version}].dek.key
	return k.Len
}

func TestDEKCache(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := NewDEKCache(time.Minute)
		defer c.Close()
		d := fixedDEK("acme", 1, "cache")
		c.Put(d)
		held := cachedLen(c, "acme", 1)

		got, ok := c.Get("acme", 1)
		if !ok || got == d || !got.key.Equal(d.key) || got.Org() != "acme" || got.Version() != 1 {
			t.Fatalf("Get = %v, %v; want a copy of the DEK", got, ok)
		}
		got.Zero()
		d.Zero()
		again, ok := c.Get("acme", 1)
		if !ok || again.key.Len() != keySize || held() != keySize {
			t.Fatalf("zeroing the caller's copies corrupted the cache")
		}
		if _, ok := c.Get("acme", 2); ok {
			t.Errorf("Get of another version hit")
		}
		if _, ok := c.Get("other", 1); ok {
			t.Errorf("Get of another org hit")
		}

		time.Sleep(time.Minute - time.Nanosecond)
		if _, ok := c.Get("acme", 1); !ok {
			t.Errorf("entry expired before its TTL")
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if c.Len() != 0 || held() != 0 {
			t.Errorf("entry not evicted and zeroed after its TTL (len %d, key len %d)", c.Len(), held())
		}
		if _, ok := c.Get("acme", 1); ok {
			t.Errorf("expired entry returned")
		}
	})
}

func TestDEKCacheReplaceForgetClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := NewDEKCache(time.Hour)
		c.Put(fixedDEK("acme", 1, "first"))
		first := cachedLen(c, "acme", 1)
		c.Put(fixedDEK("acme", 1, "second"))
		if first() != 0 || c.Len() != 1 {
			t.Errorf("a replaced entry was not zeroed")
		}
		got, _ := c.Get("acme", 1)
		if !got.key.Equal(fixedDEK("acme", 1, "second").key) {
			t.Errorf("Get after replace returned the old key")
		}
		second := cachedLen(c, "acme", 1)
		c.Forget("acme", 1)
		if second() != 0 || c.Len() != 0 {
			t.Errorf("Forget did not zero and remove the entry")
		}

		c.Put(fixedDEK("acme", 2, "a"))
		c.Put(fixedDEK("beta", 1, "b"))
		a, b := cachedLen(c, "acme", 2), cachedLen(c, "beta", 1)
		c.Close()
		if a() != 0 || b() != 0 || c.Len() != 0 {
			t.Errorf("Close did not zero every entry")
		}
		c.Put(fixedDEK("acme", 3, "after close"))
		if c.Len() != 0 {
			t.Errorf("Put after Close cached a DEK")
		}

		off := NewDEKCache(0)
		off.Put(fixedDEK("acme", 1, "off"))
		zeroed := fixedDEK("acme", 2, "zeroed")
		zeroed.Zero()
		c2 := NewDEKCache(time.Hour)
		c2.Put(zeroed)
		if off.Len() != 0 || c2.Len() != 0 {
			t.Errorf("a disabled cache or a zeroed DEK was cached")
		}
		c2.Close()
	})
}
