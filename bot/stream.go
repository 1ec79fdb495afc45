package bot

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	tele "gopkg.in/telebot.v3"
)

// footerRule starts the status footer under an answer, so the body above
// it stays the model's text.
const footerRule = "──────────"

// footerRoom is what every part keeps free for the footer.
const footerRoom = 300

// stream shows one answer in a chat while it is generated: the first
// message is sent as soon as there is something to show, then edited as
// text arrives, at most as often as the limiter allows; each edit carries
// the newest text, so edits never pile up and a flood wait loses nothing.
// Text beyond one message continues in further messages. finish sets the
// footer; run returns once the chat shows the final state.
//
// With drafts (private chats), the part still growing is shown with
// sendMessageDraft instead, through the same limiter and never unchanged;
// parts before it, and every part once the answer is final, are sent as
// messages. A server that refuses drafts turns the stream back to edits.
type stream struct {
	tg      *tg
	p       place
	replyTo int
	log     *slog.Logger
	onSent  func(id int) // called for each new message of the answer

	mu     sync.Mutex
	raw    []byte
	status string // shown (italic) while there is no text yet
	final  bool
	footer string // plain footer line, shown under the last part when final
	empty  string // shown instead of the answer if final with no text
	wake   chan struct{}
	first  chan struct{} // closed when the first text arrives
	shown  []shownMsg

	// Drafts: touched by run only.
	drafts     bool  // stream the growing part as a draft until final
	draftIdx   int   // the part the current draft shows; -1: none yet
	draftID    int64 // its draft_id
	draftTxt   text  // what the current draft shows
	draftPlain bool  // Telegram refused a draft's HTML: keep drafts plain
}

type shownMsg struct {
	id    int
	txt   text
	plain bool // Telegram refused its HTML once: keep it plain
}

func newStream(t *tg, p place, replyTo int, log *slog.Logger) *stream {
	return &stream{tg: t, p: p, replyTo: replyTo, log: log, wake: make(chan struct{}, 1), first: make(chan struct{}), draftIdx: -1}
}

func (s *stream) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// append adds answer text.
func (s *stream) append(d string) {
	if d == "" {
		return
	}
	s.mu.Lock()
	if len(s.raw) == 0 {
		close(s.first)
	}
	s.raw = append(s.raw, d...)
	s.mu.Unlock()
	s.poke()
}

// textStarted is closed when the first text arrives.
func (s *stream) textStarted() <-chan struct{} { return s.first }

// setStatus shows a status line (queue position) until text arrives.
func (s *stream) setStatus(st string) {
	s.mu.Lock()
	s.status = st
	s.mu.Unlock()
	s.poke()
}

// started reports whether any answer text arrived.
func (s *stream) started() bool {
	select {
	case <-s.first:
		return true
	default:
		return false
	}
}

// finish marks the answer complete: footer goes under the last part, and
// empty is shown if there is no text at all.
func (s *stream) finish(footer, empty string) {
	s.mu.Lock()
	s.final, s.footer, s.empty = true, footer, empty
	s.mu.Unlock()
	s.poke()
}

// showable is the part of raw that can be shown now: valid UTF-8, without a
// trailing incomplete character unless the answer is final.
func showable(raw []byte, final bool) string {
	if !final {
		// Drop an incomplete trailing sequence (a chunk may end mid-character).
		for k := 1; k <= 3 && k <= len(raw); k++ {
			c := raw[len(raw)-k]
			if c < 0x80 {
				break
			}
			if utf8.RuneStart(c) {
				if !utf8.FullRune(raw[len(raw)-k:]) {
					raw = raw[:len(raw)-k]
				}
				break
			}
		}
	}
	return strings.ToValidUTF8(string(raw), "\uFFFD")
}

// want is what the chat should show now, one text per message.
func (s *stream) want() (parts []text, final bool) {
	s.mu.Lock()
	body := showable(s.raw, s.final)
	status, footer, empty := s.status, s.footer, s.empty
	final = s.final
	s.mu.Unlock()

	hasBody := strings.TrimSpace(body) != ""
	if !hasBody {
		switch {
		case final && empty != "":
			parts = []text{plainText(empty)}
		case final:
			parts = []text{plainText("…")}
		case status != "":
			return []text{{HTML: "<i>" + escapeHTML(status) + "</i>", Plain: status}}, false
		default:
			return nil, false
		}
	} else {
		for _, p := range splitAnswer(body, MaxMessage-footerRoom) {
			h := RenderHTML(p)
			if strings.TrimSpace(htmlVisible(h)) == "" {
				h = "" // Telegram refuses a message that shows nothing
			}
			parts = append(parts, text{HTML: h, Plain: p})
		}
	}
	// A failure before any text shows its message alone, not twice.
	if final && footer != "" && (hasBody || footer != empty) {
		footer = truncate16(footer, footerRoom-len16(footerRule)-4)
		last := &parts[len(parts)-1]
		if last.HTML != "" {
			last.HTML += "\n\n" + footerRule + "\n<i>" + escapeHTML(footer) + "</i>"
		}
		last.Plain += "\n\n" + footerRule + "\n" + footer
	}
	return parts, final
}

// view is how part i is sent given what Telegram accepted so far.
func (s *stream) view(i int, t text) text {
	if i < len(s.shown) && s.shown[i].plain {
		return plainText(t.Plain)
	}
	return t
}

// next returns the first message whose shown text differs from want
// (len(shown) if a new message is due), or -1 if the chat is up to date.
func (s *stream) next(want []text) int {
	for i, w := range want {
		if i >= len(s.shown) {
			return i
		}
		if s.shown[i].txt != s.view(i, w) {
			return i
		}
	}
	return -1
}

// run keeps the chat in step with the answer until the final state is
// shown or ctx ends.
func (s *stream) run(ctx context.Context) {
	failures := 0
	for {
		want, final := s.want()
		msgs := want
		drafting := s.drafting(final, len(want))
		if drafting {
			msgs = want[:len(want)-1] // the last part goes to the draft
		}
		i := s.next(msgs)
		if i < 0 && drafting && s.draftDue(want) {
			if !s.sendDraft(ctx, len(want)-1, &failures) {
				return
			}
			continue
		}
		if i < 0 {
			for len(s.shown) > len(want) { // the answer got fewer parts: rare
				last := s.shown[len(s.shown)-1]
				if s.tg.lim.wait(ctx, s.p.Chat, s.p.Group) == nil {
					s.tg.b.Delete(tele.StoredMessage{MessageID: strconv.Itoa(last.id), ChatID: s.p.Chat})
				}
				s.mu.Lock()
				s.shown = s.shown[:len(s.shown)-1]
				s.mu.Unlock()
			}
			if final {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
			}
			continue
		}
		get := func() (text, bool) {
			w, _ := s.want()
			if i >= len(w) {
				return text{}, false
			}
			v := s.view(i, w[i])
			if i < len(s.shown) && s.shown[i].txt == v {
				return text{}, false
			}
			return v, true
		}
		var res sent
		var err error
		var got text
		getAndKeep := func() (text, bool) {
			t, ok := get()
			got = t
			return t, ok
		}
		if i < len(s.shown) {
			res, err = s.tg.edit(ctx, s.p, s.shown[i].id, getAndKeep, nil)
		} else {
			reply := 0
			if i == 0 {
				reply = s.replyTo
			}
			res, err = s.tg.send(ctx, s.p, reply, getAndKeep, nil)
		}
		switch {
		case err == nil:
			failures = 0
			m := shownMsg{id: res.ID, txt: got, plain: res.Plain}
			if res.Plain {
				m.txt = plainText(got.Plain)
			}
			s.mu.Lock()
			added := i >= len(s.shown)
			if added {
				s.shown = append(s.shown, m)
			} else {
				m.plain = m.plain || s.shown[i].plain
				s.shown[i] = m
			}
			s.mu.Unlock()
			if added && s.onSent != nil {
				s.onSent(m.id)
			}
		case errors.Is(err, errUnchanged):
		case ctx.Err() != nil:
			return
		default:
			if _, flood := floodWait(err); flood {
				s.log.Debug("flood wait", "chat", s.p.Chat, "err", s.tg.redact(err))
				continue // the limiter holds the chat; the next try sends the newest text
			}
			failures++
			s.log.Warn("telegram refused an answer message", "chat", s.p.Chat, "err", s.tg.redact(err), "tries", failures)
			if isGone(err) || failures >= 5 {
				return // the chat cannot take it; nothing to gain by retrying
			}
			if sleepCtx(ctx, time.Duration(failures)*time.Second) != nil {
				return
			}
		}
	}
}

// drafting reports whether the last of n parts should be a draft now.
func (s *stream) drafting(final bool, n int) bool {
	if !s.drafts || final || n == 0 || len(s.shown) >= n {
		return false
	}
	if s.tg.drafts == DraftsAuto && s.tg.draftsOff.Load() {
		s.drafts = false // another answer found the server refuses drafts
		return false
	}
	return true
}

// draftView is how a draft is sent given what Telegram accepted so far.
func (s *stream) draftView(t text) text {
	if s.draftPlain {
		return plainText(t.Plain)
	}
	return t
}

// draftDue reports whether the draft differs from the last part of want.
func (s *stream) draftDue(want []text) bool {
	idx := len(want) - 1
	return idx != s.draftIdx || s.draftView(want[idx]) != s.draftTxt
}

// sendDraft shows part idx (the last) as a draft, with the newest text once
// the limiter grants the slot. It returns false when run should end.
func (s *stream) sendDraft(ctx context.Context, idx int, failures *int) bool {
	if idx != s.draftIdx { // a new part: a new draft
		s.draftIdx, s.draftID, s.draftTxt = idx, s.tg.newDraftID(), text{}
	}
	var got text
	get := func() (text, bool) {
		w, final := s.want()
		if final || len(w)-1 != idx {
			return text{}, false // the next round sends what is due now
		}
		v := s.draftView(w[idx])
		if v == s.draftTxt {
			return text{}, false
		}
		got = v
		return v, true
	}
	res, err := s.tg.draft(ctx, s.p, s.draftID, get)
	switch {
	case err == nil:
		*failures = 0
		s.draftTxt = got
		if res.Plain {
			s.draftPlain, s.draftTxt = true, plainText(got.Plain)
		}
	case errors.Is(err, errUnchanged):
	case ctx.Err() != nil:
		return false
	case errors.Is(err, errDraftsUnsupported):
		s.drafts = false
		if s.tg.drafts == DraftsAuto {
			if !s.tg.draftsOff.Swap(true) {
				s.log.Warn("the Bot API server refuses sendMessageDraft; answers stream by edits from now on", "err", err.Error())
			}
		} else {
			s.log.Warn("the Bot API server refused sendMessageDraft; this answer streams by edits", "chat", s.p.Chat, "err", err.Error())
		}
	default:
		if _, flood := floodWait(err); flood {
			s.log.Debug("flood wait", "chat", s.p.Chat, "err", s.tg.redact(err))
			return true // the limiter holds the chat; the next try sends the newest text
		}
		// Whatever went wrong, edits still work: this answer uses them.
		s.log.Warn("telegram refused a draft; this answer streams by edits", "chat", s.p.Chat, "err", s.tg.redact(err))
		s.drafts = false
	}
	return true
}

// truncate16 cuts s to at most n UTF-16 units.
func truncate16(s string, n int) string {
	if len16(s) <= n {
		return s
	}
	head, _ := cutLine(s, n-1)
	return head + "…"
}
