package bot

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// onAdmin runs an admin command (the sender is in COCOON_BOT_ADMINS).
func (b *Bot) onAdmin(ctx context.Context, in incoming, lang string) {
	switch in.Command {
	case "pool":
		b.say(ctx, in, b.poolText(ctx, lang))
	case "stats":
		m, users, err := b.st.stats(ctx)
		if err != nil {
			b.say(ctx, in, b.internal(lang, "stats", err))
			return
		}
		b.mu.Lock()
		running := len(b.running)
		b.mu.Unlock()
		n := func(k string) string { return first(m[k], "0") }
		b.say(ctx, in, T(lang, "stats", n("updates"), n("prompts"), n("answers"), n("failures"), users, running))
	case "ban", "unban":
		id, ok := banTarget(in)
		if !ok {
			b.say(ctx, in, T(lang, "ban_usage"))
			return
		}
		if err := b.st.ban(ctx, id, in.Command == "ban"); err != nil {
			b.say(ctx, in, b.internal(lang, in.Command, err))
			return
		}
		key := "banned_done"
		if in.Command == "unban" {
			key = "unbanned_done"
		}
		b.log.Info("admin "+in.Command, "admin", in.User, "user", id)
		b.say(ctx, in, T(lang, key, id))
	case "price":
		b.cmdPrice(ctx, in, lang)
	case "refund":
		b.cmdRefund(ctx, in, lang)
	}
}

// banTarget is the user id in the arguments ("123" or "tg:123").
func banTarget(in incoming) (int64, bool) {
	a := strings.TrimPrefix(strings.TrimSpace(in.Args), "tg:")
	id, err := strconv.ParseInt(a, 10, 64)
	if err != nil || id == 0 {
		return 0, false
	}
	return id, true
}

// poolText lists the live workers.
func (b *Bot) poolText(ctx context.Context, lang string) string {
	if b.cfg.Pool == nil {
		return T(lang, "pool_unknown")
	}
	ws, err := b.cfg.Pool(ctx)
	if err != nil {
		b.log.Warn("pool", "err", err)
		return T(lang, "pool_unknown")
	}
	if len(ws) == 0 {
		return T(lang, "pool_empty")
	}
	sort.Slice(ws, func(i, j int) bool { return ws[i].ID < ws[j].ID })
	var sb strings.Builder
	for i, w := range ws {
		if i > 0 {
			sb.WriteString("\n\n")
		}
		name := w.Name
		if name == "" {
			name = w.ID
		}
		att := T(lang, "attested")
		if !w.Attested {
			att = T(lang, "not_attested")
		}
		var models []string
		for _, m := range w.Models {
			models = append(models, m.Name)
		}
		fmt.Fprintf(&sb, "%s (%s)\n%s · %d/%d", name, w.ID, att, w.Running, w.MaxJobs)
		if w.Draining {
			sb.WriteString(" · draining")
		}
		if w.SeenMs > 0 {
			fmt.Fprintf(&sb, " · %s", time.Since(time.UnixMilli(w.SeenMs)).Round(time.Second))
		}
		sb.WriteString("\n" + strings.Join(models, ", "))
	}
	return truncate16(sb.String(), MaxMessage-10)
}
