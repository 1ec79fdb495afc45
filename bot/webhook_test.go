package bot

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-network/cocoon/internal/testenv"
)

func TestWebhookMode(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	h := newHarness(t, func(c *Config) {
		c.Webhook = Webhook{Listen: addr, PublicURL: "https://bot.example/telegram", Secret: "s3cret"}
	})
	h.asker.answer = echo
	sw := h.api.callsTo("setWebhook", 0)
	if len(sw) != 1 || str(sw[0].Params, "url") != "https://bot.example/telegram" || str(sw[0].Params, "secret_token") != "s3cret" {
		t.Fatalf("setWebhook: %+v", sw)
	}
	if n := len(h.api.callsTo("getUpdates", 0)); n != 0 {
		t.Errorf("webhook mode also long-polled %d times", n)
	}
	update := func(secret, text string) int {
		body := fmt.Sprintf(`{"update_id":%d,"message":{"message_id":1,"date":1,"chat":{"id":1001,"type":"private"},"from":{"id":1001,"is_bot":false,"first_name":"A"},"text":%q}}`,
			time.Now().UnixNano()%1e9, text)
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/telegram", strings.NewReader(body))
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("post: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := update("wrong", "intruder"); code != http.StatusForbidden {
		t.Errorf("wrong secret: %d", code)
	}
	if code := update("s3cret", "via webhook"); code != http.StatusOK {
		t.Errorf("right secret: %d", code)
	}
	h.api.waitText(alice.ID, "re: via webhook", 10*time.Second)
	if len(h.asker.reqs()) != 1 {
		t.Errorf("%d jobs, want 1", len(h.asker.reqs()))
	}
}
