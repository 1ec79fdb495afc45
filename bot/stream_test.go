package bot

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cocoon-network/cocoon/submit"
)

// words makes n chunks of a deterministic text.
func words(n int, tag string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d ", tag, i)
	}
	return out
}

// editsOnly streams by edits in private chats too (the flow of groups and
// of Bot API servers without sendMessageDraft).
func editsOnly(c *Config) { c.Drafts = DraftsOff }

func TestStreamEditsGrowAndEndWithFooter(t *testing.T) {
	h := newHarness(t, func(c *Config) { realLimits(c); editsOnly(c) })
	chunks := words(24, "w")
	chunks[5] = "**bold** "
	chunks[9] = "`x<y` "
	h.asker.answer = func(*submit.Request) script {
		return script{Chunks: chunks, Every: 120 * time.Millisecond, Wait: 300 * time.Millisecond}
	}
	h.api.say(alice.ID, alice, "hello")
	ms := h.api.waitFinal(alice.ID, 20*time.Second)
	if len(ms) != 1 {
		t.Fatalf("want one message, got %d", len(ms))
	}
	m := ms[0]
	full := strings.Join(chunks, "")
	if got, want := body(m.Visible), htmlVisible(RenderHTML(full)); got != want {
		t.Errorf("final body:\n got %q\nwant %q", got, want)
	}
	if m.ParseMode != "HTML" || !strings.Contains(m.Text, "<b>bold</b>") || !strings.Contains(m.Text, "<code>x&lt;y</code>") {
		t.Errorf("markup not rendered: %q", m.Text)
	}
	f := footer(m.Visible)
	for _, want := range []string{"tiny:latest", "7 → 24 tokens", "not attested"} {
		if !strings.Contains(f, want) {
			t.Errorf("footer %q lacks %q", f, want)
		}
	}
	if len(m.History) < 3 {
		t.Errorf("want the message sent early and edited as text grew, got %d versions", len(m.History))
	}
	for i := 1; i < len(m.History); i++ {
		if m.History[i] == m.History[i-1] {
			t.Errorf("edit %d changed nothing", i)
		}
	}
	if len(body(m.History[0])) >= len(body(m.Visible)) {
		t.Errorf("first version is not shorter than the final one")
	}
	checkLimits(t, h.api.log(), time.Second, 30)
	if n := len(h.api.callsTo("sendChatAction", alice.ID)); n == 0 {
		t.Errorf("no typing action")
	}
	if strings.Contains(h.logs.String(), "hello") || strings.Contains(h.logs.String(), "w17") {
		t.Errorf("the log contains the prompt or the answer:\n%s", h.logs.String())
	}
}

// checkLimits asserts, from the request log, at most one send, edit or
// draft per chat per perChat and at most global in any one-second window.
func checkLimits(t *testing.T, log []apiCall, perChat time.Duration, global int) {
	t.Helper()
	var times []time.Time
	last := map[int64]time.Time{}
	bad := 0
	for _, c := range log {
		if c.Method != "sendMessage" && c.Method != "editMessageText" && c.Method != "sendMessageDraft" {
			continue
		}
		times = append(times, c.At)
		chat := num(c.Params, "chat_id")
		if prev, ok := last[chat]; ok && c.At.Sub(prev) < perChat {
			bad++
			if bad < 5 {
				t.Errorf("chat %d: two requests %v apart", chat, c.At.Sub(prev))
			}
		}
		last[chat] = c.At
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	worst := 0
	for i := range times {
		j := i
		for j < len(times) && times[j].Sub(times[i]) < time.Second {
			j++
		}
		worst = max(worst, j-i)
	}
	if worst > global {
		t.Errorf("%d sends+edits in one second (limit %d)", worst, global)
	}
	t.Logf("%d sends+edits; at most %d in a second", len(times), worst)
}

func TestHundredChatsStayInsideFloodLimits(t *testing.T) {
	h := newHarness(t, realLimits)
	h.asker.answer = func(r *submit.Request) script {
		return script{Chunks: words(30, "c"), Every: 100 * time.Millisecond}
	}
	const n = 100
	for i := range n {
		u := user{ID: int64(5000 + i), Lang: "en"}
		h.api.say(u.ID, u, "go")
	}
	var wg sync.WaitGroup
	want := htmlVisible(RenderHTML(strings.Join(words(30, "c"), "")))
	for i := range n {
		wg.Add(1)
		go func(chat int64) {
			defer wg.Done()
			ms := h.api.waitFinal(chat, 90*time.Second)
			if len(ms) != 1 || body(ms[0].Visible) != want {
				t.Errorf("chat %d: incomplete answer %q", chat, ms[len(ms)-1].Visible)
			}
		}(int64(5000 + i))
	}
	wg.Wait()
	checkLimits(t, h.api.log(), time.Second, 30)
}

func TestFloodErrorLosesNoTextAndNoBurst(t *testing.T) {
	h := newHarness(t, func(c *Config) { realLimits(c); editsOnly(c) })
	h.asker.answer = func(*submit.Request) script {
		return script{Chunks: words(40, "f"), Every: 100 * time.Millisecond}
	}
	h.api.floodAfter("editMessageText", alice.ID, 1, 3) // the second edit gets 429, retry after 3 s
	h.api.say(alice.ID, alice, "hello")
	ms := h.api.waitFinal(alice.ID, 30*time.Second)
	if got, want := body(ms[0].Visible), htmlVisible(RenderHTML(strings.Join(words(40, "f"), ""))); got != want {
		t.Fatalf("text lost after a flood wait:\n got %q\nwant %q", got, want)
	}
	var floodAt time.Time
	var after []time.Time
	for _, c := range h.api.log() {
		if c.Method != "editMessageText" && c.Method != "sendMessage" || num(c.Params, "chat_id") != alice.ID {
			continue
		}
		if c.Code == 429 {
			floodAt = c.At
			continue
		}
		if !floodAt.IsZero() {
			after = append(after, c.At)
		}
	}
	if floodAt.IsZero() || len(after) == 0 {
		t.Fatalf("no 429 answered or nothing after it")
	}
	if d := after[0].Sub(floodAt); d < 3*time.Second {
		t.Errorf("retried %v after a 429 with retry_after 3", d)
	}
	for i := 1; i < len(after); i++ {
		if d := after[i].Sub(after[i-1]); d < time.Second {
			t.Errorf("burst after the flood wait: %v between requests", d)
		}
	}
	checkLimits(t, h.api.log(), time.Second, 30)
}
