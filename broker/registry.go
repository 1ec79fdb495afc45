package broker

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cocoon-network/cocoon/wire"
)

// WorkerInfo is a registered worker as the broker keeps it (in memory and
// in the registry hash, so any broker can authenticate it).
type WorkerInfo struct {
	ID            string             `json:"id"`
	Name          string             `json:"name,omitempty"`
	Evidence      string             `json:"evidence"` // evidence type
	Attested      bool               `json:"attested"`
	SigningKey    []byte             `json:"signing_key"`
	HPKEKey       []byte             `json:"hpke_key"`
	Quote         []byte             `json:"quote,omitempty"`
	Nonce         []byte             `json:"nonce"` // the join nonce the quote binds
	AttestedMs    int64              `json:"attested_ms"`
	PolicyID      string             `json:"policy_id"`
	Models        []wire.ModelDigest `json:"models"`
	Loaded        []string           `json:"loaded,omitempty"`
	MaxJobs       int                `json:"max_jobs"`
	Running       int                `json:"running"`
	Draining      bool               `json:"draining,omitempty"`
	PayoutAddress string             `json:"payout_address,omitempty"`
	PriceCoef     int                `json:"price_coef"`
	TokenHash     string             `json:"token_hash"`
	JoinedMs      int64              `json:"joined_ms"`
	SeenMs        int64              `json:"seen_ms"`
}

func (w *WorkerInfo) serves(model string) bool {
	return slices.ContainsFunc(w.Models, func(m wire.ModelDigest) bool { return m.Name == model })
}

// registry holds the worker pool. Heartbeats update memory and Redis; other
// brokers' workers are loaded from Redis on demand and on refresh.
type registry struct {
	rdb    redis.UniversalClient
	clock  Clock
	expiry time.Duration

	mu      sync.RWMutex
	workers map[string]*WorkerInfo
}

// payToKey maps worker ids to payout addresses; it outlives registrations,
// as earnings do.
const payToKey = "cocoon:{reg}:payto"

// PayoutAddress returns where a worker's earnings go ("" if it gave none).
func (b *Broker) PayoutAddress(ctx context.Context, worker string) (string, error) {
	v, err := b.cfg.Redis.HGet(ctx, payToKey, worker).Result()
	if err == redis.Nil {
		return "", nil
	}
	return v, err
}

func newRegistry(rdb redis.UniversalClient, clock Clock, expiry time.Duration) *registry {
	return &registry{rdb: rdb, clock: clock, expiry: expiry, workers: map[string]*WorkerInfo{}}
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func hashToken(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// add registers w (a new id unless w.ID is set: a worker attesting again)
// and returns its new session token "<id>.<secret>".
func (r *registry) add(ctx context.Context, w *WorkerInfo) (string, error) {
	if w.ID == "" {
		w.ID = "w" + randHex(8)
	}
	secret := randHex(24)
	w.TokenHash = hashToken(secret)
	now := r.clock.Now().UnixMilli()
	w.JoinedMs, w.SeenMs, w.AttestedMs = now, now, now
	if err := r.save(ctx, w); err != nil {
		return "", err
	}
	if w.PayoutAddress != "" {
		if err := r.rdb.HSet(ctx, payToKey, w.ID, w.PayoutAddress).Err(); err != nil {
			return "", err
		}
	}
	r.mu.Lock()
	r.workers[w.ID] = w
	r.mu.Unlock()
	return w.ID + "." + secret, nil
}

func (r *registry) save(ctx context.Context, w *WorkerInfo) error {
	b, _ := json.Marshal(w)
	return r.rdb.HSet(ctx, workersKey, w.ID, b).Err()
}

// auth resolves a session token to its worker.
func (r *registry) auth(ctx context.Context, token string) (*WorkerInfo, bool) {
	id, secret, ok := strings.Cut(token, ".")
	if !ok || id == "" || secret == "" {
		return nil, false
	}
	r.mu.RLock()
	w := r.workers[id]
	r.mu.RUnlock()
	if w == nil {
		b, err := r.rdb.HGet(ctx, workersKey, id).Bytes()
		if err != nil {
			return nil, false
		}
		w = &WorkerInfo{}
		if json.Unmarshal(b, w) != nil {
			return nil, false
		}
		r.mu.Lock()
		r.workers[id] = w
		r.mu.Unlock()
	}
	r.mu.RLock()
	cp := *w
	r.mu.RUnlock()
	if subtle.ConstantTimeCompare([]byte(hashToken(secret)), []byte(cp.TokenHash)) != 1 {
		return nil, false
	}
	return &cp, true
}

// touch records a heartbeat.
func (r *registry) touch(ctx context.Context, id string, running int, loaded []string, draining bool) error {
	r.mu.Lock()
	w := r.workers[id]
	if w == nil {
		r.mu.Unlock()
		return ErrNotFound
	}
	w.SeenMs = r.clock.Now().UnixMilli()
	w.Running, w.Draining = running, w.Draining || draining
	if loaded != nil {
		w.Loaded = loaded
	}
	cp := *w
	r.mu.Unlock()
	return r.save(ctx, &cp)
}

func (r *registry) remove(ctx context.Context, id string) error {
	r.mu.Lock()
	delete(r.workers, id)
	r.mu.Unlock()
	return r.rdb.HDel(ctx, workersKey, id).Err()
}

// refresh reloads the pool from Redis and drops workers not seen within the
// expiry (from memory and Redis).
func (r *registry) refresh(ctx context.Context) error {
	all, err := r.rdb.HGetAll(ctx, workersKey).Result()
	if err != nil {
		return err
	}
	cutoff := r.clock.Now().Add(-r.expiry).UnixMilli()
	fresh := make(map[string]*WorkerInfo, len(all))
	var stale []string
	for id, b := range all {
		w := &WorkerInfo{}
		if json.Unmarshal([]byte(b), w) != nil || w.SeenMs < cutoff {
			stale = append(stale, id)
			continue
		}
		fresh[id] = w
	}
	r.mu.Lock()
	for id, w := range r.workers { // keep newer in-memory heartbeats
		if f, ok := fresh[id]; ok && w.SeenMs > f.SeenMs {
			fresh[id] = w
		}
	}
	r.workers = fresh
	r.mu.Unlock()
	if len(stale) > 0 {
		return r.rdb.HDel(ctx, workersKey, stale...).Err()
	}
	return nil
}

// live returns a snapshot of workers seen within the expiry.
func (r *registry) live() []*WorkerInfo {
	cutoff := r.clock.Now().Add(-r.expiry).UnixMilli()
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*WorkerInfo, 0, len(r.workers))
	for _, w := range r.workers {
		if w.SeenMs >= cutoff {
			cp := *w
			out = append(out, &cp)
		}
	}
	slices.SortFunc(out, func(a, b *WorkerInfo) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// models lists what live, non-draining workers serve.
func (r *registry) models() []wire.ModelInfo {
	byName := map[string]*wire.ModelInfo{}
	for _, w := range r.live() {
		if w.Draining {
			continue
		}
		for _, m := range w.Models {
			mi := byName[m.Name]
			if mi == nil {
				mi = &wire.ModelInfo{Name: m.Name, Digest: m.Digest}
				byName[m.Name] = mi
			}
			mi.Workers++
		}
	}
	out := make([]wire.ModelInfo, 0, len(byName))
	for _, m := range byName {
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b wire.ModelInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}
