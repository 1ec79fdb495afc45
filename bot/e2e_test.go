package bot

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ollama/ollama/api"

	"github.com/cocoon-network/cocoon/attest"
	"github.com/cocoon-network/cocoon/internal/testenv"
	"github.com/cocoon-network/cocoon/internal/teststack"
	"github.com/cocoon-network/cocoon/submit"
	"github.com/cocoon-network/cocoon/wire"
)

// detOpts make the pool and Ollama answer the same text.
var detOpts = map[string]any{"temperature": 0, "seed": 42, "num_thread": 1}

// slowAsker slows the answer down as a bigger model would (the tiny model
// answers in milliseconds), so the test sees the message edited as it grows.
type slowAsker struct {
	Asker
	perByte time.Duration
}

func (a slowAsker) Ask(ctx context.Context, req *submit.Request, queued func(string, int), delta func(string)) (*submit.Result, error) {
	return a.Asker.Ask(ctx, req, queued, func(d string) {
		time.Sleep(time.Duration(len(d)) * a.perByte)
		delta(d)
	})
}

// directAnswer asks Ollama itself, bypassing Cocoon.
func directAnswer(t *testing.T, o *api.Client, model string, msgs []wire.Message, numPredict int) string {
	t.Helper()
	var am []api.Message
	for _, m := range msgs {
		am = append(am, api.Message{Role: m.Role, Content: m.Content})
	}
	opts := map[string]any{"num_predict": numPredict}
	for k, v := range detOpts {
		opts[k] = v
	}
	var sb strings.Builder
	err := o.Chat(context.Background(), &api.ChatRequest{Model: model, Messages: am, Options: opts},
		func(r api.ChatResponse) error { sb.WriteString(r.Message.Content); return nil })
	if err != nil {
		t.Fatalf("direct ollama: %v", err)
	}
	return sb.String()
}

// TestEndToEndHelloThroughThePool: a user writes "hello" to the bot; the
// job goes through the real broker and worker to a real Ollama; the reply
// appears early, grows by edits (one of which Telegram refuses with 429),
// and ends with exactly Ollama's own answer above the footer.
func TestEndToEndHelloThroughThePool(t *testing.T) {
	s := teststack.Start(t, teststack.Options{}) // skips under -short
	s.AddWorker(nil)
	const maxTokens = 160
	api := newFakeAPI(t)
	logs := &testenv.LogBuffer{}
	newSubmitter := func() *submit.Submitter {
		return &submit.Submitter{C: s.Client, Policy: attest.Policy{AllowInsecureDev: true}, Secret: []byte("0123456789abcdef0123")}
	}
	cfg := Config{Token: api.token, APIURL: api.URL(), Redis: s.Redis, HistoryKey: testHistoryKey, Broker: s.Client,
		Asker:   slowAsker{Asker: SubmitAsker{New: newSubmitter}, perByte: 8 * time.Millisecond},
		Pool:    BrokerPool(s.URL, teststack.Token, nil),
		Options: detOpts, MaxTokens: maxTokens, PollTimeout: time.Second,
		Drafts: DraftsOff, // the edit flow of groups and of servers without drafts; drafts: stream_test.go
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if t.Failed() {
			t.Logf("bot log:\n%s", logs.String())
		}
		if strings.Contains(logs.String(), fakeToken) {
			t.Errorf("the log contains the bot token")
		}
	}()

	api.floodAfter("editMessageText", alice.ID, 1, 1) // the second edit: 429, retry after 1 s
	api.say(alice.ID, alice, "hello")
	ms := api.waitFinal(alice.ID, 2*time.Minute)

	want := directAnswer(t, s.Ollama.Client, s.Ollama.Model, []wire.Message{{Role: "user", Content: "hello"}}, maxTokens)
	if strings.TrimSpace(want) == "" {
		t.Fatal("Ollama answered nothing")
	}
	var gotHTML, gotBody strings.Builder
	for _, m := range ms {
		h, _, _ := strings.Cut(m.Text, "\n\n"+footerRule+"\n")
		gotHTML.WriteString(h)
		gotBody.WriteString(body(m.Visible))
	}
	if len(ms) == 1 {
		if gotHTML.String() != RenderHTML(want) {
			t.Errorf("final body differs from Ollama's answer:\n got %q\nwant %q", gotHTML.String(), RenderHTML(want))
		}
	} else if nonSpace(gotBody.String()) != nonSpace(htmlVisible(RenderHTML(want))) {
		t.Errorf("final answer differs from Ollama's")
	}
	// The exchange stored as history is Ollama's text, byte for byte.
	turns, err := b.st.chain(context.Background(), alice.ID, "1", 1<<20, 1)
	if err != nil || len(turns) != 1 || turns[0].Answer != want || turns[0].User != "hello" {
		t.Errorf("stored turn: %+v, %v", turns, err)
	}
	first := ms[0]
	t.Logf("answer: %d bytes in %d message(s); the first shown in %d versions", len(want), len(ms), len(first.History))
	if len(first.History) < 3 {
		t.Errorf("the reply was not edited as it grew: %d versions", len(first.History))
	}
	f := footer(ms[len(ms)-1].Visible)
	for _, w := range []string{s.Ollama.Model, "→ " + strconv.Itoa(maxTokens) + " tokens", "not attested"} {
		if !strings.Contains(f, w) {
			t.Errorf("footer %q lacks %q", f, w)
		}
	}

	// The 429 lost nothing (checked above) and no burst followed it.
	var floodAt time.Time
	var after []time.Time
	for _, c := range api.log() {
		if (c.Method == "editMessageText" || c.Method == "sendMessage") && num(c.Params, "chat_id") == alice.ID {
			if c.Code == 429 {
				floodAt = c.At
			} else if !floodAt.IsZero() {
				after = append(after, c.At)
			}
		}
	}
	if floodAt.IsZero() || len(after) == 0 {
		t.Fatalf("the fake never answered 429, or nothing came after it")
	}
	if d := after[0].Sub(floodAt); d < time.Second {
		t.Errorf("retried %v after retry_after 1", d)
	}
	for i := 1; i < len(after); i++ {
		if d := after[i].Sub(after[i-1]); d < time.Second {
			t.Errorf("burst after the flood wait: %v apart", d)
		}
	}
	checkLimits(t, api.log(), time.Second, 30)
	api.checkClean()

	// /model lists what the pool serves.
	api.say(alice.ID, alice, "/model")
	kb := api.waitText(alice.ID, "Choose a model", 30*time.Second)
	if !strings.Contains(kb.Markup, s.Ollama.Model) {
		t.Errorf("model keyboard %s lacks %s", kb.Markup, s.Ollama.Model)
	}
}
