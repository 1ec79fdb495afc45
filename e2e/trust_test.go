package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cocoon-network/cocoon/attest"
	"github.com/cocoon-network/cocoon/attest/attesttest"
	"github.com/cocoon-network/cocoon/internal/teststack"
	"github.com/cocoon-network/cocoon/submit"
	"github.com/cocoon-network/cocoon/wire"
	"github.com/cocoon-network/cocoon/worker"
)

// attestedStack is a stack whose broker and submitter accept only TDX
// quotes under a throwaway test PKI, and whose worker quotes under it.
func attestedStack(t *testing.T) (*teststack.Stack, *attesttest.PKI) {
	pki := attesttest.MustNew(t)
	policy := pki.Policy()
	s := teststack.Start(t, teststack.Options{Policy: &policy})
	s.AddWorker(func(c *worker.Config) { c.Quoter = pki.Quoter(attesttest.QuoteOptions{}) })
	return s, pki
}

func TestAttestedWorkerAnswersWithVerifiedReceipt(t *testing.T) {
	s, _ := attestedStack(t)
	msgs := []wire.Message{{Role: "user", Content: "hello"}}
	res, err := s.Submitter.Run(context.Background(), &submit.Request{Model: s.Ollama.Model, User: "cli:t", MaxTokens: 32,
		Messages: msgs, Options: detOpts}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := s.Ollama.Direct(t, msgs, 32)
	if res.Text != want {
		t.Errorf("text %q, want %q", res.Text, want)
	}
	if len(res.Receipts) != 1 || !res.Receipts[0].Verified || !res.Receipts[0].Receipt.Attested || !res.Attested {
		t.Fatalf("receipts: %+v", res.Receipts)
	}
	r := res.Receipts[0].Receipt
	if r.Measurements.MRTD != attesttest.ShippedMeasurement().MRTD.String() || r.ModelDigest == "" || r.CompletionTokens != 32 {
		t.Errorf("receipt fields: %+v", r)
	}
}

func TestBrokerRefusesUnattestedWorkers(t *testing.T) {
	pki := attesttest.MustNew(t)
	policy := pki.Policy()
	s := teststack.Start(t, teststack.Options{Policy: &policy})
	ctx := context.Background()
	cases := []struct {
		name   string
		quoter attest.Quoter
	}{
		{"insecure-dev", attest.DevQuoter{}},
		{"debug TD", pki.Quoter(attesttest.QuoteOptions{Debug: true})},
		{"measurement not allowed", pki.Quoter(attesttest.QuoteOptions{Measurement: &attest.Measurement{}})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w, err := worker.New(worker.Config{BrokerURL: s.URL, OllamaHost: s.Ollama.Host, Quoter: c.quoter, Logger: teststack.Logger()})
			if err != nil {
				t.Fatal(err)
			}
			err = w.Join(ctx)
			var we *wire.Error
			if !errors.As(err, &we) || we.Code != wire.CodeUnauthorized {
				t.Fatalf("join: %v, want refused", err)
			}
		})
	}
	if ms, _ := s.Client.Models(ctx); len(ms) != 0 {
		t.Errorf("a refused worker is in the pool: %v", ms)
	}
}

// TestHostileBrokerKeySubstitutionIsCaught: a broker that hands the
// submitter an HPKE key of its own (to read prompts) is caught by the
// submitter's own check of the quote, and nothing is sealed to it.
func TestHostileBrokerKeySubstitutionIsCaught(t *testing.T) {
	s, _ := attestedStack(t)
	ctx := context.Background()
	cands, err := s.Client.Candidates(ctx, s.Ollama.Model, 3)
	if err != nil || len(cands) != 1 {
		t.Fatalf("candidates: %v %v", cands, err)
	}
	// The same check the submitter runs, on a tampered copy.
	bad := cands[0]
	bad.HPKEKey = append([]byte(nil), bad.HPKEKey...)
	bad.HPKEKey[10] ^= 1
	hostile := &hostileClient{Stack: s, cand: bad}
	sub := &submit.Submitter{C: s.Client, Policy: s.Submitter.Policy}
	_, err = hostile.run(ctx, sub)
	if !errors.Is(err, submit.ErrNoVerifiedWorker) || !errors.Is(err, attest.ErrReportData) {
		t.Fatalf("substituted key: %v, want ErrNoVerifiedWorker wrapping ErrReportData", err)
	}
}

// TestRedisNeverSeesPromptOrAnswer dumps every key and value in Redis after
// a job and looks for the prompt's marker and the answer's text.
func TestRedisNeverSeesPromptOrAnswer(t *testing.T) {
	s, _ := attestedStack(t)
	ctx := context.Background()
	marker := "MARKER-" + fmt.Sprint(time.Now().UnixNano())
	res, err := s.Submitter.Run(ctx, &submit.Request{Model: s.Ollama.Model, User: "cli:t", MaxTokens: 64,
		Messages: []wire.Message{{Role: "user", Content: "please remember " + marker}}, Options: detOpts}, nil)
	if err != nil || len(res.Text) < 20 {
		t.Fatalf("ask: %v (%d bytes)", err, len(res.Text))
	}
	dump := dumpRedis(t, s.Redis)
	if strings.Contains(dump, marker) {
		t.Error("the prompt's marker is in Redis")
	}
	if strings.Contains(dump, res.Text) || strings.Contains(dump, res.Text[:20]) {
		t.Error("the answer's text is in Redis")
	}
	if !strings.Contains(dump, res.JobID) {
		t.Fatal("dump does not contain the job: the dump is broken")
	}
}

func dumpRedis(t *testing.T, rdb redis.UniversalClient) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		b.WriteString(k + "\n")
		typ, _ := rdb.Type(ctx, k).Result()
		switch typ {
		case "string":
			b.WriteString(rdb.Get(ctx, k).Val())
		case "hash":
			for f, v := range rdb.HGetAll(ctx, k).Val() {
				b.WriteString(f + "=" + v + "\n")
			}
		case "list":
			b.WriteString(strings.Join(rdb.LRange(ctx, k, 0, -1).Val(), "\n"))
		case "set":
			b.WriteString(strings.Join(rdb.SMembers(ctx, k).Val(), "\n"))
		case "zset":
			b.WriteString(strings.Join(rdb.ZRange(ctx, k, 0, -1).Val(), "\n"))
		case "stream":
			for _, m := range rdb.XRange(ctx, k, "-", "+").Val() {
				b.WriteString(fmt.Sprint(m.Values) + "\n")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestJobSealedToDepartedWorkersIsResealed: a job sealed only to a worker
// that leaves before running it is failed by the broker with a reseal
// request, and the submitter seals it again for the worker that is there.
func TestJobSealedToDepartedWorkersIsResealed(t *testing.T) {
	s := teststack.Start(t, teststack.Options{})
	ctx := context.Background()
	gone := s.AddWorker(func(c *worker.Config) { c.Name = "gone" })
	sr := prepare(t, s, "cli:t", 8, []wire.Message{{Role: "user", Content: "hi"}})
	if err := gone.Stop(); err != nil {
		t.Fatal(err)
	}
	// Submitted while only the departed worker is eligible; then a new
	// worker joins. The old sealing cannot be opened by it.
	s.AddWorker(nil)
	_, err := s.Client.Submit(ctx, sr)
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != wire.CodeReseal {
		t.Fatalf("submit sealed to a departed worker: %v, want reseal", err)
	}
	// Through Run the submitter seals for the current pool.
	res, err := s.Submitter.Run(ctx, &submit.Request{Model: s.Ollama.Model, User: "cli:t", MaxTokens: 8,
		Messages: []wire.Message{{Role: "user", Content: "hi"}}}, nil)
	if err != nil || res.State != wire.StateDone {
		t.Fatalf("run: %v %+v", err, res)
	}
}
