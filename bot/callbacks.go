package bot

import (
	"context"
	"strings"
	"unicode/utf8"

	tele "gopkg.in/telebot.v3"
)

// onCallback handles a button press. Data is untrusted: anything that does
// not parse, or names a model no longer served, is answered "expired".
//
//	m:<model hash>   set the model (modelHash)
//	l:<lang>         set the language
//	p:clear          remove the system prompt
//	s:<stars>        send a Stars invoice for that many Stars (/topup)
func (b *Bot) onCallback(ctx context.Context, c *tele.Callback) {
	if c.Sender == nil || c.Sender.IsBot || c.Message == nil || c.Message.Chat == nil {
		b.tg.answerCallback(ctx, c, "")
		return
	}
	if banned, err := b.st.banned(ctx, c.Sender.ID); err == nil && banned {
		b.tg.answerCallback(ctx, c, "")
		return
	}
	chat := c.Message.Chat
	in := incoming{User: c.Sender.ID, UserLang: c.Sender.LanguageCode, Private: chat.Type == tele.ChatPrivate,
		Place: place{Chat: chat.ID, Group: chat.Type != tele.ChatPrivate}, Conv: conv{Chat: chat.ID}}
	if c.Message.TopicMessage {
		in.Place.Thread, in.Conv.Thread = c.Message.ThreadID, c.Message.ThreadID
	}
	if in.Private && in.User != chat.ID {
		b.tg.answerCallback(ctx, c, "")
		return
	}
	rs := b.resolve(ctx, in)
	lang := rs.Lang
	stale := func() { b.tg.answerCallback(ctx, c, T(lang, "button_stale")) }

	data := c.Data
	if len(data) > 64 || !utf8.ValidString(data) {
		stale()
		return
	}
	kind, arg, _ := strings.Cut(data, ":")
	var done string
	switch kind {
	case "m":
		ms, err := b.modelList(ctx)
		if err != nil {
			b.tg.answerCallback(ctx, c, b.describe(err, lang, "", 0))
			return
		}
		model := ""
		for _, m := range ms {
			if modelHash(m.Name) == arg {
				model = m.Name
			}
		}
		if model == "" {
			stale()
			return
		}
		done = b.setModel(ctx, in, lang, model)
	case "l":
		if !knownLang(arg) {
			stale()
			return
		}
		done = b.setSetting(ctx, in, lang, fieldLang, arg, T(arg, "lang_set"))
	case "p":
		if arg != "clear" {
			stale()
			return
		}
		done = b.setSetting(ctx, in, lang, fieldSystem, "", T(lang, "prompt_cleared"))
	case "s":
		// A Stars amount of /topup: the invoice is the answer; the buttons
		// stay for another top-up.
		b.tg.answerCallback(ctx, c, b.onStarsButton(ctx, in, lang, arg))
		return
	default:
		stale()
		return
	}
	b.tg.answerCallback(ctx, c, done)
	// Replace the keyboard message by the outcome, so old buttons go away.
	if err := b.tg.editRetry(ctx, in.Place, c.Message.ID, plainText(done), nil); err != nil && ctx.Err() == nil {
		b.log.Debug("edit keyboard message", "chat", chat.ID, "err", b.tg.redact(err))
	}
}
