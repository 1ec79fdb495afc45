package bot

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-network/cocoon/broker/client"
	"github.com/cocoon-network/cocoon/submit"
	"github.com/cocoon-network/cocoon/wire"
)

func TestNonTextAndIgnoredUpdates(t *testing.T) {
	h := newHarness(t, nil)
	photo := map[string]any{"photo": []any{map[string]any{"file_id": "p", "file_unique_id": "u", "width": 1, "height": 1}}}
	sticker := map[string]any{"sticker": map[string]any{"file_id": "s", "file_unique_id": "u", "type": "regular", "width": 1, "height": 1}}
	voice := map[string]any{"voice": map[string]any{"file_id": "v", "file_unique_id": "u", "duration": 1}}
	for _, extra := range []map[string]any{photo, sticker, voice} {
		h.api.push(h.api.message(alice.ID, alice, "", extra))
	}
	h.api.waitFor("three polite replies", 15*time.Second, func() bool {
		n := 0
		for _, m := range h.api.botMessages(alice.ID) {
			if strings.Contains(m.Visible, "I can only read text") {
				n++
			}
		}
		return n == 3
	})

	// Ignored: channel posts, other bots, edited messages, service
	// messages, group chatter not addressed to the bot, another bot's command.
	h.api.pushRaw(`{"update_id":0,"channel_post":{"message_id":1,"date":1,"chat":{"id":-300,"type":"channel"},"text":"news"}}`)
	h.api.push(map[string]any{"message": map[string]any{"message_id": 50, "date": 1, "text": "beep",
		"from": map[string]any{"id": 99, "is_bot": true, "first_name": "B"}, "chat": map[string]any{"id": 99, "type": "private"}}})
	h.api.push(map[string]any{"edited_message": map[string]any{"message_id": 1, "date": 1, "edit_date": 2, "text": "edited",
		"from": alice.json(), "chat": map[string]any{"id": alice.ID, "type": "private"}}})
	h.api.push(h.api.message(alice.ID, alice, "", map[string]any{"pinned_message": map[string]any{"message_id": 1, "date": 1, "chat": map[string]any{"id": alice.ID, "type": "private"}}}))
	h.api.setChatType(-400, "group")
	h.api.say(-400, alice, "just chatting")
	h.api.say(-400, alice, "/model@other_bot")
	h.api.push(map[string]any{"message": map[string]any{"message_id": 60, "date": 1, "text": "as a channel",
		"sender_chat": map[string]any{"id": -500, "type": "channel"}, "from": map[string]any{"id": 136817688, "is_bot": true, "first_name": "Channel"},
		"chat": map[string]any{"id": -400, "type": "group"}}})
	h.api.pushRaw(`{"update_id":0,"message":{"message_id":70,"date":1,"chat":{"id":1001,"type":"private"},"from":{"id":1001,"is_bot":false,"first_name":"A"},"text":123}}`)
	h.api.pushRaw(`{"update_id":0,"poll":{"id":"p"}}`)
	// A marker message proves the ignored ones were processed first.
	h.api.say(bob.ID, bob, "/help")
	h.api.waitText(bob.ID, "/model", 10*time.Second)
	time.Sleep(300 * time.Millisecond)
	if n := len(h.api.botMessages(-400)) + len(h.api.botMessages(-300)) + len(h.api.botMessages(99)); n != 0 {
		t.Errorf("%d replies to updates that should be ignored", n)
	}
	if n := len(h.api.botMessages(alice.ID)); n != 3 {
		t.Errorf("alice got %d messages, want the 3 polite replies", n)
	}
	if len(h.asker.reqs()) != 0 {
		t.Errorf("an ignored update became a job")
	}
	if len(h.api.unknown) != 0 {
		t.Errorf("the bot called methods the fake does not know: %v", h.api.unknown)
	}
}

func TestGroupsAnswerOnMentionOrReply(t *testing.T) {
	h := newHarness(t, nil)
	h.asker.answer = echo
	const group = -600
	h.api.setChatType(group, "supergroup")
	h.api.say(group, alice, "@Cocoon_Test_Bot what is TDX?")
	a := h.api.waitText(group, "re: what is TDX?", 10*time.Second)
	h.api.waitFinal(group, 10*time.Second)
	if a.ReplyTo == 0 {
		t.Errorf("in a group the answer should reply to the question")
	}
	h.api.push(h.api.message(group, bob, "and SEV?", map[string]any{
		"reply_to_message": map[string]any{"message_id": a.ID, "date": 1, "from": h.api.me,
			"chat": map[string]any{"id": group, "type": "supergroup"}, "text": a.Visible}}))
	h.api.waitText(group, "re: and SEV?", 10*time.Second)
	h.api.say(group, alice, "@cocoon_test_bot")
	h.api.waitText(group, "Please write your question", 10*time.Second)
	reqs := h.asker.reqs()
	if reqs[0].User != "tg:1001" || reqs[1].User != "tg:1002" {
		t.Errorf("users: %s, %s", reqs[0].User, reqs[1].User)
	}
	if got := strings.Join(contents(reqs[1].Messages), "|"); got != "user:what is TDX?|assistant:re: what is TDX?|user:and SEV?" {
		t.Errorf("group history: %s", got)
	}
}

func TestForwardedEntitiesAndInvalidText(t *testing.T) {
	h := newHarness(t, nil)
	h.asker.answer = echo
	h.api.push(h.api.message(alice.ID, alice, "forwarded question", map[string]any{
		"forward_origin": map[string]any{"type": "hidden_user", "date": 1, "sender_user_name": "X"}, "forward_date": 1}))
	h.api.waitText(alice.ID, "re: forwarded question", 10*time.Second)
	ents := strings.Repeat("<&>*_`[", 585)[:4095] + "x"
	h.api.say(bob.ID, bob, ents)
	h.api.waitFinal(bob.ID, 20*time.Second)
	// A lone surrogate decodes to U+FFFD: answered, no panic.
	h.api.pushRaw(`{"update_id":0,"message":{"message_id":80,"date":1,"chat":{"id":1003,"type":"private"},"from":{"id":1003,"is_bot":false,"first_name":"I"},"text":"bad \udc00 text"}}`)
	h.api.waitText(ivan.ID, "re: bad \uFFFD text", 10*time.Second)
	h.api.say(ivan.ID, ivan, "/settings lang klingon")
	h.api.waitText(ivan.ID, "/settings lang en|ru", 10*time.Second)
	h.api.say(ivan.ID, ivan, "/nosuchcommand with args")
	h.api.waitText(ivan.ID, "Неизвестная команда", 10*time.Second)
}

func TestPromptTooLongMakesNoJob(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxPromptBytes = 100 })
	h.api.say(alice.ID, alice, strings.Repeat("я", 60)) // 120 bytes
	h.api.waitText(alice.ID, "too long: 120 bytes; the limit is 100", 10*time.Second)
	if len(h.asker.reqs()) != 0 {
		t.Errorf("a job was made for a prompt over the limit")
	}
}

func TestRateLimitPerUser(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.RatePerMinute = 2 })
	h.asker.answer = echo
	for i := range 4 {
		h.api.say(alice.ID, alice, fmt.Sprintf("q%d", i))
		time.Sleep(300 * time.Millisecond)
	}
	h.api.waitText(alice.ID, "at most 2 a minute", 10*time.Second)
	h.api.say(bob.ID, bob, "other user")
	h.api.waitText(bob.ID, "re: other user", 10*time.Second)
	time.Sleep(300 * time.Millisecond)
	if n := len(h.asker.reqs()); n != 3 {
		t.Errorf("%d jobs, want 2 of alice and 1 of bob", n)
	}
	n := 0
	for _, m := range h.api.botMessages(alice.ID) {
		if strings.Contains(m.Visible, "too fast") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d rate-limit replies, want 1", n)
	}
}

func TestEveryFailureEndsWithAMessage(t *testing.T) {
	h := newHarness(t, nil)
	cases := []struct {
		err  error
		want string
	}{
		{&wire.Error{Code: wire.CodeBusy, Message: "queue full"}, "busy right now"},
		{&wire.Error{Code: wire.CodeNoCapacity, Message: "no worker"}, "temporarily unavailable"},
		{&wire.Error{Code: wire.CodeUnknownModel, Message: "nope"}, "The model tiny:latest is temporarily unavailable"},
		{&wire.Error{Code: wire.CodeInsufficient, Message: "poor"}, "/topup"},
		{fmt.Errorf("submit: %w: dial tcp: refused", client.ErrUnavailable), "temporarily unavailable"},
		{&submit.ErrPromptTooLong{Bytes: 9, Limit: 8}, "too long: 9 bytes"},
		{&wire.Error{Code: wire.CodeUnauthorized, Message: "bad token"}, "(reference "},
		{errors.New("something odd"), "(reference "},
	}
	for i, c := range cases {
		u := user{ID: int64(7000 + i), Lang: "en"}
		err := c.err
		h.asker.answer = func(*submit.Request) script { return script{Err: err} }
		h.api.say(u.ID, u, "q")
		m := h.api.waitText(u.ID, c.want, 10*time.Second)
		if strings.Contains(m.Visible, footerRule) {
			t.Errorf("a failure before any text came with a footer: %q", m.Visible)
		}
		if c.want == "(reference " {
			ref := regexp.MustCompile(`reference ([0-9A-F]{8})`).FindStringSubmatch(m.Visible)
			if ref == nil || !strings.Contains(h.logs.String(), "ref="+ref[1]) {
				t.Errorf("reference %v not in the log", ref)
			}
		}
	}
	// A worker that failed after retries, mid-answer: the partial text stays,
	// the footer says what happened.
	u := user{ID: 7100, Lang: "en"}
	h.asker.answer = func(*submit.Request) script {
		return script{Chunks: []string{"partial"}, Err: fmt.Errorf("%w: worker crashed", submit.ErrJobFailed)}
	}
	h.api.say(u.ID, u, "q")
	ms := h.api.waitFinal(u.ID, 10*time.Second)
	if m := ms[0]; body(m.Visible) != "partial" || !strings.Contains(footer(m.Visible), "failed after several attempts") {
		t.Errorf("failed mid-answer: %q", m.Visible)
	}
	// No model served at all.
	h.broker.mu.Lock()
	h.broker.models = nil
	h.broker.mu.Unlock()
	h.bot.cacheMu.Lock()
	h.bot.models = nil
	h.bot.cacheMu.Unlock()
	u = user{ID: 7200, Lang: "ru"}
	h.api.say(u.ID, u, "q")
	h.api.waitText(u.ID, "временно недоступен", 10*time.Second)
}

func TestStopCancelsTheRunningJob(t *testing.T) {
	h := newHarness(t, nil)
	h.asker.answer = func(*submit.Request) script {
		return script{Chunks: words(200, "s"), Every: 50 * time.Millisecond}
	}
	h.api.say(alice.ID, alice, "long")
	h.api.waitFor("the answer to start", 10*time.Second, func() bool { return len(h.api.draftsIn(alice.ID)) > 0 })
	h.api.say(alice.ID, alice, "another")
	h.api.waitText(alice.ID, "still answering", 10*time.Second)
	h.api.say(alice.ID, alice, "/stop")
	m := h.api.waitText(alice.ID, footerRule+"\nstopped", 10*time.Second)
	h.broker.mu.Lock()
	cancelled := append([]string(nil), h.broker.cancelled...)
	h.broker.mu.Unlock()
	if len(cancelled) != 1 || cancelled[0] != "0-job1" {
		t.Errorf("broker cancels: %v", cancelled)
	}
	if b := body(m.Visible); !strings.HasPrefix(b, "s0 s1") || strings.Contains(b, "s199") {
		t.Errorf("stopped answer: %q", b)
	}
	h.api.say(alice.ID, alice, "/stop")
	h.api.waitText(alice.ID, "no answer to stop", 10*time.Second)
}

func TestQueuePositionShownWhileWaiting(t *testing.T) {
	h := newHarness(t, nil)
	h.asker.answer = func(*submit.Request) script {
		return script{Position: 2, Wait: 2500 * time.Millisecond, Chunks: []string{"finally"}}
	}
	h.api.say(alice.ID, alice, "q")
	ms := h.api.waitFinal(alice.ID, 15*time.Second)
	m := ms[0]
	// A private chat: the position shows in the draft, the answer in the message.
	if ds := h.api.draftsIn(alice.ID); len(ds) == 0 || ds[0].Visible != "You are 3rd in line…" || body(m.Visible) != "finally" {
		t.Errorf("drafts %+v, message %q", ds, m.Visible)
	}
	if n := len(h.api.callsTo("sendChatAction", alice.ID)); n < 1 {
		t.Errorf("no typing action while queued")
	}
}

func TestCatalogueComplete(t *testing.T) {
	verbs := regexp.MustCompile(`%[-+# 0]*[0-9]*(?:\.[0-9]+)?[a-zA-Z%]`)
	base := catalogue[languages[0]]
	for _, lang := range languages {
		cat := catalogue[lang]
		if cat == nil {
			t.Errorf("no catalogue for %s", lang)
			continue
		}
		for k, v := range base {
			lv, ok := cat[k]
			if !ok || strings.TrimSpace(lv) == "" {
				t.Errorf("%s: key %q missing", lang, k)
				continue
			}
			if a, b := verbs.FindAllString(v, -1), verbs.FindAllString(lv, -1); strings.Join(a, "") != strings.Join(b, "") {
				t.Errorf("%s: key %q has placeholders %v, English %v", lang, k, b, a)
			}
		}
		for k := range cat {
			if _, ok := base[k]; !ok {
				t.Errorf("%s: key %q is not in %s", lang, k, languages[0])
			}
		}
	}
	for _, c := range append(append([]string{}, publicCommands...), adminCommands...) {
		if _, ok := base["cmd."+c]; !ok {
			t.Errorf("command %s has no description", c)
		}
	}
	for _, lang := range languages {
		if ordinal(lang, 3) == "" {
			t.Errorf("no ordinal in %s", lang)
		}
	}
	if ordinal("en", 3) != "3rd" || ordinal("en", 11) != "11th" || ordinal("en", 22) != "22nd" || ordinal("ru", 3) != "3-й" {
		t.Errorf("ordinals: %s %s %s %s", ordinal("en", 3), ordinal("en", 11), ordinal("en", 22), ordinal("ru", 3))
	}
}
