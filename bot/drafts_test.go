package bot

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	tele "gopkg.in/telebot.v3"

	"github.com/cocoon-network/cocoon/submit"
)

func TestPrivateChatStreamsByDrafts(t *testing.T) {
	h := newHarness(t, realLimits)
	chunks := words(24, "w")
	chunks[5] = "**bold** "
	chunks[9] = "`x<y` "
	h.asker.answer = func(*submit.Request) script {
		return script{Chunks: chunks, Every: 120 * time.Millisecond, Wait: 300 * time.Millisecond}
	}
	h.api.say(alice.ID, alice, "hello")
	ms := h.api.waitFinal(alice.ID, 20*time.Second)
	full := strings.Join(chunks, "")
	if len(ms) != 1 {
		t.Fatalf("want one message, got %d", len(ms))
	}
	m := ms[0]
	if got, want := body(m.Visible), htmlVisible(RenderHTML(full)); got != want {
		t.Errorf("final body:\n got %q\nwant %q", got, want)
	}
	if m.ParseMode != "HTML" || !strings.Contains(m.Text, "<b>bold</b>") || len(m.History) != 1 {
		t.Errorf("final message: mode %q, %d versions, %q", m.ParseMode, len(m.History), m.Text)
	}
	if !strings.Contains(footer(m.Visible), "tiny:latest") {
		t.Errorf("no footer: %q", m.Visible)
	}
	ds := h.api.draftsIn(alice.ID)
	if len(ds) < 3 {
		t.Fatalf("want the answer streamed in drafts, got %d", len(ds))
	}
	for i, d := range ds {
		if d.ID == 0 || d.ID != ds[0].ID {
			t.Errorf("draft %d has id %d, the first %d", i, d.ID, ds[0].ID)
		}
		if d.ParseMode != "HTML" {
			t.Errorf("draft %d without HTML", i)
		}
		if i > 0 && len(d.Visible) <= len(ds[i-1].Visible) {
			t.Errorf("draft %d did not grow: %q after %q", i, d.Visible, ds[i-1].Visible)
		}
		if strings.Contains(d.Visible, footerRule) {
			t.Errorf("a draft carries the footer")
		}
	}
	if n := len(h.api.callsTo("editMessageText", alice.ID)); n != 0 {
		t.Errorf("%d edits in a private chat streamed by drafts", n)
	}
	sends := h.api.callsTo("sendMessage", alice.ID)
	if len(sends) != 1 || sends[0].At.Before(ds[len(ds)-1].At) {
		t.Errorf("want one sendMessage after the last draft, got %d", len(sends))
	}
	checkLimits(t, h.api.log(), time.Second, 30)
	if strings.Contains(h.logs.String(), "hello") || strings.Contains(h.logs.String(), "w17") {
		t.Errorf("the log contains the prompt or the answer")
	}

	// A group in the same process keeps streaming by edits.
	const group = -700
	h.api.setChatType(group, "supergroup")
	h.api.say(group, alice, "@cocoon_test_bot hi")
	gm := h.api.waitFinal(group, 30*time.Second)
	if len(h.api.draftsIn(group)) != 0 || len(h.api.callsTo("sendMessageDraft", group)) != 0 {
		t.Errorf("drafts in a group")
	}
	if len(gm) != 1 || len(gm[0].History) < 2 || body(gm[0].Visible) != htmlVisible(RenderHTML(full)) {
		t.Errorf("group answer: %d messages, %d versions", len(gm), len(gm[0].History))
	}
	checkLimits(t, h.api.log(), time.Second, 30)
}

func TestDraftsFallBackToEditsWhenUnsupported(t *testing.T) {
	for _, mode := range []string{DraftsAuto, DraftsOn} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.Drafts = mode })
			h.api.setNoDrafts(true)
			h.asker.answer = func(*submit.Request) script {
				return script{Chunks: words(20, "e"), Every: 60 * time.Millisecond, Wait: 100 * time.Millisecond}
			}
			want := htmlVisible(RenderHTML(strings.Join(words(20, "e"), "")))
			for _, u := range []user{alice, bob} {
				h.api.say(u.ID, u, "hello")
				ms := h.api.waitFinal(u.ID, 20*time.Second)
				if len(ms) != 1 || body(ms[0].Visible) != want {
					t.Fatalf("user %d: answer not intact: %q", u.ID, ms[len(ms)-1].Visible)
				}
				if len(ms[0].History) < 2 {
					t.Errorf("user %d: the answer was not streamed by edits: %d versions", u.ID, len(ms[0].History))
				}
			}
			calls := h.api.callsTo("sendMessageDraft", 0)
			wantCalls := 1 // auto: the process remembers the refusal
			if mode == DraftsOn {
				wantCalls = 2 // on: every answer tries again
			}
			if len(calls) != wantCalls {
				t.Errorf("%d sendMessageDraft calls, want %d", len(calls), wantCalls)
			}
			for _, c := range calls {
				if c.Code != 404 {
					t.Errorf("draft answered %d", c.Code)
				}
			}
			if !strings.Contains(h.logs.String(), "refuse") {
				t.Errorf("the fallback was not logged")
			}
		})
	}
}

func TestDraftFloodErrorWaitsAndLosesNoText(t *testing.T) {
	h := newHarness(t, realLimits)
	h.asker.answer = func(*submit.Request) script {
		return script{Chunks: words(40, "f"), Every: 100 * time.Millisecond}
	}
	h.api.floodAfter("sendMessageDraft", alice.ID, 1, 2) // the second draft: 429, retry after 2 s
	h.api.say(alice.ID, alice, "hello")
	ms := h.api.waitFinal(alice.ID, 30*time.Second)
	if got, want := body(ms[0].Visible), htmlVisible(RenderHTML(strings.Join(words(40, "f"), ""))); len(ms) != 1 || got != want {
		t.Fatalf("text lost after a flood wait:\n got %q\nwant %q", got, want)
	}
	var floodAt time.Time
	var after []time.Time
	for _, c := range h.api.log() {
		if c.Method != "sendMessageDraft" && c.Method != "sendMessage" || num(c.Params, "chat_id") != alice.ID {
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
	if floodAt.IsZero() || len(after) < 2 {
		t.Fatalf("no 429 answered, or too little after it (%d)", len(after))
	}
	if d := after[0].Sub(floodAt); d < 2*time.Second {
		t.Errorf("retried %v after a 429 with retry_after 2", d)
	}
	for i := 1; i < len(after); i++ {
		if d := after[i].Sub(after[i-1]); d < time.Second {
			t.Errorf("burst after the flood wait: %v between requests", d)
		}
	}
	if n := len(h.api.callsTo("editMessageText", alice.ID)); n != 0 {
		t.Errorf("a flood error turned the stream to edits (%d)", n)
	}
	checkLimits(t, h.api.log(), time.Second, 30)
}

func TestDraftUnsupportedClassification(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{tele.ErrNotFound, true},
		{errors.New("telegram: Not Found: method not found (404)"), true},
		{errors.New("telegram: Bad Request: method is not supported (400)"), true},
		{errors.New("telegram: Bad Request: TEXTDRAFT_PEER_INVALID (400)"), true},
		{errors.New("telegram: unexpected answer to sendMessageDraft"), true},
		{errors.New("telegram: Bad Request: chat not found (400)"), false},
		{fmt.Errorf("dial tcp: connection refused"), false},
		{errors.New("telegram: Too Many Requests: retry after 3 (429)"), false},
	} {
		if got := isDraftUnsupported(c.err); got != c.want {
			t.Errorf("%v: %v, want %v", c.err, got, c.want)
		}
	}
}
