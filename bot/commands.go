package bot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"

	tele "gopkg.in/telebot.v3"
)

// Commands, in menu order.
var (
	publicCommands = []string{"start", "help", "model", "reset", "stop", "settings",
		"balance", "topup", "usage", "verify", "apikey"}
	adminCommands = []string{"pool", "stats", "ban", "unban", "price", "refund"}
)

func knownCommand(name string) bool {
	name = strings.ToLower(name)
	for _, c := range publicCommands {
		if c == name {
			return true
		}
	}
	for _, c := range adminCommands {
		if c == name {
			return true
		}
	}
	return false
}

// menu is the command list of lang for setMyCommands.
func menu(lang string, admin bool) []tele.Command {
	names := publicCommands
	if admin {
		names = append(append([]string{}, publicCommands...), adminCommands...)
	}
	out := make([]tele.Command, 0, len(names))
	for _, n := range names {
		out = append(out, tele.Command{Text: n, Description: T(lang, "cmd."+n)})
	}
	return out
}

// registerCommands sets the command menus: English as the default, one per
// other language, and menus with the admin commands in each admin's chat.
// Failures are logged: the bot works without menus.
func (b *Bot) registerCommands(ctx context.Context) {
	set := func(cmds []tele.Command, scope tele.CommandScope, lang string) {
		if err := b.tg.lim.wait(ctx, 0, false); err != nil {
			return
		}
		opts := []any{cmds, scope}
		if lang != "" {
			opts = append(opts, lang)
		}
		if err := b.tele.SetCommands(opts...); err != nil {
			b.log.Warn("setMyCommands", "scope", scope.Type, "lang", lang, "err", b.tg.redact(err))
		}
	}
	for i, lang := range languages {
		code := lang
		if i == 0 {
			code = "" // the default for every language without its own menu
		}
		set(menu(lang, false), tele.CommandScope{Type: tele.CommandScopeDefault}, code)
		for id := range b.admins {
			set(menu(lang, true), tele.CommandScope{Type: tele.CommandScopeChat, ChatID: id}, code)
		}
	}
}

// onCommand runs a command.
func (b *Bot) onCommand(ctx context.Context, in incoming, rs resolved) {
	lang := rs.Lang
	switch c := in.Command; {
	case c == "start":
		b.say(ctx, in, T(lang, "start"))
	case c == "help":
		b.say(ctx, in, T(lang, "help"))
	case c == "model":
		b.cmdModel(ctx, in, rs)
	case c == "reset":
		if err := b.st.reset(ctx, in.Conv); err != nil {
			b.say(ctx, in, b.internal(lang, "reset", err))
			return
		}
		b.say(ctx, in, T(lang, "reset_done"))
	case c == "stop":
		if !b.stop(ctx, in) {
			b.say(ctx, in, T(lang, "stop_none"))
		}
	case c == "settings":
		b.cmdSettings(ctx, in, rs)
	case c == "balance":
		b.cmdBalance(ctx, in, lang)
	case c == "usage":
		b.cmdUsage(ctx, in, lang)
	case c == "topup":
		b.cmdTopup(ctx, in, lang)
	case c == "verify":
		b.cmdVerify(ctx, in, lang)
	case c == "apikey":
		b.cmdAPIKey(ctx, in, lang)
	case knownCommand(c) && b.isAdmin(in.User):
		b.onAdmin(ctx, in, lang)
	default:
		if in.Private {
			b.say(ctx, in, T(lang, "unknown_command"))
		}
	}
}

// modelHash names a model in callback data (64 bytes at most).
func modelHash(name string) string {
	h := sha256.Sum256([]byte(name))
	return hex.EncodeToString(h[:6])
}

// cmdModel sets the model named in the arguments, or shows a keyboard of
// the models the pool serves.
func (b *Bot) cmdModel(ctx context.Context, in incoming, rs resolved) {
	lang := rs.Lang
	ms, err := b.modelList(ctx)
	if err != nil {
		b.say(ctx, in, b.describe(err, lang, "", 0))
		return
	}
	if len(ms) == 0 {
		b.say(ctx, in, T(lang, "model_none"))
		return
	}
	if in.Args != "" {
		for _, m := range ms {
			if m.Name == in.Args {
				b.say(ctx, in, b.setModel(ctx, in, lang, m.Name))
				return
			}
		}
	}
	current := rs.Model
	if current == "" {
		current = T(lang, "model_default")
	}
	var rows [][]tele.InlineButton
	for _, m := range ms {
		label := m.Name
		if p := b.priceLabel(m.Name); p != "" {
			label += " · " + p
		}
		if m.Name == rs.Model {
			label = "✓ " + label
		}
		rows = append(rows, []tele.InlineButton{{Text: label, Data: "m:" + modelHash(m.Name)}})
	}
	b.sayMarkup(ctx, in, T(lang, "model_choose", current), &tele.ReplyMarkup{InlineKeyboard: rows})
}

// setModel sets the model of the user (private chats) or of the group (its
// admins only) and returns the message saying so.
func (b *Bot) setModel(ctx context.Context, in incoming, lang, model string) string {
	if !in.Private {
		if !b.isGroupAdmin(ctx, in) {
			return T(lang, "admins_only")
		}
		if err := b.st.setChat(ctx, in.Place.Chat, fieldModel, model); err != nil {
			return b.internal(lang, "set model", err)
		}
		return T(lang, "model_set_group", model)
	}
	if err := b.st.setUser(ctx, in.User, fieldModel, model); err != nil {
		return b.internal(lang, "set model", err)
	}
	return T(lang, "model_set", model)
}

// cmdSettings shows the settings or changes one:
// /settings lang en|ru, /settings prompt <text>, /settings prompt -.
func (b *Bot) cmdSettings(ctx context.Context, in incoming, rs resolved) {
	lang := rs.Lang
	verb, rest := in.Args, ""
	if i := strings.IndexAny(in.Args, " \n\t"); i >= 0 {
		verb, rest = in.Args[:i], in.Args[i+1:]
	}
	rest = strings.TrimSpace(rest)
	switch strings.ToLower(verb) {
	case "":
		b.showSettings(ctx, in, rs)
	case "lang", "language":
		l := strings.ToLower(rest)
		if !knownLang(l) {
			b.say(ctx, in, T(lang, "settings_usage"))
			return
		}
		b.say(ctx, in, b.setSetting(ctx, in, lang, fieldLang, l, T(l, "lang_set")))
	case "prompt", "system":
		switch {
		case rest == "":
			b.say(ctx, in, T(lang, "settings_usage"))
		case rest == "-":
			b.say(ctx, in, b.setSetting(ctx, in, lang, fieldSystem, "", T(lang, "prompt_cleared")))
		case len(rest) > b.cfg.MaxSystemBytes:
			b.say(ctx, in, T(lang, "prompt_too_long", b.cfg.MaxSystemBytes))
		default:
			b.say(ctx, in, b.setSetting(ctx, in, lang, fieldSystem, rest, T(lang, "prompt_set")))
		}
	default:
		b.say(ctx, in, T(lang, "settings_usage"))
	}
}

// setSetting changes a user's (or, by its admins, a group's) setting and
// returns ok, or the refusal.
func (b *Bot) setSetting(ctx context.Context, in incoming, lang, field, value, ok string) string {
	var err error
	if in.Private {
		err = b.st.setUser(ctx, in.User, field, value)
	} else {
		if !b.isGroupAdmin(ctx, in) {
			return T(lang, "admins_only")
		}
		err = b.st.setChat(ctx, in.Place.Chat, field, value)
	}
	if err != nil {
		return b.internal(lang, "set "+field, err)
	}
	return ok
}

func (b *Bot) showSettings(ctx context.Context, in incoming, rs resolved) {
	lang := rs.Lang
	model := rs.Model
	if model == "" {
		model = T(lang, "model_default")
	}
	system := rs.System
	if system == "" {
		system = T(lang, "none")
	}
	key := "settings"
	if !in.Private {
		key = "settings_group"
	}
	var langRow []tele.InlineButton
	for _, l := range languages {
		langRow = append(langRow, tele.InlineButton{Text: T(l, "lang.name"), Data: "l:" + l})
	}
	rows := [][]tele.InlineButton{langRow}
	if rs.System != "" {
		rows = append(rows, []tele.InlineButton{{Text: T(lang, "btn.clear_prompt"), Data: "p:clear"}})
	}
	b.sayMarkup(ctx, in, T(lang, key, T(lang, "lang.name"), model, truncate16(system, 300)),
		&tele.ReplyMarkup{InlineKeyboard: rows})
}
