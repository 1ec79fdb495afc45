package attest

import (
	"sync"
	"time"

	"github.com/google/go-tdx-guest/verify/trust"
)

// DefaultCollateralTTL is how long NewCachingGetter keeps a response when
// given ttl <= 0.
const DefaultCollateralTTL = time.Hour

// CachingGetter remembers collateral responses, so that verifications do not
// each fetch TCB info, QE identity and CRLs.
//
// The first Get of a URL fetches it; concurrent callers wait for that one
// fetch and share its result (an error is returned to them and not cached).
// After the TTL the cached response is still returned at once while a single
// background fetch refreshes it; a failed refresh keeps the old response and
// is retried on a later Get. Serving a stale response cannot extend trust:
// the library rejects collateral past its own nextUpdate. Responses are
// shared between callers and must not be modified.
type CachingGetter struct {
	inner Getter
	ttl   time.Duration
	now   func() time.Time

	mu      sync.Mutex
	entries map[string]*cacheEntry
}

type cacheEntry struct {
	ready      chan struct{} // closed once the first fetch has ended
	header     map[string][]string
	body       []byte
	err        error // first fetch failed (the entry is then dropped)
	fetched    time.Time
	refreshing bool
}

// NewCachingGetter wraps inner (nil: the TDX library's default getter, which
// fetches from Intel's collateral service and retries for up to 2 minutes).
func NewCachingGetter(inner Getter, ttl time.Duration) *CachingGetter {
	if inner == nil {
		inner = trust.DefaultHTTPSGetter()
	}
	if ttl <= 0 {
		ttl = DefaultCollateralTTL
	}
	return &CachingGetter{inner: inner, ttl: ttl, now: time.Now, entries: map[string]*cacheEntry{}}
}

// Get returns the response for url from the cache, fetching it the first time.
func (g *CachingGetter) Get(url string) (map[string][]string, []byte, error) {
	g.mu.Lock()
	e, found := g.entries[url]
	if !found {
		e = &cacheEntry{ready: make(chan struct{})}
		g.entries[url] = e
		g.mu.Unlock()
		g.fill(url, e)
		return e.header, e.body, e.err
	}
	select {
	case <-e.ready:
	default:
		g.mu.Unlock()
		<-e.ready
		return e.header, e.body, e.err
	}
	header, body := e.header, e.body
	if !e.refreshing && g.now().Sub(e.fetched) >= g.ttl {
		e.refreshing = true
		go g.refresh(url, e)
	}
	g.mu.Unlock()
	return header, body, nil
}

// fill runs the first fetch of e; its fields are final once ready is closed.
func (g *CachingGetter) fill(url string, e *cacheEntry) {
	header, body, err := g.inner.Get(url)
	g.mu.Lock()
	defer g.mu.Unlock()
	e.header, e.body, e.err, e.fetched = header, body, err, g.now()
	if err != nil {
		delete(g.entries, url)
	}
	close(e.ready)
}

func (g *CachingGetter) refresh(url string, e *cacheEntry) {
	header, body, err := g.inner.Get(url)
	g.mu.Lock()
	defer g.mu.Unlock()
	e.refreshing = false
	if err != nil {
		return
	}
	// A new entry, so that callers still holding the old one see no change.
	g.entries[url] = &cacheEntry{ready: e.ready, header: header, body: body, fetched: g.now()}
}
