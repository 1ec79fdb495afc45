package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cocoon-network/cocoon/internal/obs"
	tele "gopkg.in/telebot.v3"
)

// tg sends to Telegram through telebot, every send and edit through the
// limiter. Its errors go through redact before anything logs them: telebot
// puts the request URL, which holds the token, into transport errors.
type tg struct {
	b     *tele.Bot
	lim   *limiter
	token string
	log   *slog.Logger

	drafts    string      // DraftsAuto, DraftsOn or DraftsOff
	draftsOff atomic.Bool // the server refused sendMessageDraft (auto): edits from now on
	draftSeq  atomic.Int64
}

// place is where a message goes: a chat, maybe a forum topic.
type place struct {
	Chat   int64
	Group  bool // groups and supergroups have their own, slower limit
	Thread int
}

// text is a message body in Telegram HTML with its plain-text fallback.
type text struct {
	HTML  string // "" sends Plain without a parse mode
	Plain string
}

// plainText is a text without markup.
func plainText(s string) text { return text{Plain: s} }

// sent is the outcome of one send or edit.
type sent struct {
	ID    int
	Plain bool // Telegram refused the HTML; the plain text went instead
}

// floodWait reports a flood error's retry_after.
func floodWait(err error) (time.Duration, bool) {
	var fe tele.FloodError
	if errors.As(err, &fe) {
		return time.Duration(max(fe.RetryAfter, 1)) * time.Second, true
	}
	var pe *tele.FloodError
	if errors.As(err, &pe) && pe != nil {
		return time.Duration(max(pe.RetryAfter, 1)) * time.Second, true
	}
	return 0, false
}

func errHas(err error, s string) bool {
	return err != nil && strings.Contains(strings.ToLower(err.Error()), s)
}

// isParseError reports Telegram refusing the markup ("can't parse entities").
func isParseError(err error) bool {
	return errHas(err, "can't parse entities") || errHas(err, "can't find end") || errHas(err, "unsupported start tag")
}

// isNotModified reports an edit that would change nothing.
func isNotModified(err error) bool { return errHas(err, "message is not modified") }

// isGone reports a message or chat the bot can no longer write to.
func isGone(err error) bool {
	return errHas(err, "message to edit not found") || errHas(err, "message can't be edited") ||
		errHas(err, "chat not found") || errHas(err, "bot was blocked") || errHas(err, "forbidden") ||
		errHas(err, "kicked") || errHas(err, "not enough rights") || errHas(err, "have no rights")
}

// redact removes the bot token from an error's text.
func (t *tg) redact(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if t.token != "" {
		s = strings.ReplaceAll(s, t.token, "<token>")
	}
	return s
}

func sendOpts(p place, replyTo int, markup *tele.ReplyMarkup, mode tele.ParseMode) *tele.SendOptions {
	o := &tele.SendOptions{ParseMode: mode, ThreadID: p.Thread, ReplyMarkup: markup, DisableWebPagePreview: true}
	if replyTo != 0 {
		o.ReplyTo = &tele.Message{ID: replyTo}
		o.AllowWithoutReply = true
	}
	return o
}

// errUnchanged is returned when the text to send, read after waiting for
// the limiter, equals what the message already shows: nothing is sent.
var errUnchanged = errors.New("unchanged")

// send sends the text get returns (read after the limiter granted the
// slot, so a stream sends its newest text) once, falling back to plain
// text if Telegram refuses the HTML. A flood error is returned to the
// caller, who decides what to send after waiting.
func (t *tg) send(ctx context.Context, p place, replyTo int, get func() (text, bool), markup *tele.ReplyMarkup) (sent, error) {
	if err := t.lim.wait(ctx, p.Chat, p.Group); err != nil {
		return sent{}, err
	}
	txt, ok := get()
	if !ok {
		return sent{}, errUnchanged
	}
	if txt.HTML != "" {
		m, err := t.b.Send(tele.ChatID(p.Chat), txt.HTML, sendOpts(p, replyTo, markup, tele.ModeHTML))
		if err == nil {
			return sent{ID: m.ID}, nil
		}
		if !isParseError(err) {
			return sent{}, t.flood(p, err)
		}
		t.log.Debug("telegram refused the markup; sending plain text", "chat", p.Chat, "err", t.redact(err))
		if err := t.lim.wait(ctx, p.Chat, p.Group); err != nil {
			return sent{}, err
		}
	}
	m, err := t.b.Send(tele.ChatID(p.Chat), nonEmpty(txt.Plain), sendOpts(p, replyTo, markup, tele.ModeDefault))
	if err != nil {
		return sent{}, t.flood(p, err)
	}
	return sent{ID: m.ID, Plain: txt.HTML != ""}, nil
}

// edit replaces message id's text with what get returns (read after the
// limiter granted the slot) once, falling back to plain text if Telegram
// refuses the HTML. "Not modified" counts as success.
func (t *tg) edit(ctx context.Context, p place, id int, get func() (text, bool), markup *tele.ReplyMarkup) (sent, error) {
	msg := tele.StoredMessage{MessageID: strconv.Itoa(id), ChatID: p.Chat}
	do := func(body string, mode tele.ParseMode) error {
		opts := &tele.SendOptions{ParseMode: mode, ReplyMarkup: markup, DisableWebPagePreview: true}
		_, err := t.b.Edit(msg, body, opts)
		if isNotModified(err) {
			return nil
		}
		return err
	}
	if err := t.lim.wait(ctx, p.Chat, p.Group); err != nil {
		return sent{}, err
	}
	txt, ok := get()
	if !ok {
		return sent{}, errUnchanged
	}
	if txt.HTML != "" {
		err := do(txt.HTML, tele.ModeHTML)
		if err == nil {
			return sent{ID: id}, nil
		}
		if !isParseError(err) {
			return sent{}, t.flood(p, err)
		}
		t.log.Debug("telegram refused the markup; editing as plain text", "chat", p.Chat, "err", t.redact(err))
		if err := t.lim.wait(ctx, p.Chat, p.Group); err != nil {
			return sent{}, err
		}
	}
	if err := do(nonEmpty(txt.Plain), tele.ModeDefault); err != nil {
		return sent{}, t.flood(p, err)
	}
	return sent{ID: id, Plain: txt.HTML != ""}, nil
}

// flood blocks the chat for a flood error's retry_after and returns err.
func (t *tg) flood(p place, err error) error {
	if d, ok := floodWait(err); ok {
		obs.Telegram429.Inc()
		t.lim.penalize(p.Chat, d)
	}
	return err
}

// reply sends txt, waiting out flood errors (a one-off message: nothing
// newer can replace it). It gives up when ctx ends or on another error.
func (t *tg) reply(ctx context.Context, p place, replyTo int, txt text, markup *tele.ReplyMarkup) (sent, error) {
	get := func() (text, bool) { return txt, true }
	for {
		s, err := t.send(ctx, p, replyTo, get, markup)
		if _, flood := floodWait(err); !flood {
			return s, err
		}
	}
}

// editRetry edits, waiting out flood errors.
func (t *tg) editRetry(ctx context.Context, p place, id int, txt text, markup *tele.ReplyMarkup) error {
	get := func() (text, bool) { return txt, true }
	for {
		_, err := t.edit(ctx, p, id, get, markup)
		if _, flood := floodWait(err); !flood {
			return err
		}
	}
}

// sendPhoto sends a PNG with a plain caption, waiting out flood errors.
func (t *tg) sendPhoto(ctx context.Context, p place, png []byte, caption string) error {
	for {
		if err := t.lim.wait(ctx, p.Chat, p.Group); err != nil {
			return err
		}
		ph := &tele.Photo{File: tele.FromReader(bytes.NewReader(png)), Caption: caption}
		_, err := t.b.Send(tele.ChatID(p.Chat), ph, &tele.SendOptions{ThreadID: p.Thread})
		if _, flood := floodWait(err); !flood {
			return err
		}
		t.flood(p, err)
	}
}

// call makes a Bot API call telebot has no fitting method for (invoices,
// pre-checkout answers, refunds), in p's chat slot (place{}: counted only
// globally), waiting out flood errors.
func (t *tg) call(ctx context.Context, p place, method string, params map[string]any) error {
	for {
		if err := t.lim.wait(ctx, p.Chat, p.Group); err != nil {
			return err
		}
		_, err := t.b.Raw(method, params)
		if _, flood := floodWait(err); !flood {
			return err
		}
		t.flood(p, err)
	}
}

// typing shows "typing…" in the chat (counted only globally).
func (t *tg) typing(ctx context.Context, p place) {
	if err := t.lim.wait(ctx, 0, false); err != nil {
		return
	}
	var thread []int
	if p.Thread != 0 {
		thread = []int{p.Thread}
	}
	if err := t.b.Notify(tele.ChatID(p.Chat), tele.Typing, thread...); err != nil {
		t.log.Debug("typing", "chat", p.Chat, "err", t.redact(err))
	}
}

// answerCallback answers a button press (with an optional notice).
func (t *tg) answerCallback(ctx context.Context, c *tele.Callback, notice string) {
	if err := t.lim.wait(ctx, 0, false); err != nil {
		return
	}
	if err := t.b.Respond(c, &tele.CallbackResponse{Text: notice}); err != nil {
		t.log.Debug("answer callback", "err", t.redact(err))
	}
}

// nonEmpty keeps Telegram from refusing an empty text.
func nonEmpty(s string) string {
	if strings.TrimSpace(s) == "" {
		return "…"
	}
	return s
}

// Drafts modes (Config.Drafts, COCOON_BOT_DRAFTS).
const (
	DraftsAuto = "auto" // stream private answers as drafts; the first refusal switches the process to edits
	DraftsOn   = "on"   // the same, but a refusal falls back for that answer only
	DraftsOff  = "off"  // edit-based streaming everywhere
)

// errDraftsUnsupported wraps a Bot API server's refusal of sendMessageDraft
// (an older server, or a bot the method is not open to).
var errDraftsUnsupported = errors.New("sendMessageDraft not supported")

// isDraftUnsupported reports a refusal that means the server or the bot
// cannot take drafts at all: 404, "method not found", "not supported", or
// a Bad Request about the draft itself.
func isDraftUnsupported(err error) bool {
	return errors.Is(err, tele.ErrNotFound) || errHas(err, "(404)") || errHas(err, "method not found") ||
		errHas(err, "unknown method") || errHas(err, "not supported") || errHas(err, "not implemented") ||
		errHas(err, "unexpected answer") || (errHas(err, "bad request") && errHas(err, "draft"))
}

// draftsUsable reports whether a new answer in a private chat should try
// drafts.
func (t *tg) draftsUsable() bool { return t.drafts != DraftsOff && !t.draftsOff.Load() }

// newDraftID is a fresh non-zero draft_id (one per message being drafted).
func (t *tg) newDraftID() int64 { return t.draftSeq.Add(1)%(1<<31-1) + 1 }

// draft shows the text get returns (read after the limiter granted the
// slot) as draft id in a private chat, through the same limiter as sends
// and edits, falling back to plain text if Telegram refuses the HTML. A
// flood error is returned after blocking the chat; a refusal of the method
// comes back wrapping errDraftsUnsupported.
func (t *tg) draft(ctx context.Context, p place, id int64, get func() (text, bool)) (sent, error) {
	if err := t.lim.wait(ctx, p.Chat, p.Group); err != nil {
		return sent{}, err
	}
	txt, ok := get()
	if !ok {
		return sent{}, errUnchanged
	}
	params := map[string]any{"chat_id": p.Chat, "draft_id": id}
	if p.Thread != 0 {
		params["message_thread_id"] = p.Thread
	}
	if txt.HTML != "" {
		params["text"], params["parse_mode"] = txt.HTML, tele.ModeHTML
		err := t.rawOK("sendMessageDraft", params)
		if err == nil {
			return sent{}, nil
		}
		if !isParseError(err) {
			return sent{}, t.draftErr(p, err)
		}
		t.log.Debug("telegram refused the markup of a draft; sending plain text", "chat", p.Chat, "err", t.redact(err))
		if err := t.lim.wait(ctx, p.Chat, p.Group); err != nil {
			return sent{}, err
		}
		delete(params, "parse_mode")
	}
	params["text"] = nonEmpty(txt.Plain)
	if err := t.rawOK("sendMessageDraft", params); err != nil {
		return sent{}, t.draftErr(p, err)
	}
	return sent{Plain: txt.HTML != ""}, nil
}

// rawOK calls method and insists on {"ok":true}: telebot takes an answer
// that is not JSON (a proxy's HTML 404 page) for success.
func (t *tg) rawOK(method string, params map[string]any) error {
	data, err := t.b.Raw(method, params)
	if err != nil {
		return err
	}
	var r struct {
		OK bool `json:"ok"`
	}
	if json.Unmarshal(data, &r) != nil || !r.OK {
		return errors.New("telegram: unexpected answer to " + method)
	}
	return nil
}

// draftErr classifies a draft's error: a flood blocks the chat, a refusal
// of the method wraps errDraftsUnsupported.
func (t *tg) draftErr(p place, err error) error {
	if _, ok := floodWait(err); ok {
		return t.flood(p, err)
	}
	if isDraftUnsupported(err) {
		return fmt.Errorf("%w: %s", errDraftsUnsupported, t.redact(err))
	}
	return err
}
