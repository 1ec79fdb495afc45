package bot

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-network/cocoon/apikey"
)

func TestAPIKeyCommands(t *testing.T) {
	var keys *apikey.Store
	h := newHarness(t, func(c *Config) { keys = apikey.New(c.Redis); c.Keys = keys })
	ctx := context.Background()
	const group = -400
	h.api.setChatType(group, "supergroup")

	h.api.say(alice.ID, alice, "/apikey")
	h.api.waitText(alice.ID, "You have no API keys", 10*time.Second)

	// In a group the secret would be shown to everyone: refused.
	h.api.say(group, alice, "/apikey new")
	h.api.waitText(group, "private chat only", 10*time.Second)
	if ks, _ := keys.List(ctx, "tg:1001"); len(ks) != 0 {
		t.Fatalf("a key was made from a group: %v", ks)
	}

	h.api.say(alice.ID, alice, "/apikey new")
	m := h.api.waitText(alice.ID, "shown this once", 10*time.Second)
	sm := regexp.MustCompile(`New API key ([0-9a-z]+)\.[^\n]*\n\n(ck-[0-9a-z]+\.[0-9a-z]+)`).FindStringSubmatch(m.Visible)
	if sm == nil {
		t.Fatalf("no key in %q", m.Visible)
	}
	id, secret := sm[1], sm[2]
	if gotID, owner, err := keys.Resolve(ctx, secret); err != nil || gotID != id || owner != "tg:1001" {
		t.Fatalf("the shown key resolves to %q %q %v", gotID, owner, err)
	}

	h.api.say(alice.ID, alice, "/apikey")
	l := h.api.waitText(alice.ID, "Your API keys:", 10*time.Second)
	if !strings.Contains(l.Visible, id+" · created ") || !strings.Contains(l.Visible, "active") || strings.Contains(l.Visible, secret) {
		t.Errorf("list: %q", l.Visible)
	}
	// Bob cannot revoke Alice's key.
	h.api.say(bob.ID, bob, "/apikey revoke "+id)
	h.api.waitText(bob.ID, "no key with that id", 10*time.Second)
	h.api.say(alice.ID, alice, "/apikey revoke "+id)
	h.api.waitText(alice.ID, "Key "+id+" is revoked", 10*time.Second)
	if _, _, err := keys.Resolve(ctx, secret); !errors.Is(err, apikey.ErrRevoked) {
		t.Errorf("a revoked key resolves: %v", err)
	}
	h.api.say(alice.ID, alice, "/apikey junk args")
	h.api.waitText(alice.ID, "/apikey new creates a key", 10*time.Second)

	if strings.Contains(h.logs.String(), secret) || strings.Contains(h.logs.String(), secret[len(secret)-20:]) {
		t.Errorf("the log holds the key's secret")
	}
}
