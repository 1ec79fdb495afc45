package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/cocoon-network/cocoon/internal/obs"
	tele "gopkg.in/telebot.v3"
)

// allowedUpdates are the update kinds the bot asks Telegram for.
var allowedUpdates = []string{"message", "callback_query", "pre_checkout_query"}

// apiError is a Bot API refusal of getUpdates.
type apiError struct {
	Code        int
	Description string
	RetryAfter  int
}

func (e *apiError) Error() string { return fmt.Sprintf("telegram: %s (%d)", e.Description, e.Code) }

// poll takes updates by long polling until ctx ends and hands each to out.
// Its own loop (not telebot's LongPoller) backs off when Telegram cannot be
// reached, stops at once on shutdown and confirms the last offset before
// returning, so a restart does not see handled updates again.
func (b *Bot) poll(ctx context.Context, out chan<- tele.Update) error {
	if err := b.tele.RemoveWebhook(); err != nil {
		b.log.Warn("deleteWebhook", "err", b.tg.redact(err))
	}
	offset, fails := 0, 0
	defer func() {
		if offset == 0 {
			return
		}
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := b.getUpdates(cctx, offset, 0); err != nil {
			b.log.Debug("confirming the update offset", "err", b.tg.redact(err))
		}
	}()
	for ctx.Err() == nil {
		ups, err := b.getUpdates(ctx, offset, b.cfg.PollTimeout)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			var ae *apiError
			if asAPIError(err, &ae) && (ae.Code == http.StatusUnauthorized || ae.Code == http.StatusNotFound) {
				return fmt.Errorf("telegram refused the bot token: %s", b.tg.redact(err))
			}
			fails++
			wait := time.Duration(min(fails, 30)) * time.Second
			if ae != nil && ae.RetryAfter > 0 {
				obs.Telegram429.Inc()
				wait = time.Duration(ae.RetryAfter) * time.Second
			}
			b.log.Warn("getUpdates failed; retrying", "err", b.tg.redact(err), "in", wait)
			if sleepCtx(ctx, wait) != nil {
				break
			}
			continue
		}
		fails = 0
		for _, u := range ups {
			select {
			case out <- u:
				if u.ID >= offset {
					offset = u.ID + 1
				}
			case <-ctx.Done():
				return nil
			}
		}
	}
	return nil
}

func asAPIError(err error, target **apiError) bool {
	ae, ok := err.(*apiError)
	if ok {
		*target = ae
	}
	return ok
}

// getUpdates is one long poll. It is made here, with ctx, so shutdown does
// not wait for the poll timeout.
func (b *Bot) getUpdates(ctx context.Context, offset int, timeout time.Duration) ([]tele.Update, error) {
	body, _ := json.Marshal(map[string]any{"offset": offset, "timeout": int(timeout / time.Second),
		"allowed_updates": allowedUpdates})
	url := strings.TrimRight(b.cfg.APIURL, "/") + "/bot" + b.cfg.Token + "/getUpdates"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	var r struct {
		OK          bool              `json:"ok"`
		Result      []json.RawMessage `json:"result"`
		Code        int               `json:"error_code"`
		Description string            `json:"description"`
		Parameters  struct {
			RetryAfter int `json:"retry_after"`
		} `json:"parameters"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, &apiError{Code: resp.StatusCode, Description: "unreadable answer to getUpdates"}
	}
	if !r.OK {
		return nil, &apiError{Code: r.Code, Description: r.Description, RetryAfter: r.Parameters.RetryAfter}
	}
	ups := make([]tele.Update, 0, len(r.Result))
	for _, raw := range r.Result {
		var u tele.Update
		if err := json.Unmarshal(raw, &u); err != nil {
			// One update telebot cannot decode must not stall the others:
			// keep its id so the offset moves past it.
			var id struct {
				ID int `json:"update_id"`
			}
			json.Unmarshal(raw, &id)
			b.log.Warn("undecodable update skipped", "update", id.ID, "err", err)
			u = tele.Update{ID: id.ID}
		}
		ups = append(ups, u)
	}
	return ups, nil
}
