package bot

import (
	"context"
	"sync"
	"time"
)

// limiter keeps the bot inside Telegram's flood limits. Every send and
// edit waits for it: at most one per chat per interval (1.1 s in private
// chats, 3.1 s in groups, which also keeps a group under 20 a minute), and
// over all chats a minimum spacing that keeps any one-second window under
// the global rate (30/s, with a 10% margin for network jitter). A flood
// error from Telegram blocks its chat for the retry_after it names. Slots
// are granted in the order they become free; a caller that waits for its
// chat does not hold the global slot meanwhile.
type limiter struct {
	private, group time.Duration // per-chat spacing
	spacing        time.Duration // global spacing

	mu     sync.Mutex
	next   map[int64]time.Time // chat -> earliest next send
	global time.Time           // earliest next send of any chat
}

func newLimiter(private, group time.Duration, perSecond int) *limiter {
	return &limiter{private: private, group: group,
		spacing: time.Second * 11 / time.Duration(10*perSecond), next: map[int64]time.Time{}}
}

// wait blocks until chat may be sent to and takes the slot. A zero chat
// (chat actions, callback answers) is only counted globally.
func (l *limiter) wait(ctx context.Context, chat int64, isGroup bool) error {
	for {
		l.mu.Lock()
		now := time.Now()
		if t := l.next[chat]; chat != 0 && t.After(now) {
			l.mu.Unlock()
			if err := sleepCtx(ctx, t.Sub(now)); err != nil {
				return err
			}
			continue
		}
		at := now
		if l.global.After(at) {
			at = l.global
		}
		l.global = at.Add(l.spacing)
		if chat != 0 {
			gap := l.private
			if isGroup {
				gap = l.group
			}
			l.next[chat] = at.Add(gap)
		}
		l.gc(now)
		l.mu.Unlock()
		return sleepCtx(ctx, at.Sub(now))
	}
}

// penalize blocks chat for d (a flood error's retry_after).
func (l *limiter) penalize(chat int64, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t := time.Now().Add(d); t.After(l.next[chat]) {
		l.next[chat] = t
	}
}

// gc forgets chats whose slot is long past (called with mu held).
func (l *limiter) gc(now time.Time) {
	if len(l.next) < 4096 {
		return
	}
	for c, t := range l.next {
		if now.Sub(t) > time.Minute {
			delete(l.next, c)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
