package bot

import (
	"context"
	"errors"
	"strings"

	"github.com/cocoon-network/cocoon/apikey"
)

// cmdAPIKey answers /apikey (list), /apikey new (create; the secret is
// shown once, in a private chat only) and /apikey revoke ID. Keys belong to
// tg:<user id> and bill that user's balance. The secret is never logged.
func (b *Bot) cmdAPIKey(ctx context.Context, in incoming, lang string) {
	verb, arg, _ := strings.Cut(strings.TrimSpace(in.Args), " ")
	verb, arg = strings.ToLower(verb), strings.TrimSpace(arg)
	if verb == "new" && !in.Private {
		b.say(ctx, in, T(lang, "apikey_private", "@"+b.me.Username))
		return
	}
	if !b.privateOnly(ctx, in, lang) {
		return
	}
	if b.cfg.Keys == nil {
		b.say(ctx, in, T(lang, "apikey_unavailable"))
		return
	}
	owner := userID(in.User)
	switch {
	case verb == "" || verb == "list":
		keys, err := b.cfg.Keys.List(ctx, owner)
		if err != nil {
			b.say(ctx, in, b.internal(lang, "apikey list", err))
			return
		}
		if len(keys) == 0 {
			b.say(ctx, in, T(lang, "apikey_none"))
			return
		}
		var sb strings.Builder
		sb.WriteString(T(lang, "apikey_list"))
		for _, k := range keys {
			state := T(lang, "apikey_active")
			if !k.Active() {
				state = T(lang, "apikey_revoked", k.Revoked.UTC().Format("2006-01-02"))
			}
			sb.WriteString("\n" + k.ID + " · " + T(lang, "apikey_created", k.Created.UTC().Format("2006-01-02")) + " · " + state)
		}
		sb.WriteString("\n\n" + T(lang, "apikey_usage"))
		b.say(ctx, in, truncate16(sb.String(), MaxMessage-10))
	case verb == "new" && arg == "":
		id, key, err := b.cfg.Keys.Create(ctx, owner)
		switch {
		case errors.Is(err, apikey.ErrTooManyKeys):
			b.say(ctx, in, T(lang, "apikey_too_many"))
		case err != nil:
			b.say(ctx, in, b.internal(lang, "apikey create", err))
		default:
			b.log.Info("api key created", "user", in.User, "key", id)
			b.say(ctx, in, T(lang, "apikey_created_once", id, key))
		}
	case verb == "revoke" && arg != "" && !strings.ContainsAny(arg, " \n\t"):
		err := b.cfg.Keys.Revoke(ctx, owner, arg)
		switch {
		case errors.Is(err, apikey.ErrUnknown):
			b.say(ctx, in, T(lang, "apikey_unknown"))
		case err != nil:
			b.say(ctx, in, b.internal(lang, "apikey revoke", err))
		default:
			b.log.Info("api key revoked", "user", in.User, "key", arg)
			b.say(ctx, in, T(lang, "apikey_revoked_done", arg))
		}
	default:
		b.say(ctx, in, T(lang, "apikey_usage"))
	}
}
