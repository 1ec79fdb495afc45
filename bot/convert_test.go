package bot

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	tele "gopkg.in/telebot.v3"
)

var testMe = &tele.User{ID: 777, IsBot: true, Username: "cocoon_test_bot"}

func TestClassify(t *testing.T) {
	cases := []struct {
		name, update string
		want         kind
		wantCmd      string
		wantPrompt   string
		wantKey      string
	}{
		{"text", `{"message":{"message_id":1,"chat":{"id":5,"type":"private"},"from":{"id":5},"text":"hi"}}`, prompt, "", "hi", ""},
		{"command", `{"message":{"message_id":1,"chat":{"id":5,"type":"private"},"from":{"id":5},"text":"/Model@cocoon_test_bot  big:1 "}}`, command, "model", "", ""},
		{"other bot's command", `{"message":{"message_id":1,"chat":{"id":5,"type":"private"},"from":{"id":5},"text":"/model@else_bot"}}`, ignore, "", "", ""},
		{"slash text", `{"message":{"message_id":1,"chat":{"id":5,"type":"private"},"from":{"id":5},"text":"/ not a command"}}`, prompt, "", "/ not a command", ""},
		{"photo", `{"message":{"message_id":1,"chat":{"id":5,"type":"private"},"from":{"id":5},"photo":[{"file_id":"x"}]}}`, reply, "", "", "non_text"},
		{"whitespace", `{"message":{"message_id":1,"chat":{"id":5,"type":"private"},"from":{"id":5},"text":"  \n "}}`, reply, "", "", "empty"},
		{"bot", `{"message":{"message_id":1,"chat":{"id":5,"type":"private"},"from":{"id":5,"is_bot":true},"text":"hi"}}`, ignore, "", "", ""},
		{"channel", `{"message":{"message_id":1,"chat":{"id":-5,"type":"channel"},"text":"hi"}}`, ignore, "", "", ""},
		{"no sender", `{"message":{"message_id":1,"chat":{"id":5,"type":"private"},"text":"hi"}}`, ignore, "", "", ""},
		{"group chatter", `{"message":{"message_id":1,"chat":{"id":-5,"type":"group"},"from":{"id":5},"text":"hi all"}}`, ignore, "", "", ""},
		{"group mention", `{"message":{"message_id":1,"chat":{"id":-5,"type":"group"},"from":{"id":5},"text":"@COCOON_test_bot hi"}}`, prompt, "", "hi", ""},
		{"group command", `{"message":{"message_id":1,"chat":{"id":-5,"type":"supergroup"},"from":{"id":5},"text":"/reset"}}`, command, "reset", "", ""},
		{"group unknown command", `{"message":{"message_id":1,"chat":{"id":-5,"type":"supergroup"},"from":{"id":5},"text":"/roll"}}`, ignore, "", "", ""},
		{"anonymous admin", `{"message":{"message_id":1,"chat":{"id":-5,"type":"supergroup"},"sender_chat":{"id":-5,"type":"supergroup"},"from":{"id":1087968824,"is_bot":true},"text":"/settings lang ru"}}`, command, "settings", "", ""},
		{"channel in group", `{"message":{"message_id":1,"chat":{"id":-5,"type":"supergroup"},"sender_chat":{"id":-9,"type":"channel"},"text":"@cocoon_test_bot hi"}}`, ignore, "", "", ""},
		{"service", `{"message":{"message_id":1,"chat":{"id":5,"type":"private"},"from":{"id":5},"pinned_message":{"message_id":2}}}`, ignore, "", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var u tele.Update
			if err := json.Unmarshal([]byte(c.update), &u); err != nil {
				t.Fatal(err)
			}
			in := classify(u.Message, testMe)
			if in.Kind != c.want || in.Command != c.wantCmd || in.Prompt != c.wantPrompt || in.Key != c.wantKey {
				t.Errorf("got %+v", in)
			}
		})
	}
}

var jobUserRe = regexp.MustCompile(`^tg:-?[0-9]+$`)

// FuzzUpdateToJob: any update, any text (invalid UTF-8 included) becomes
// nothing, a reply, a command or a valid job; never a panic.
func FuzzUpdateToJob(f *testing.F) {
	f.Add([]byte(`{"message":{"message_id":1,"chat":{"id":5,"type":"private"},"from":{"id":5},"text":"hi"}}`), "")
	f.Add([]byte(`{"message":{"message_id":1,"chat":{"id":-5,"type":"supergroup"},"from":{"id":5},"is_topic_message":true,"message_thread_id":3}}`), "@cocoon_test_bot \xff\xfe")
	f.Add([]byte(`{"message":{"message_id":1,"chat":{"id":-5,"type":"group"},"from":{"id":5},"reply_to_message":{"message_id":2,"from":{"id":777}}}}`), "/stop@cocoon_test_bot now")
	f.Add([]byte(`{"edited_message":{"message_id":1}}`), "x")
	f.Add([]byte(`{"message":{"chat":{"type":"private"}}}`), "/")
	cfg := &Config{Token: "t", Redis: nil}
	cfg.ContextTokens, cfg.HistoryShare, cfg.MaxTokens = 512, 0.75, 64
	turns := []Turn{{User: "earlier", Answer: strings.Repeat("a", 500)}, {User: "first", Answer: "b"}}
	f.Fuzz(func(t *testing.T, update []byte, text string) {
		var u tele.Update
		if json.Unmarshal(update, &u) != nil {
			return
		}
		if u.Message != nil && text != "" {
			u.Message.Text = text
		}
		in := classify(u.Message, testMe)
		switch in.Kind {
		case ignore:
		case reply:
			if _, ok := catalogue["en"][in.Key]; !ok {
				t.Fatalf("reply with unknown key %q", in.Key)
			}
		case command:
			if !regexp.MustCompile(`^[a-z0-9_]{1,32}$`).MatchString(in.Command) || !utf8.ValidString(in.Args) {
				t.Fatalf("command %q args %q", in.Command, in.Args)
			}
		case prompt:
			if !utf8.ValidString(in.Prompt) || strings.TrimSpace(in.Prompt) == "" {
				t.Fatalf("bad prompt %q", in.Prompt)
			}
			req := requestFor(in, "tiny:latest", "sys", turns, cfg)
			if !jobUserRe.MatchString(req.User) || req.Model != "tiny:latest" || req.MaxTokens != 64 {
				t.Fatalf("bad request %+v", req)
			}
			msgs := req.Messages
			if msgs[0].Role != "system" || msgs[len(msgs)-1].Role != "user" || msgs[len(msgs)-1].Content != in.Prompt {
				t.Fatalf("bad conversation %+v", msgs)
			}
			for i := 1; i+1 < len(msgs); i += 2 {
				if msgs[i].Role != "user" || msgs[i+1].Role != "assistant" {
					t.Fatalf("turns out of order: %+v", msgs)
				}
			}
			if in.Place.Chat == 0 || in.Conv.Chat != in.Place.Chat || in.Conv.Thread != in.Place.Thread {
				t.Fatalf("bad place %+v %+v", in.Place, in.Conv)
			}
		default:
			t.Fatalf("unknown kind %d", in.Kind)
		}
	})
}
