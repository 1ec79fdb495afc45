package bot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	tele "gopkg.in/telebot.v3"

	"github.com/cocoon-network/cocoon/seal"
	"github.com/cocoon-network/cocoon/wire"
)

// Bot is a running Telegram frontend.
type Bot struct {
	cfg    Config
	tele   *tele.Bot
	tg     *tg
	st     *store
	log    *slog.Logger
	admins map[int64]bool
	me     *tele.User

	mu      sync.Mutex
	running map[conv]*job // the answer being streamed in each conversation

	cacheMu    sync.Mutex
	models     []wire.ModelInfo
	modelsAt   time.Time
	billingOnV bool // the broker bills (billingOn)
	billingAt  time.Time

	inflight sync.WaitGroup
}

// job is one answer in progress, for /stop.
type job struct {
	user int64

	mu      sync.Mutex
	id      string // the broker's job id once stored
	stopped bool
	cancel  context.CancelFunc
}

// New checks cfg and prepares a bot; nothing is sent until Run.
func New(cfg Config) (*Bot, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	b := &Bot{cfg: cfg, log: cfg.Logger, running: map[conv]*job{}, admins: map[int64]bool{},
		st: &store{rdb: cfg.Redis, ttl: cfg.HistoryTTL, box: seal.NewAtRest([32]byte(cfg.HistoryKey)), log: cfg.Logger}}
	for _, id := range cfg.Admins {
		b.admins[id] = true
	}
	tb, err := tele.NewBot(tele.Settings{URL: strings.TrimRight(cfg.APIURL, "/"), Token: cfg.Token,
		Client: cfg.HTTPClient, Offline: true, OnError: func(err error, _ tele.Context) {
			b.log.Warn("telegram", "err", b.tg.redact(err))
		}})
	if err != nil {
		return nil, err
	}
	b.tele = tb
	b.tg = &tg{b: tb, token: cfg.Token, log: cfg.Logger, drafts: cfg.Drafts,
		lim: newLimiter(cfg.ChatInterval, cfg.GroupInterval, cfg.GlobalPerSecond)}
	return b, nil
}

// Run serves until ctx ends: it learns who the bot is, registers the
// commands, then takes updates by long polling (or the webhook) and
// handles each in its own goroutine. At the end it stops taking updates,
// lets running answers finish for up to DrainTimeout, then interrupts the
// rest (each still gets a final message).
func (b *Bot) Run(ctx context.Context) error {
	me, err := b.whoAmI(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped before Telegram answered
		}
		return err
	}
	b.me, b.tele.Me = me, me
	b.log.Info("telegram bot started", "username", me.Username, "webhook", b.cfg.Webhook.Listen != "")
	b.registerCommands(ctx)

	updates := make(chan tele.Update)
	intake := make(chan error, 1)
	go func() {
		defer close(updates)
		if b.cfg.Webhook.Listen != "" {
			intake <- b.serveWebhook(ctx, updates)
		} else {
			intake <- b.poll(ctx, updates)
		}
	}()

	work, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	rctx, stopRetry := context.WithCancel(ctx)
	retried := make(chan struct{})
	go func() { defer close(retried); b.retryCredits(rctx) }()
	defer func() { stopRetry(); <-retried }()
	sem := make(chan struct{}, b.cfg.MaxConcurrent)
	for u := range updates {
		sem <- struct{}{}
		b.inflight.Add(1)
		go func(u tele.Update) {
			defer b.inflight.Done()
			defer func() { <-sem }()
			b.handle(work, u)
		}(u)
	}
	err = <-intake

	done := make(chan struct{})
	go func() { b.inflight.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(b.cfg.DrainTimeout):
		b.log.Warn("answers still running at shutdown; interrupting them")
		stopWork()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			b.log.Warn("some answers did not finish")
		}
	}
	return err
}

// whoAmI calls getMe, retrying while Telegram cannot be reached; a refused
// token ends Run.
func (b *Bot) whoAmI(ctx context.Context) (*tele.User, error) {
	for fails := 1; ; fails++ {
		data, err := b.tele.Raw("getMe", nil)
		if err == nil {
			var resp struct {
				Result *tele.User `json:"result"`
			}
			if err = json.Unmarshal(data, &resp); err == nil && resp.Result != nil && resp.Result.ID != 0 {
				return resp.Result, nil
			}
			err = fmt.Errorf("getMe: unexpected answer")
		}
		if errors.Is(err, tele.ErrUnauthorized) || errHas(err, "unauthorized") || errHas(err, "not found") {
			return nil, fmt.Errorf("telegram refused the bot token (TELEGRAM_BOT_TOKEN): %s", b.tg.redact(err))
		}
		b.log.Warn("telegram unreachable; retrying", "err", b.tg.redact(err))
		if sleepCtx(ctx, time.Duration(min(fails, 30))*time.Second) != nil {
			return nil, ctx.Err()
		}
	}
}

// handle runs one update. A panic is logged with a reference the user is
// told, never silently dropped.
func (b *Bot) handle(ctx context.Context, u tele.Update) {
	defer func() {
		if r := recover(); r != nil {
			ref := newRef()
			b.log.Error("panic handling an update", "ref", ref, "update", u.ID, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			if u.Message != nil && u.Message.Chat != nil {
				in := classify(u.Message, b.me)
				if in.Kind != ignore {
					b.say(ctx, in, T(langOf(in.UserLang), "internal", ref))
				}
			}
		}
	}()
	first, err := b.st.firstSeen(ctx, u.ID)
	seen := err == nil && !first // delivered again (a webhook retry, a restart before the offset was confirmed)
	switch {
	case u.Message != nil && u.Message.Payment != nil:
		b.onPayment(ctx, u.Message, seen) // credited once by charge id, seen or not
	case u.PreCheckoutQuery != nil:
		b.onPreCheckout(ctx, u.PreCheckoutQuery)
	case seen:
	case u.Message != nil:
		b.onMessage(ctx, u.Message)
	case u.Callback != nil:
		b.onCallback(ctx, u.Callback)
	}
	// Edited messages, channel posts and the rest: nothing to do.
}

// onMessage handles a new message.
func (b *Bot) onMessage(ctx context.Context, m *tele.Message) {
	in := classify(m, b.me)
	if in.Kind == ignore {
		return
	}
	b.st.count(ctx, "updates", in.User)
	if banned, err := b.st.banned(ctx, in.User); err == nil && banned {
		return
	}
	rs := b.resolve(ctx, in)
	switch in.Kind {
	case reply:
		b.say(ctx, in, T(rs.Lang, in.Key))
	case command:
		b.onCommand(ctx, in, rs)
	case prompt:
		b.onPrompt(ctx, in, rs)
	}
}

// resolved are the settings that apply to one message.
type resolved struct {
	Lang, Model, System string
	User, Chat          Settings
}

// resolve merges the group's settings (in groups), the user's and the
// defaults. Redis trouble falls back to the defaults.
func (b *Bot) resolve(ctx context.Context, in incoming) resolved {
	var rs resolved
	var err error
	if rs.User, err = b.st.userSettings(ctx, in.User); err != nil {
		b.log.Warn("read user settings", "user", in.User, "err", err)
	}
	if !in.Private {
		if rs.Chat, err = b.st.chatSettings(ctx, in.Place.Chat); err != nil {
			b.log.Warn("read group settings", "chat", in.Place.Chat, "err", err)
		}
	}
	rs.Lang = first(rs.Chat.Lang, rs.User.Lang, langOf(in.UserLang))
	if !knownLang(rs.Lang) {
		rs.Lang = languages[0]
	}
	rs.Model = first(rs.Chat.Model, rs.User.Model)
	rs.System = first(rs.Chat.System, rs.User.System)
	return rs
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// say answers in with a plain message (a reply to it in groups).
func (b *Bot) say(ctx context.Context, in incoming, msg string) {
	b.sayMarkup(ctx, in, msg, nil)
}

func (b *Bot) sayMarkup(ctx context.Context, in incoming, msg string, markup *tele.ReplyMarkup) {
	replyTo := 0
	if !in.Private {
		replyTo = in.MsgID
	}
	if _, err := b.tg.reply(ctx, in.Place, replyTo, plainText(msg), markup); err != nil && ctx.Err() == nil {
		b.log.Warn("send reply", "chat", in.Place.Chat, "err", b.tg.redact(err))
	}
}

// internal logs err under a fresh reference and returns the message that
// tells the user that reference.
func (b *Bot) internal(lang, what string, err error) string {
	ref := newRef()
	b.log.Error(what, "ref", ref, "err", b.tg.redact(err))
	return T(lang, "internal", ref)
}

// newRef is a short reference for an internal error, shown to the user
// and logged.
func newRef() string {
	var p [4]byte
	rand.Read(p[:])
	return strings.ToUpper(hex.EncodeToString(p[:]))
}

// isAdmin reports a bot admin (COCOON_BOT_ADMINS).
func (b *Bot) isAdmin(user int64) bool { return b.admins[user] }

// isGroupAdmin reports whether the sender may change a group's settings.
func (b *Bot) isGroupAdmin(ctx context.Context, in incoming) bool {
	if in.Private || in.AnonAdmin {
		return true
	}
	if err := b.tg.lim.wait(ctx, 0, false); err != nil {
		return false
	}
	m, err := b.tele.ChatMemberOf(tele.ChatID(in.Place.Chat), tele.ChatID(in.User))
	if err != nil {
		b.log.Warn("getChatMember", "chat", in.Place.Chat, "err", b.tg.redact(err))
		return false
	}
	return m.Role == tele.Creator || m.Role == tele.Administrator
}

// modelList returns the models the pool serves, cached briefly.
func (b *Bot) modelList(ctx context.Context) ([]wire.ModelInfo, error) {
	b.cacheMu.Lock()
	if b.models != nil && time.Since(b.modelsAt) < b.cfg.ModelCacheTimeout {
		ms := b.models
		b.cacheMu.Unlock()
		return ms, nil
	}
	b.cacheMu.Unlock()
	ms, err := b.cfg.Broker.Models(ctx)
	if err != nil {
		return nil, err
	}
	if ms == nil {
		ms = []wire.ModelInfo{}
	}
	b.cacheMu.Lock()
	b.models, b.modelsAt = ms, time.Now()
	b.cacheMu.Unlock()
	return ms, nil
}
