package bot

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	tele "gopkg.in/telebot.v3"

	"github.com/cocoon-network/cocoon/submit"
	"github.com/cocoon-network/cocoon/wire"
)

// buttons returns the inline keyboard of a message: text -> callback data.
func buttons(t *testing.T, m fakeMsg) map[string]string {
	t.Helper()
	var mk tele.ReplyMarkup
	if err := json.Unmarshal([]byte(m.Markup), &mk); err != nil {
		t.Fatalf("reply_markup %q: %v", m.Markup, err)
	}
	out := map[string]string{}
	for _, row := range mk.InlineKeyboard {
		for _, b := range row {
			out[b.Text] = b.Data
		}
	}
	return out
}

// press pushes a callback query from u on message m.
func (h *harness) press(u user, m fakeMsg, data string) {
	h.api.push(map[string]any{"callback_query": map[string]any{
		"id": "cb" + data, "from": u.json(), "chat_instance": "x", "data": data,
		"message": map[string]any{"message_id": m.ID, "date": 1, "from": h.api.me, "text": m.Visible,
			"chat": map[string]any{"id": m.Chat, "type": h.api.chatType(m.Chat)}}}})
}

// callbackAnswers returns the texts of answerCallbackQuery calls.
func (h *harness) callbackAnswers() []string {
	var out []string
	for _, c := range h.api.callsTo("answerCallbackQuery", 0) {
		out = append(out, str(c.Params, "text"))
	}
	return out
}

func twoModels(h *harness) {
	h.broker.mu.Lock()
	h.broker.models = []wire.ModelInfo{{Name: "tiny:latest"}, {Name: "big:70b"}}
	h.broker.mu.Unlock()
}

func TestModelChoiceIsPerUser(t *testing.T) {
	h := newHarness(t, nil)
	twoModels(h)
	h.asker.answer = func(r *submit.Request) script { return script{Chunks: []string{"model " + r.Model}} }

	h.api.say(alice.ID, alice, "/model")
	kb := h.api.waitText(alice.ID, "Choose a model", 10*time.Second)
	bs := buttons(t, kb)
	if len(bs) != 2 || bs["big:70b"] == "" {
		t.Fatalf("keyboard %v", bs)
	}
	h.press(alice, kb, bs["big:70b"])
	h.api.waitText(alice.ID, "Model set: big:70b", 10*time.Second)

	h.api.say(bob.ID, bob, "hi")
	h.api.waitText(bob.ID, "model tiny:latest", 10*time.Second)
	h.api.say(alice.ID, alice, "hi")
	h.api.waitText(alice.ID, "model big:70b", 10*time.Second)

	// By name too; a name the pool does not serve shows the keyboard.
	h.api.say(bob.ID, bob, "/model big:70b")
	h.api.waitText(bob.ID, "Model set: big:70b", 10*time.Second)
	h.api.say(alice.ID, alice, "/model no-such-model ;DROP")
	h.api.waitFor("a second keyboard", 10*time.Second, func() bool {
		n := 0
		for _, m := range h.api.botMessages(alice.ID) {
			if strings.Contains(m.Visible, "Choose a model. Now: big:70b") {
				n++
			}
		}
		return n == 1
	})
}

func TestStaleAndJunkCallbacks(t *testing.T) {
	h := newHarness(t, nil)
	twoModels(h)
	h.api.say(alice.ID, alice, "/model")
	kb := h.api.waitText(alice.ID, "Choose a model", 10*time.Second)
	data := buttons(t, kb)["big:70b"]
	h.broker.mu.Lock()
	h.broker.models = h.broker.models[:1] // big:70b is gone
	h.broker.mu.Unlock()
	h.bot.cacheMu.Lock()
	h.bot.models = nil
	h.bot.cacheMu.Unlock()
	junk := []string{data, "zzz", "m:", "m:" + strings.Repeat("f", 80), "l:xx", "p:nope", ":", "\xff\xfe",
		"s:", "s:abc", "s:007", "s:-50", "s:1e3", "s:99999999999999999999"}
	for _, d := range junk {
		h.press(alice, kb, d)
	}
	h.api.waitFor("an answer to every press", 10*time.Second, func() bool { return len(h.callbackAnswers()) == len(junk) })
	for _, a := range h.callbackAnswers() {
		if !strings.Contains(a, "expired") {
			t.Errorf("callback answered %q", a)
		}
	}
	st, _ := h.bot.st.userSettings(context.Background(), alice.ID)
	if st.Model != "" || st.Lang != "" {
		t.Errorf("a junk callback changed settings: %+v", st)
	}
}

func TestGroupSettingsOnlyByGroupAdmins(t *testing.T) {
	h := newHarness(t, nil)
	twoModels(h)
	h.asker.answer = func(r *submit.Request) script { return script{Chunks: []string{"model " + r.Model}} }
	const group = -200
	h.api.setChatType(group, "supergroup")
	h.api.setStatus(group, alice.ID, "administrator")

	h.api.say(group, bob, "/model")
	kb := h.api.waitText(group, "Choose a model", 10*time.Second)
	h.press(bob, kb, buttons(t, kb)["big:70b"])
	h.api.waitFor("a refusal", 10*time.Second, func() bool {
		a := h.callbackAnswers()
		return len(a) == 1 && strings.Contains(a[0], "admins")
	})
	h.api.say(group, bob, "/settings prompt You are a pirate.")
	h.api.waitText(group, "Only this group's admins", 10*time.Second)

	h.press(alice, kb, buttons(t, kb)["big:70b"])
	h.api.waitText(group, "Model for this group set: big:70b", 10*time.Second)
	h.api.say(group, bob, "@cocoon_test_bot hi")
	h.api.waitText(group, "model big:70b", 10*time.Second)
	// Bob's own model in private chats is untouched.
	h.api.say(bob.ID, bob, "hi")
	h.api.waitText(bob.ID, "model tiny:latest", 10*time.Second)
}

func TestCommandsRegisteredPerLanguage(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Admins = []int64{alice.ID} })
	h.api.mu.Lock()
	defer h.api.mu.Unlock()
	en := h.api.commands[`{"type":"default"}|`]
	ru := h.api.commands[`{"type":"default"}|ru`]
	adm := h.api.commands[`{"chat_id":1001,"type":"chat"}|`]
	if len(en) != len(publicCommands) || len(ru) != len(publicCommands) || len(adm) != len(publicCommands)+len(adminCommands) {
		t.Fatalf("menus: en %d, ru %d, admin %d; all: %v", len(en), len(ru), len(adm), h.api.commands)
	}
	if en[0].Description == ru[0].Description {
		t.Errorf("Russian menu not translated: %q", ru[0].Description)
	}
}

func TestAdminCommands(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Admins = []int64{alice.ID} })
	h.api.say(bob.ID, bob, "/pool")
	h.api.waitText(bob.ID, "Unknown command", 10*time.Second)
	h.api.say(alice.ID, alice, "/pool")
	h.api.waitText(alice.ID, "w1 (w1)\nnot attested", 10*time.Second)
	h.api.say(alice.ID, alice, "/ban nonsense")
	h.api.waitText(alice.ID, "Usage: /ban", 10*time.Second)
	h.api.say(alice.ID, alice, "/ban 1002")
	h.api.waitText(alice.ID, "User 1002 is banned", 10*time.Second)
	h.api.say(bob.ID, bob, "hello?")
	h.api.say(alice.ID, alice, "/stats")
	st := h.api.waitText(alice.ID, "Updates:", 10*time.Second)
	if len(h.asker.reqs()) != 0 {
		t.Errorf("a banned user got an answer")
	}
	if !strings.Contains(st.Visible, "Users: 2") {
		t.Errorf("stats: %q", st.Visible)
	}
	h.api.say(alice.ID, alice, "/unban tg:1002")
	h.api.waitText(alice.ID, "no longer banned", 10*time.Second)
	h.api.say(bob.ID, bob, "hello")
	h.api.waitFinal(bob.ID, 10*time.Second)
	h.api.say(alice.ID, alice, "/price")
	h.api.waitText(alice.ID, "No prices are configured", 10*time.Second)
}
