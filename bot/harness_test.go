package bot

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cocoon-network/cocoon/internal/testenv"
	"github.com/cocoon-network/cocoon/submit"
	"github.com/cocoon-network/cocoon/trust"
	"github.com/cocoon-network/cocoon/wire"
)

// harness runs a Bot against a fakeAPI, a real redis-server, a fakeAsker
// and a fakeBroker.
type harness struct {
	t      *testing.T
	api    *fakeAPI
	rdb    *redis.Client
	asker  *fakeAsker
	broker *fakeBroker
	logs   *testenv.LogBuffer
	cfg    Config

	bot    *Bot
	cancel context.CancelFunc
	done   chan error
}

func newHarness(t *testing.T, adjust func(*Config)) *harness {
	t.Helper()
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { rdb.Close() })
	h := &harness{t: t, api: newFakeAPI(t), rdb: rdb, logs: &testenv.LogBuffer{}}
	h.broker = &fakeBroker{models: []wire.ModelInfo{{Name: "tiny:latest", Workers: 1}}}
	h.asker = &fakeAsker{broker: h.broker, answer: func(*submit.Request) script { return script{Chunks: []string{"Hello", " there"}} }}
	h.broker.asker = h.asker
	h.cfg = Config{Token: h.api.token, APIURL: h.api.URL(), Redis: rdb, HistoryKey: testHistoryKey, Asker: h.asker, Broker: h.broker,
		PollTimeout: time.Second, ChatInterval: 150 * time.Millisecond, GroupInterval: 300 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Pool: func(context.Context) ([]PoolWorker, error) {
			return []PoolWorker{{ID: "w1", Evidence: wire.EvidenceInsecureDev}}, nil
		}}
	if adjust != nil {
		adjust(&h.cfg)
	}
	h.launch()
	return h
}

// launch starts the bot on h.cfg and stops and checks it when the test ends.
func (h *harness) launch() {
	t := h.t
	h.start()
	t.Cleanup(func() {
		h.stop()
		h.api.checkClean()
		if t.Failed() {
			t.Logf("bot log:\n%s", h.logs.String())
		}
		for _, s := range []string{fakeToken} {
			if strings.Contains(h.logs.String(), s) {
				t.Errorf("the log contains the bot token")
			}
		}
	})
}

// testHistoryKey seals the harness bot's history.
var testHistoryKey = []byte("0123456789abcdef0123456789abcdef")

// realLimits keeps Telegram's real per-chat limits (the harness shortens
// them for tests that do not measure them).
func realLimits(c *Config) { c.ChatInterval, c.GroupInterval = 0, 0 }

// start runs a new Bot on the harness's config.
func (h *harness) start() {
	h.t.Helper()
	b, err := New(h.cfg)
	if err != nil {
		h.t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.bot, h.cancel, h.done = b, cancel, make(chan error, 1)
	go func() { h.done <- b.Run(ctx) }()
	h.api.waitFor("the bot to take updates", 5*time.Second, func() bool {
		return len(h.api.callsTo("getUpdates", 0))+len(h.api.callsTo("setWebhook", 0)) > 0
	})
}

// stop stops the Bot and waits for Run to return.
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
	case <-time.After(40 * time.Second):
		h.t.Errorf("Run did not return")
	}
	h.cancel = nil
}

// script is how the fakeAsker answers one request.
type script struct {
	Position int           // jobs ahead (queued callback)
	Wait     time.Duration // before the first chunk
	Chunks   []string
	Every    time.Duration // between chunks
	Err      error         // returned after the chunks
	State    string        // result state; default done
	// What the submitter's own checks found (Result.Receipts, .Evidence,
	// .Attested).
	Receipts []trust.CheckedReceipt
	Evidence map[string]wire.Candidate
	Attested bool
}

// fakeAsker answers from scripts instead of a pool, recording requests.
type fakeAsker struct {
	broker *fakeBroker
	answer func(*submit.Request) script

	mu       sync.Mutex
	requests []*submit.Request
	n        int
	cancels  map[string]chan struct{}
}

func (a *fakeAsker) Ask(ctx context.Context, req *submit.Request, queued func(string, int), delta func(string)) (*submit.Result, error) {
	a.mu.Lock()
	a.requests = append(a.requests, req)
	a.n++
	id := fmt.Sprintf("0-job%d", a.n)
	if a.cancels == nil {
		a.cancels = map[string]chan struct{}{}
	}
	cancelled := make(chan struct{})
	a.cancels[id] = cancelled
	sc := a.answer(req)
	a.mu.Unlock()

	if sc.Err != nil && len(sc.Chunks) == 0 && sc.State == "" {
		return nil, sc.Err // refused before a job existed
	}
	queued(id, sc.Position)
	res := &submit.Result{JobID: id, Model: req.Model, Workers: []string{"w1"}, PromptTokens: 7,
		Receipts: sc.Receipts, Evidence: sc.Evidence, Attested: sc.Attested}
	wait := func(d time.Duration) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-cancelled:
			return errCancelled
		case <-time.After(d):
			return nil
		}
	}
	var text strings.Builder
	if err := wait(sc.Wait); err != nil {
		return a.end(res, &text, err)
	}
	for i, c := range sc.Chunks {
		if i > 0 {
			if err := wait(sc.Every); err != nil {
				return a.end(res, &text, err)
			}
		}
		text.WriteString(c)
		res.CompletionTokens++
		delta(c)
	}
	res.Text = text.String()
	if sc.Err != nil {
		res.State = wire.StateFailed
		return res, sc.Err
	}
	res.State = wire.StateDone
	if sc.State != "" {
		res.State = sc.State
	}
	return res, nil
}

var errCancelled = fmt.Errorf("cancelled")

func (a *fakeAsker) end(res *submit.Result, text *strings.Builder, err error) (*submit.Result, error) {
	res.Text = text.String()
	if err == errCancelled {
		res.State = wire.StateCancelled
		return res, nil
	}
	return res, err
}

// reqs returns the requests so far.
func (a *fakeAsker) reqs() []*submit.Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*submit.Request(nil), a.requests...)
}

func (a *fakeAsker) cancel(id string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.cancels[id]
	if ok {
		delete(a.cancels, id)
		close(c)
	}
	return ok
}

// fakeBroker serves a model list and cancels fakeAsker jobs.
type fakeBroker struct {
	asker *fakeAsker

	mu        sync.Mutex
	models    []wire.ModelInfo
	cancelled []string
}

func (f *fakeBroker) Models(context.Context) ([]wire.ModelInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]wire.ModelInfo(nil), f.models...), nil
}

func (f *fakeBroker) Cancel(_ context.Context, id string) error {
	f.mu.Lock()
	f.cancelled = append(f.cancelled, id)
	f.mu.Unlock()
	if !f.asker.cancel(id) {
		return &wire.Error{Code: wire.CodeNotFound, Message: "unknown job"}
	}
	return nil
}

// private chat ids equal the user's id.
var (
	alice = user{ID: 1001, Lang: "en"}
	bob   = user{ID: 1002, Lang: "en"}
	ivan  = user{ID: 1003, Lang: "ru"}
)
