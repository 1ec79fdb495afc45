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
	AvgJobMs      int64              `json:"avg_job_ms,omitempty"` // the worker's moving average run time of a job
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

// workerStatus is what a heartbeat changes, kept apart from the
// registration (keys, quote, models: kilobytes that change only at a join)
// so heartbeats and refreshes move a few dozen bytes per worker.
type workerStatus struct {
	Seen     int64    `json:"s"`
	Running  int      `json:"r,omitempty"`
	AvgJobMs int64    `json:"t,omitempty"`
	Draining bool     `json:"d,omitempty"`
	Loaded   []string `json:"l,omitempty"`
	Attested int64    `json:"a"` // the registration's AttestedMs: a new one means a new registration
}

func statusOf(w *WorkerInfo) workerStatus {
	return workerStatus{Seen: w.SeenMs, Running: w.Running, AvgJobMs: w.AvgJobMs, Draining: w.Draining, Loaded: w.Loaded, Attested: w.AttestedMs}
}

func (st workerStatus) apply(w *WorkerInfo) {
	w.SeenMs, w.Running, w.AvgJobMs, w.Draining, w.Loaded = st.Seen, st.Running, st.AvgJobMs, st.Draining, st.Loaded
}

// save writes a registration and its status together.
func (r *registry) save(ctx context.Context, w *WorkerInfo) error {
	reg, _ := json.Marshal(w)
	st, _ := json.Marshal(statusOf(w))
	_, err := r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, workersKey, w.ID, reg)
		p.HSet(ctx, statusKey, w.ID, st)
		return nil
	})
	return err
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
	if w == nil { // joined through another broker: load it with its status
		var reg, st *redis.StringCmd
		if _, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			reg, st = p.HGet(ctx, workersKey, id), p.HGet(ctx, statusKey, id)
			return nil
		}); err != nil && err != redis.Nil {
			return nil, false
		}
		w = &WorkerInfo{}
		if reg.Err() != nil || json.Unmarshal([]byte(reg.Val()), w) != nil {
			return nil, false
		}
		var ws workerStatus
		if st.Err() == nil && json.Unmarshal([]byte(st.Val()), &ws) == nil && ws.Attested == w.AttestedMs {
			ws.apply(w)
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
func (r *registry) touch(ctx context.Context, id string, hb *wire.HeartbeatRequest) error {
	r.mu.Lock()
	w := r.workers[id]
	if w == nil {
		r.mu.Unlock()
		return ErrNotFound
	}
	w.SeenMs = r.clock.Now().UnixMilli()
	w.Running, w.Draining = hb.Running, w.Draining || hb.Draining
	if hb.AvgJobMs > 0 {
		w.AvgJobMs = hb.AvgJobMs
	}
	if hb.Loaded != nil {
		w.Loaded = hb.Loaded
	}
	st, _ := json.Marshal(statusOf(w))
	r.mu.Unlock()
	return r.rdb.HSet(ctx, statusKey, id, st).Err()
}

func (r *registry) remove(ctx context.Context, id string) error {
	r.mu.Lock()
	delete(r.workers, id)
	r.mu.Unlock()
	return r.forget(ctx, []string{id})
}

// forget deletes registrations and their statuses from Redis.
func (r *registry) forget(ctx context.Context, ids []string) error {
	_, err := r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HDel(ctx, workersKey, ids...)
		p.HDel(ctx, statusKey, ids...)
		return nil
	})
	return err
}

// refresh brings the pool up to date with Redis and drops workers not seen
// within the expiry (from memory and Redis). It reads every worker's status
// (a few dozen bytes) and the registration only of workers it does not
// hold yet or that joined again since.
func (r *registry) refresh(ctx context.Context) error {
	all, err := r.rdb.HGetAll(ctx, statusKey).Result()
	if err != nil {
		return err
	}
	cutoff := r.clock.Now().Add(-r.expiry).UnixMilli()
	statuses := make(map[string]workerStatus, len(all))
	var stale, load []string
	r.mu.RLock()
	for id, raw := range all {
		var st workerStatus
		if json.Unmarshal([]byte(raw), &st) != nil || st.Seen < cutoff {
			stale = append(stale, id)
			continue
		}
		statuses[id] = st
		if w := r.workers[id]; w == nil || w.AttestedMs != st.Attested {
			load = append(load, id)
		}
	}
	r.mu.RUnlock()
	regs := map[string]*WorkerInfo{}
	for len(load) > 0 {
		part := load[:min(len(load), 1000)]
		load = load[len(part):]
		vals, err := r.rdb.HMGet(ctx, workersKey, part...).Result()
		if err != nil {
			return err
		}
		for i, v := range vals {
			w := &WorkerInfo{}
			if raw, ok := v.(string); !ok || json.Unmarshal([]byte(raw), w) != nil {
				stale = append(stale, part[i]) // a status without a registration
				delete(statuses, part[i])
				continue
			}
			regs[part[i]] = w
		}
	}
	r.mu.Lock()
	fresh := make(map[string]*WorkerInfo, len(statuses))
	for id, st := range statuses {
		w := regs[id]
		if w == nil {
			w = r.workers[id]
		}
		if w == nil {
			continue
		}
		if st.Seen > w.SeenMs || regs[id] != nil { // keep a newer in-memory heartbeat
			st.apply(w)
		}
		fresh[id] = w
	}
	r.workers = fresh
	r.mu.Unlock()
	if len(stale) > 0 {
		if err := r.forget(ctx, stale); err != nil {
			return err
		}
	}
	return r.dropOrphans(ctx)
}

// dropOrphans deletes registrations that have no status (left by a broker
// from before statuses, or by a crash between the two writes of a join: a
// join writes both in one transaction), when there are any. Registrations
// are listed before statuses, so a join landing in between is not taken
// for an orphan.
func (r *registry) dropOrphans(ctx context.Context) error {
	var regs, statuses *redis.IntCmd
	if _, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		regs, statuses = p.HLen(ctx, workersKey), p.HLen(ctx, statusKey)
		return nil
	}); err != nil || regs.Val() <= statuses.Val() {
		return err
	}
	ids, err := r.rdb.HKeys(ctx, workersKey).Result()
	if err != nil {
		return err
	}
	have, err := r.rdb.HKeys(ctx, statusKey).Result()
	if err != nil {
		return err
	}
	known := make(map[string]bool, len(have))
	for _, id := range have {
		known[id] = true
	}
	var orphans []string
	for _, id := range ids {
		if !known[id] {
			orphans = append(orphans, id)
		}
	}
	if len(orphans) == 0 {
		return nil
	}
	return r.rdb.HDel(ctx, workersKey, orphans...).Err()
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

// capacity reports, without copying the pool, whether a live worker that
// is not draining serves model (ok); if not, whether any live worker has it
// (known) and what live, non-draining workers serve (sorted).
func (r *registry) capacity(model string) (ok, known bool, served []string) {
	cutoff := r.clock.Now().Add(-r.expiry).UnixMilli()
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, w := range r.workers {
		if w.SeenMs >= cutoff && w.serves(model) {
			if !w.Draining {
				return true, true, nil
			}
			known = true
		}
	}
	// No capacity (rare): what is served instead, for the error.
	for _, w := range r.workers {
		if w.SeenMs >= cutoff && !w.Draining {
			for _, m := range w.Models {
				served = append(served, m.Name)
			}
		}
	}
	slices.Sort(served)
	return false, known, served
}

// servesAny reports whether one of ids is a live worker, not draining, that
// serves model.
func (r *registry) servesAny(ids []string, model string) bool {
	cutoff := r.clock.Now().Add(-r.expiry).UnixMilli()
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, id := range ids {
		if w := r.workers[id]; w != nil && w.SeenMs >= cutoff && !w.Draining && w.serves(model) {
			return true
		}
	}
	return false
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
