package bot

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/cocoon-network/cocoon/broker/client"
	"github.com/cocoon-network/cocoon/submit"
	"github.com/cocoon-network/cocoon/wire"
)

// onPrompt answers a prompt: rate limit, one answer per conversation at a
// time, the conversation so far from the history store, the job through
// the Asker, the answer streamed into the chat, the exchange stored as the
// conversation's new head. Every way it can end shows a message.
func (b *Bot) onPrompt(ctx context.Context, in incoming, rs resolved) {
	now := time.Now()
	if ok, firstOver, err := b.st.allow(ctx, in.User, b.cfg.RatePerMinute, now); err != nil {
		b.log.Warn("rate limit", "err", err)
	} else if !ok {
		if firstOver {
			b.say(ctx, in, T(rs.Lang, "rate_limited", b.cfg.RatePerMinute, 60-now.Second()))
		}
		return
	}
	if n := len(in.Prompt); n > b.cfg.MaxPromptBytes {
		b.say(ctx, in, T(rs.Lang, "too_long", n, b.cfg.MaxPromptBytes))
		return
	}
	j := b.claim(in.Conv, in.User)
	if j == nil {
		b.say(ctx, in, T(rs.Lang, "still_answering"))
		return
	}
	released := false
	release := func() {
		if !released {
			released = true
			b.release(in.Conv, j)
		}
	}
	defer release()

	model := rs.Model
	if model == "" {
		m, err := b.defaultModel(ctx)
		if err != nil {
			b.say(ctx, in, b.describe(err, rs.Lang, "", len(in.Prompt)))
			return
		}
		model = m
	}
	parent, err := b.st.parentFor(ctx, in.Conv, in.ReplyTo)
	if err != nil {
		b.say(ctx, in, b.internal(rs.Lang, "read history", err))
		return
	}
	budget := int(float64(b.cfg.ContextTokens) * b.cfg.HistoryShare)
	turns, err := b.st.chain(ctx, in.Conv.Chat, parent, budget, maxTurns)
	if err != nil {
		b.say(ctx, in, b.internal(rs.Lang, "read history", err))
		return
	}
	req := requestFor(in, model, rs.System, turns, &b.cfg)
	turnID, err := b.st.newTurn(ctx, in.Conv.Chat)
	if err != nil {
		b.say(ctx, in, b.internal(rs.Lang, "new turn", err))
		return
	}
	b.st.count(ctx, "prompts", in.User)

	replyTo := 0
	if !in.Private {
		replyTo = in.MsgID
	}
	bg := context.WithoutCancel(ctx)
	s := newStream(b.tg, in.Place, replyTo, b.log)
	// Private chats stream by drafts where the server allows; groups by edits.
	s.drafts = in.Private && b.tg.draftsUsable()
	s.onSent = func(id int) { // a reply to any part of the answer continues this turn
		if err := b.st.mapMessages(bg, in.Place.Chat, turnID, []int{id}); err != nil {
			b.log.Warn("map answer message", "chat", in.Place.Chat, "err", err)
		}
	}
	sctx, scancel := context.WithCancel(context.WithoutCancel(ctx))
	defer scancel()
	sdone := make(chan struct{})
	go func() { defer close(sdone); s.run(sctx) }()

	jctx, jcancel := context.WithCancel(ctx)
	j.setCancel(jcancel)
	tdone := make(chan struct{})
	go b.keepTyping(jctx, in.Place, s, tdone)
	start := time.Now()
	res, err := b.cfg.Asker.Ask(jctx, req, func(id string, pos int) {
		j.setID(id)
		if pos > 0 {
			s.setStatus(T(rs.Lang, "queued", ordinal(rs.Lang, pos+1)))
		}
	}, s.append)
	jcancel()
	<-tdone

	footer, empty, keep := b.outcome(ctx, in, rs.Lang, req, res, err, j.wasStopped())
	s.finish(footer, empty)
	state := "error"
	if res != nil {
		state = res.State
	}
	b.log.Info("answer", "chat", in.Place.Chat, "user", in.User, "model", model, "job", j.jobID(),
		"state", state, "took", time.Since(start).Round(time.Millisecond))

	// The exchange joins the history now, so the next prompt sees it even
	// while the final edit waits for its slot; the conversation is free.
	if keep {
		b.st.count(ctx, "answers", 0)
		answer := strings.ToValidUTF8(res.Text, "\uFFFD")
		err := b.st.appendTurn(bg, in.Conv, turnID, Turn{Parent: parent, User: in.Prompt, Answer: answer, Model: model})
		if err != nil {
			b.log.Error("store the exchange", "chat", in.Place.Chat, "err", err)
		}
	} else {
		b.st.count(ctx, "failures", 0)
	}
	// /verify shows the receipts of the last answer text shown here, a
	// partial one too (its finished segments have receipts).
	if res != nil && res.JobID != "" && strings.TrimSpace(res.Text) != "" {
		b.saveReceipts(bg, in.Conv, res)
	}
	release()

	wait := 2 * time.Minute
	if ctx.Err() != nil {
		wait = 10 * time.Second
	}
	select {
	case <-sdone:
	case <-time.After(wait):
		b.log.Warn("the final edit of an answer did not get through", "chat", in.Place.Chat)
	}
	scancel()
	<-sdone
}

// outcome is the footer under an answer, the text shown if there is no
// answer text, and whether the exchange joins the history.
// The footer's attestation word is the submitter's own check
// (Result.Attested), and its cost what the broker's ledger charged.
func (b *Bot) outcome(ctx context.Context, in incoming, lang string, req *submit.Request, res *submit.Result, err error, stopped bool) (footer, empty string, keep bool) {
	model := req.Model
	hasText := res != nil && strings.TrimSpace(res.Text) != ""
	switch {
	case err == nil && res != nil && res.State == wire.StateDone:
		parts := []string{model, T(lang, "footer.tokens", res.PromptTokens, res.CompletionTokens)}
		parts = append(parts, attestation(lang, res))
		if c := b.costLine(ctx, in.User, res); c != "" {
			parts = append(parts, c)
		}
		return strings.Join(parts, " · "), T(lang, "empty_answer"), hasText
	case stopped || (res != nil && res.State == wire.StateCancelled):
		return T(lang, "stopped"), T(lang, "stopped"), hasText
	case ctx.Err() != nil:
		return T(lang, "interrupted"), T(lang, "interrupted"), false
	case isInsufficient(err):
		msg := b.insufficient(ctx, lang, in.User, req)
		return msg, msg, false
	default:
		if err == nil {
			err = errors.New("job ended in state " + res.State)
		}
		msg := b.describe(err, lang, model, len(in.Prompt))
		return msg, msg, false
	}
}

// describe is the message for a failed prompt.
func (b *Bot) describe(err error, lang, model string, promptBytes int) string {
	var tl *submit.ErrPromptTooLong
	var we *wire.Error
	switch {
	case errors.As(err, &tl):
		return T(lang, "too_long", tl.Bytes, tl.Limit)
	case errors.As(err, &we):
		switch we.Code {
		case wire.CodeBusy:
			return T(lang, "busy")
		case wire.CodeNoCapacity, wire.CodeUnavailable:
			return T(lang, "unavailable")
		case wire.CodeUnknownModel:
			if model == "" {
				return T(lang, "unavailable")
			}
			return T(lang, "model_unavailable", model)
		case wire.CodeInsufficient:
			return T(lang, "insufficient")
		case wire.CodeTooLarge:
			return T(lang, "too_long", promptBytes, b.cfg.MaxPromptBytes)
		}
	case errors.Is(err, client.ErrUnavailable):
		return T(lang, "unavailable")
	case errors.Is(err, submit.ErrJobFailed):
		return T(lang, "failed")
	case errors.Is(err, errNoModel):
		return T(lang, "unavailable")
	case errors.Is(err, submit.ErrNoVerifiedWorker):
		b.log.Warn("no offered worker passed the attestation checks", "model", model, "err", err)
		return T(lang, "unavailable")
	}
	return b.internal(lang, "answer failed", err)
}

// errNoModel: the pool serves no model and none is configured.
var errNoModel = errors.New("no model served")

// defaultModel is COCOON_DEFAULT_MODEL, else the first model served.
func (b *Bot) defaultModel(ctx context.Context) (string, error) {
	if b.cfg.DefaultModel != "" {
		return b.cfg.DefaultModel, nil
	}
	ms, err := b.modelList(ctx)
	if err != nil {
		return "", err
	}
	if len(ms) == 0 {
		return "", errNoModel
	}
	return ms[0].Name, nil
}

// attestation is the footer's word on where the answer ran: the submitter
// sets Result.Attested only when every segment came from a TDX-attested
// worker whose receipt it verified; anything else (insecure-dev workers
// included) is "not attested".
func attestation(lang string, res *submit.Result) string {
	if res.Attested {
		return T(lang, "attested")
	}
	return T(lang, "not_attested")
}

// keepTyping shows "typing…" until the first text arrives.
func (b *Bot) keepTyping(ctx context.Context, p place, s *stream, done chan<- struct{}) {
	defer close(done)
	for !s.started() {
		b.tg.typing(ctx, p)
		t := time.NewTimer(b.cfg.TypingEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.textStarted():
			t.Stop()
		case <-t.C:
		}
	}
}

// claim marks c as answering for user; nil if it already is.
func (b *Bot) claim(c conv, user int64) *job {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.running[c] != nil {
		return nil
	}
	j := &job{user: user}
	b.running[c] = j
	return j
}

func (b *Bot) release(c conv, j *job) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.running[c] == j {
		delete(b.running, c)
	}
}

// stop stops the answer running in c, if user may: the one who asked, a
// group admin or a bot admin. It reports whether there was one to stop.
func (b *Bot) stop(ctx context.Context, in incoming) bool {
	b.mu.Lock()
	j := b.running[in.Conv]
	b.mu.Unlock()
	if j == nil {
		return false
	}
	if j.user != in.User && !b.isAdmin(in.User) && (in.Private || !b.isGroupAdmin(ctx, in)) {
		return false
	}
	j.mu.Lock()
	j.stopped = true
	id, cancel := j.id, j.cancel
	j.mu.Unlock()
	if id != "" {
		err := b.cfg.Broker.Cancel(ctx, id)
		if err == nil && cancel != nil {
			// The job's cancelled event ends the answer; if it never
			// comes, stop following anyway.
			time.AfterFunc(5*time.Second, cancel)
			return true
		}
		if err != nil {
			b.log.Warn("cancel job", "job", id, "err", err)
		}
	}
	if cancel != nil {
		cancel()
	}
	return true
}

func (j *job) setID(id string) {
	j.mu.Lock()
	j.id = id
	j.mu.Unlock()
}

func (j *job) jobID() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.id
}

func (j *job) setCancel(c context.CancelFunc) {
	j.mu.Lock()
	j.cancel = c
	stopped := j.stopped
	j.mu.Unlock()
	if stopped {
		c()
	}
}

func (j *job) wasStopped() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.stopped
}
