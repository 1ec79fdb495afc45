package bot

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// cmd pushes a command the way Telegram marks it: a bot_command entity of
// n characters at offset 0.
func (f *fakeAPI) cmd(chat int64, u user, text string, n int) {
	f.push(f.message(chat, u, text, map[string]any{"entities": []any{
		map[string]any{"type": "bot_command", "offset": 0, "length": n}}}))
}

func TestCommandsWithJunkArguments(t *testing.T) {
	h := newHarness(t, nil)
	h.asker.answer = echo
	steps := []struct {
		text string
		n    int // bot_command entity length; 0: none
		want string
	}{
		{"/help!!!", 5, "Write a question"},                  // junk glued on: still /help, not a prompt
		{"/reset,now please", 6, "New conversation started"}, // junk glued on
		{"/start   junk\n\tjunk", 6, "Hi! I am Cocoon"},
		{"/nosuch!!", 7, "Unknown command"},
		{"/settings lang", 9, "Usage: /settings"},
		{"/settings \x00\x01 junk", 9, "Usage: /settings"},
		{"/ban 42", 4, "Unknown command"}, // not an admin: admin commands stay hidden
		{"/model " + strings.Repeat("z", 3000), 6, "Choose a model"},
	}
	for _, s := range steps {
		before := len(h.api.botMessages(alice.ID))
		if s.n > 0 {
			h.api.cmd(alice.ID, alice, s.text, s.n)
		} else {
			h.api.say(alice.ID, alice, s.text)
		}
		h.api.waitFor(fmt.Sprintf("the reply to %.20q", s.text), 10*time.Second, func() bool {
			ms := h.api.botMessages(alice.ID)
			return len(ms) > before && strings.Contains(ms[len(ms)-1].Visible, s.want)
		})
	}
	// In a group: a junk-suffixed command of ours is answered, another
	// bot's or an unknown one is not.
	const group = -800
	h.api.setChatType(group, "supergroup")
	h.api.cmd(group, alice, "/help@cocoon_test_bot!!", 21)
	h.api.cmd(group, alice, "/other!!", 6)
	h.api.cmd(group, alice, "/help@other_bot!!", 15)
	h.api.waitText(group, "Write a question", 10*time.Second)
	// A marker proves the group's other commands were handled before it.
	h.api.say(bob.ID, bob, "/help")
	h.api.waitText(bob.ID, "Write a question", 10*time.Second)
	time.Sleep(300 * time.Millisecond)
	if n := len(h.api.botMessages(group)); n != 1 {
		t.Errorf("%d replies in the group, want 1", n)
	}
	if n := len(h.asker.reqs()); n != 0 {
		t.Errorf("%d commands became jobs", n)
	}
}

func TestPromptsFullOfEntitiesAndInvalidBytes(t *testing.T) {
	h := newHarness(t, nil)
	h.asker.answer = echo
	// 4096 characters under 2,000 entities, some with offsets past the end,
	// negative lengths, text mentions of the bot and of nobody.
	text := strings.Repeat("ab *c_ ", 586)[:4095] + "?"
	var ents []any
	for i := range 2000 {
		e := map[string]any{"type": []string{"bold", "italic", "url", "mention", "text_mention", "custom_emoji", "bot_command"}[i%7],
			"offset": (i * 7) % 5000, "length": (i % 9) - 2}
		switch i % 7 {
		case 4:
			e["user"] = map[string]any{"id": 777 + i%2, "is_bot": i%2 == 0, "first_name": "X"}
		case 5:
			e["custom_emoji_id"] = "e"
		}
		ents = append(ents, e)
	}
	h.api.push(h.api.message(alice.ID, alice, text, map[string]any{"entities": ents}))
	ms := h.api.waitFinal(alice.ID, 20*time.Second)
	if !strings.Contains(ms[0].Visible, "re: ab") {
		t.Errorf("private answer: %.40q", ms[0].Visible)
	}
	const group = -900
	h.api.setChatType(group, "supergroup")
	h.api.push(h.api.message(group, bob, "@cocoon_test_bot "+text[:4000], map[string]any{"entities": ents}))
	h.api.waitFinal(group, 20*time.Second)

	// Raw invalid UTF-8 bytes in the update's JSON: decoded as U+FFFD.
	h.api.pushRaw("{\"update_id\":0,\"message\":{\"message_id\":90,\"date\":1,\"chat\":{\"id\":1003,\"type\":\"private\"},\"from\":{\"id\":1003,\"is_bot\":false,\"first_name\":\"I\",\"language_code\":\"\xff\"},\"text\":\"raw \xff\xfe bytes\"}}")
	h.api.waitText(ivan.ID, "re: raw \uFFFD\uFFFD bytes", 10*time.Second)
	if n := len(h.asker.reqs()); n != 3 {
		t.Errorf("%d jobs, want 3", n)
	}
}
