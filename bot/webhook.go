package bot

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	tele "gopkg.in/telebot.v3"
)

// serveWebhook registers PublicURL with setWebhook and serves the updates
// Telegram posts there until ctx ends. Requests without the secret token
// are refused. (telebot's Webhook poller is not used: it closes its stop
// channel twice on shutdown.)
func (b *Bot) serveWebhook(ctx context.Context, out chan<- tele.Update) error {
	wh := b.cfg.Webhook
	if wh.PublicURL == "" || wh.Secret == "" {
		return errors.New("webhook mode needs COCOON_BOT_WEBHOOK_URL and COCOON_BOT_WEBHOOK_SECRET")
	}
	ln, err := net.Listen("tcp", wh.Listen)
	if err != nil {
		return err
	}
	if err := b.tele.SetWebhook(&tele.Webhook{SecretToken: wh.Secret, AllowedUpdates: allowedUpdates,
		Endpoint: &tele.WebhookEndpoint{PublicURL: wh.PublicURL}}); err != nil {
		ln.Close()
		return errors.New("setWebhook: " + b.tg.redact(err))
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+wh.Path, b.webhookHandler(ctx, out))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-done:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	return nil
}

// webhookHandler takes one update per request. Telegram retries a request
// that does not get 200, and the update-id dedup makes that harmless.
func (b *Bot) webhookHandler(ctx context.Context, out chan<- tele.Update) http.Handler {
	secret := []byte(b.cfg.Webhook.Secret)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("X-Telegram-Bot-Api-Secret-Token"))
		if subtle.ConstantTimeCompare(got, secret) != 1 {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		var u tele.Update
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&u); err != nil {
			w.WriteHeader(http.StatusOK) // an update we cannot read will not get better on retry
			return
		}
		select {
		case out <- u:
			w.WriteHeader(http.StatusOK)
		case <-ctx.Done():
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
		case <-r.Context().Done():
		}
	})
}
