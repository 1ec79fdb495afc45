package bot

import (
	"strings"
	"testing"
	"time"

	"github.com/cocoon-network/cocoon/submit"
	"github.com/cocoon-network/cocoon/wire"
)

// echo answers "re: <last user message>".
func echo(r *submit.Request) script {
	return script{Chunks: []string{"re: " + r.Messages[len(r.Messages)-1].Content}}
}

// contents are the messages' contents, "role:content".
func contents(msgs []wire.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.Role+":"+m.Content)
	}
	return out
}

func TestBuildMessagesDropsOldestFirst(t *testing.T) {
	turns := []Turn{ // newest first
		{User: "q3", Answer: strings.Repeat("c", 300)},
		{User: "q2", Answer: strings.Repeat("b", 300)},
		{User: "q1", Answer: strings.Repeat("a", 300)},
	}
	cases := []struct {
		budget    int
		wantUsers []string
	}{
		{10000, []string{"q1", "q2", "q3", "now"}},
		{250, []string{"q2", "q3", "now"}},
		{150, []string{"q3", "now"}},
		{10, []string{"now"}},
	}
	for _, c := range cases {
		msgs := buildMessages("sys", turns, "now", c.budget)
		if msgs[0].Role != "system" || msgs[len(msgs)-1].Content != "now" {
			t.Errorf("budget %d: %v", c.budget, contents(msgs))
		}
		var users []string
		for _, m := range msgs {
			if m.Role == "user" {
				users = append(users, m.Content)
			}
		}
		if strings.Join(users, ",") != strings.Join(c.wantUsers, ",") {
			t.Errorf("budget %d: users %v, want %v", c.budget, users, c.wantUsers)
		}
	}
}

func TestForumTopicsKeepSeparateHistories(t *testing.T) {
	h := newHarness(t, nil)
	h.asker.answer = echo
	const forum = -100500
	h.api.setChatType(forum, "supergroup")
	topic := func(thread int, text string) {
		h.api.push(h.api.message(forum, alice, "@cocoon_test_bot "+text,
			map[string]any{"message_thread_id": thread, "is_topic_message": true}))
	}
	topic(10, "alpha")
	h.api.waitText(forum, "re: alpha", 10*time.Second)
	topic(20, "beta")
	h.api.waitText(forum, "re: beta", 10*time.Second)
	topic(10, "again")
	h.api.waitText(forum, "re: again", 10*time.Second)
	topic(20, "more")
	h.api.waitText(forum, "re: more", 10*time.Second)

	reqs := h.asker.reqs()
	if got := strings.Join(contents(reqs[2].Messages), "|"); got != "user:alpha|assistant:re: alpha|user:again" {
		t.Errorf("topic 10 history: %s", got)
	}
	if got := strings.Join(contents(reqs[3].Messages), "|"); got != "user:beta|assistant:re: beta|user:more" {
		t.Errorf("topic 20 history: %s", got)
	}
	for _, m := range h.api.botMessages(forum) {
		if m.Thread != 10 && m.Thread != 20 {
			t.Errorf("answer %q sent outside the topics (thread %d)", m.Visible, m.Thread)
		}
	}
}

func TestRestartKeepsHistoryAndSettings(t *testing.T) {
	h := newHarness(t, nil)
	h.asker.answer = echo
	h.api.say(ivan.ID, ivan, "/settings prompt Be brief.")
	h.api.waitText(ivan.ID, "Системный промпт задан", 10*time.Second)
	h.api.say(ivan.ID, ivan, "/settings lang en")
	h.api.waitText(ivan.ID, "Language: English", 10*time.Second)
	h.api.say(ivan.ID, ivan, "one")
	h.api.waitText(ivan.ID, "re: one", 10*time.Second)

	h.stop()
	h.start() // a new Bot on the same Redis

	h.api.say(ivan.ID, ivan, "two")
	m := h.api.waitText(ivan.ID, "re: two", 10*time.Second)
	reqs := h.asker.reqs()
	got := strings.Join(contents(reqs[len(reqs)-1].Messages), "|")
	if got != "system:Be brief.|user:one|assistant:re: one|user:two" {
		t.Errorf("after a restart the job got %s", got)
	}
	h.api.waitFor("the final footer", 5*time.Second, func() bool {
		ms := h.api.botMessages(ivan.ID)
		return strings.Contains(ms[len(ms)-1].Visible, "tokens")
	})
	_ = m
}

func TestReplyToAnEarlierAnswerContinuesThatBranch(t *testing.T) {
	h := newHarness(t, nil)
	h.asker.answer = echo
	h.api.say(alice.ID, alice, "first")
	a1 := h.api.waitText(alice.ID, "re: first", 10*time.Second)
	h.api.say(alice.ID, alice, "second")
	h.api.waitText(alice.ID, "re: second", 10*time.Second)

	// Reply to the first answer: the conversation forks from there.
	reply := h.api.message(alice.ID, alice, "fork", map[string]any{
		"reply_to_message": map[string]any{"message_id": a1.ID, "date": 1, "from": h.api.me,
			"chat": map[string]any{"id": alice.ID, "type": "private"}, "text": a1.Visible}})
	h.api.push(reply)
	h.api.waitText(alice.ID, "re: fork", 10*time.Second)
	h.api.say(alice.ID, alice, "next")
	h.api.waitText(alice.ID, "re: next", 10*time.Second)

	reqs := h.asker.reqs()
	if got := strings.Join(contents(reqs[2].Messages), "|"); got != "user:first|assistant:re: first|user:fork" {
		t.Errorf("fork: %s", got)
	}
	if got := strings.Join(contents(reqs[3].Messages), "|"); got != "user:first|assistant:re: first|user:fork|assistant:re: fork|user:next" {
		t.Errorf("after the fork: %s", got)
	}

	h.api.say(alice.ID, alice, "/reset")
	h.api.waitText(alice.ID, "New conversation", 10*time.Second)
	h.api.say(alice.ID, alice, "fresh")
	h.api.waitText(alice.ID, "re: fresh", 10*time.Second)
	reqs = h.asker.reqs()
	if got := strings.Join(contents(reqs[4].Messages), "|"); got != "user:fresh" {
		t.Errorf("after /reset: %s", got)
	}
}
