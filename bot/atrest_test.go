package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cocoon-network/cocoon/receipt"
	"github.com/cocoon-network/cocoon/seal"
	"github.com/cocoon-network/cocoon/submit"
	"github.com/cocoon-network/cocoon/trust"
	"github.com/cocoon-network/cocoon/wire"
)

// dumpRedis returns every key of rdb with its value(s), as text, read by
// type (not DUMP, whose compression could hide a plaintext).
func dumpRedis(t *testing.T, rdb redis.UniversalClient) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	var keys []string
	iter := rdb.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		typ, err := rdb.Type(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		var v any
		switch typ {
		case "string":
			v, err = rdb.Get(ctx, k).Result()
		case "hash":
			v, err = rdb.HGetAll(ctx, k).Result()
		case "list":
			v, err = rdb.LRange(ctx, k, 0, -1).Result()
		case "set":
			v, err = rdb.SMembers(ctx, k).Result()
		case "zset":
			v, err = rdb.ZRangeWithScores(ctx, k, 0, -1).Result()
		case "stream":
			v, err = rdb.XRange(ctx, k, "-", "+").Result()
		case "none":
			continue // expired meanwhile
		default:
			t.Fatalf("key %s has type %s the dump does not read", k, typ)
		}
		if err != nil && !errors.Is(err, redis.Nil) {
			t.Fatal(err)
		}
		out[k] = fmt.Sprintf("%v", v)
	}
	return out
}

// assertNowhere fails when any secret appears in a key name or value.
func assertNowhere(t *testing.T, dump map[string]string, secrets ...string) {
	t.Helper()
	for k, v := range dump {
		for _, s := range secrets {
			if strings.Contains(k, s) || strings.Contains(v, s) {
				t.Errorf("%q is stored in plaintext at %s", s, k)
			}
		}
	}
}

func TestHistoryIsSealedAtRest(t *testing.T) {
	h := newHarness(t, nil)
	const (
		system = "SYSTEM-PROMPT-b41d: answer like a pirate"
		marker = "PROMPT-MARKER-7e2c9"
		digest = "sha256:DIGEST-c0ffee0123456789"
	)
	n := 0
	h.asker.answer = func(r *submit.Request) script {
		n++
		return script{Chunks: []string{"ANSWER-", fmt.Sprintf("TEXT-%d-91fa", n)},
			Receipts: []trust.CheckedReceipt{{Verified: true, Receipt: receipt.Receipt{WorkerID: "w1", Model: r.Model, ModelDigest: digest}}}}
	}
	h.api.say(alice.ID, alice, "/settings prompt "+system)
	h.api.waitText(alice.ID, "System prompt set", 10*time.Second)
	h.api.say(alice.ID, alice, "first "+marker)
	h.api.waitText(alice.ID, "ANSWER-TEXT-1-91fa", 10*time.Second)
	h.api.say(alice.ID, alice, "second "+marker)
	h.api.waitFinal(alice.ID, 10*time.Second)
	h.api.waitText(alice.ID, "ANSWER-TEXT-2-91fa", 10*time.Second)
	h.api.say(alice.ID, alice, "/verify")
	h.api.waitText(alice.ID, "receipt verified", 10*time.Second)

	dump := dumpRedis(t, h.rdb)
	if len(dump) < 5 {
		t.Fatalf("only %d keys: %v", len(dump), dump)
	}
	assertNowhere(t, dump, marker, "ANSWER-TEXT", "TEXT-1-91fa", "SYSTEM-PROMPT", "pirate", "DIGEST-c0ffee")

	// The history still works, across a restart.
	h.stop()
	h.start()
	h.api.say(alice.ID, alice, "third")
	h.api.waitText(alice.ID, "ANSWER-TEXT-3-91fa", 10*time.Second)
	reqs := h.asker.reqs()
	got := strings.Join(contents(reqs[len(reqs)-1].Messages), "|")
	want := "system:" + system + "|user:first " + marker + "|assistant:ANSWER-TEXT-1-91fa|user:second " + marker +
		"|assistant:ANSWER-TEXT-2-91fa|user:third"
	if got != want {
		t.Errorf("after a restart the job got\n %s\nwant\n %s", got, want)
	}

	// Under another key the old history does not open: the bot goes on
	// without it (and says so in its log), never showing garbage.
	h.stop()
	h.cfg.HistoryKey = []byte("another key of thirty-two bytes!")
	h.start()
	h.api.say(alice.ID, alice, "fourth")
	h.api.waitText(alice.ID, "ANSWER-TEXT-4-91fa", 10*time.Second)
	reqs = h.asker.reqs()
	if got := strings.Join(contents(reqs[len(reqs)-1].Messages), "|"); got != "user:fourth" {
		t.Errorf("under another key the job got %s", got)
	}
	if !strings.Contains(h.logs.String(), "unreadable") {
		t.Errorf("the unreadable history was not logged")
	}
}

func TestSealedRecordsAreBoundToTheirKeyAndField(t *testing.T) {
	var k [32]byte
	copy(k[:], testHistoryKey)
	st := &store{box: seal.NewAtRest(k)}
	rec := st.seal(turnKey(1, "1"), "user", "hello")
	if got, err := st.open(turnKey(1, "1"), "user", rec); err != nil || got != "hello" {
		t.Fatalf("open: %q, %v", got, err)
	}
	for _, c := range []struct{ key, field string }{
		{turnKey(1, "2"), "user"},   // another turn
		{turnKey(2, "1"), "user"},   // another chat
		{turnKey(1, "1"), "answer"}, // another field
	} {
		if _, err := st.open(c.key, c.field, rec); !errors.Is(err, errUnreadable) {
			t.Errorf("a record moved to %s %s opened: %v", c.key, c.field, err)
		}
	}
	if _, err := st.open(turnKey(1, "1"), "user", "plaintext from an older bot"); !errors.Is(err, errUnreadable) {
		t.Errorf("plaintext opened: %v", err)
	}
}

func TestVerifyShowsTheSubmittersOwnCheck(t *testing.T) {
	// The pool (the broker's word) says insecure-dev; the footer and /verify
	// follow what the submitter checked.
	h := newHarness(t, nil)
	const mrtd = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	h.asker.answer = func(r *submit.Request) script {
		if r.User == userID(alice.ID) {
			return script{Chunks: []string{"attested answer"}, Attested: true,
				Evidence: map[string]wire.Candidate{"w-tdx": {WorkerID: "w-tdx", Evidence: wire.Evidence{Type: wire.EvidenceTDX}}},
				Receipts: []trust.CheckedReceipt{{Verified: true, Receipt: receipt.Receipt{
					WorkerID: "w-tdx", Model: r.Model, ModelDigest: "sha256:0123456789abcdef0123456789abcdef", Attested: true,
					Measurements: receipt.Measurements{MRTD: mrtd}, PromptTokens: 7, CompletionTokens: 1, Time: at}}}}
		}
		// A failover: the first worker's segment verified (insecure-dev),
		// the second cut short.
		return script{Chunks: []string{"half", " answer"},
			Evidence: map[string]wire.Candidate{"w-dev": {WorkerID: "w-dev", Evidence: wire.Evidence{Type: wire.EvidenceInsecureDev}}},
			Receipts: []trust.CheckedReceipt{
				{Verified: true, Receipt: receipt.Receipt{WorkerID: "w-dev", Model: r.Model, ModelDigest: "sha256:feed", PromptTokens: 7, CompletionTokens: 1}},
				{Problem: "segment cut short by a failed worker: unverified"},
			}}
	}
	h.api.say(bob.ID, bob, "/verify")
	h.api.waitText(bob.ID, "no answer to verify", 10*time.Second)

	h.api.say(alice.ID, alice, "q")
	ms := h.api.waitFinal(alice.ID, 10*time.Second)
	if f := footer(ms[len(ms)-1].Visible); !strings.Contains(f, "attested (TDX)") || strings.Contains(f, "not attested") {
		t.Errorf("footer %q: the submitter found every segment attested", f)
	}
	h.api.say(alice.ID, alice, "/verify")
	v := h.api.waitText(alice.ID, "Receipts of the last answer", 10*time.Second).Visible
	for _, w := range []string{"Overall: attested (TDX)", "Segment 1: ✅ receipt verified", "\nattested (TDX)\n",
		"MRTD a1b2c3d…d7e8f90", "worker w-tdx", "model tiny:latest · digest sha256:01…789abcdef", "7 → 1 tokens", "2025-03-01 12:00:00 UTC"} {
		if !strings.Contains(v, w) {
			t.Errorf("/verify lacks %q:\n%s", w, v)
		}
	}

	h.api.say(bob.ID, bob, "q")
	ms = h.api.waitFinal(bob.ID, 10*time.Second)
	if f := footer(ms[len(ms)-1].Visible); !strings.Contains(f, "not attested") {
		t.Errorf("footer %q", f)
	}
	h.api.say(bob.ID, bob, "/verify")
	v = h.api.waitText(bob.ID, "Receipts of the last answer", 10*time.Second).Visible
	for _, w := range []string{"Overall: not attested", "Segment 1: ✅ receipt verified\nnot attested (insecure-dev)\nMRTD —",
		"worker w-dev", "Segment 2: ❌ not verified: segment cut short by a failed worker"} {
		if !strings.Contains(v, w) {
			t.Errorf("/verify lacks %q:\n%s", w, v)
		}
	}
}
