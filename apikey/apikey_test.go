package apikey

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-network/cocoon/internal/testenv"
)

func newStore(t *testing.T, opts ...Option) *Store {
	t.Helper()
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	rdb := r.Client()
	t.Cleanup(func() { rdb.Close() })
	return New(rdb, opts...)
}

func TestCreateResolveRevoke(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	id, key, err := s.Create(ctx, "tg:42")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(key, "ck-"+id+".") || len(key) != len("ck-")+idLen+1+secLen {
		t.Fatalf("key %q does not look like ck-<id>.<secret>", key)
	}
	gotID, owner, err := s.Resolve(ctx, key)
	if err != nil || gotID != id || owner != "tg:42" {
		t.Fatalf("Resolve = %q, %q, %v; want %q, tg:42", gotID, owner, err, id)
	}
	// Only the hash is stored: the secret appears in no Redis value.
	secret := key[len("ck-")+idLen+1:]
	keys, _ := s.rdb.Keys(ctx, "*").Result()
	for _, k := range keys {
		if strings.Contains(k, secret) {
			t.Fatalf("secret in key name %q", k)
		}
		if vals, err := s.rdb.HGetAll(ctx, k).Result(); err == nil {
			for f, v := range vals {
				if strings.Contains(v, secret) {
					t.Fatalf("secret stored in %s %s", k, f)
				}
			}
		}
		if !strings.HasPrefix(k, "cocoon:{apikey}:") {
			t.Errorf("key %q outside the cocoon:{apikey}: prefix", k)
		}
	}
	if p, err := s.Payer(ctx, User(id)); err != nil || p != "tg:42" {
		t.Fatalf("Payer(key:%s) = %q, %v", id, p, err)
	}
	if p, err := s.Payer(ctx, "tg:7"); err != nil || p != "tg:7" {
		t.Fatalf("Payer(tg:7) = %q, %v", p, err)
	}

	if err := s.Revoke(ctx, "tg:43", id); !errors.Is(err, ErrUnknown) {
		t.Fatalf("another owner revoked the key: %v", err)
	}
	if _, _, err := s.Resolve(ctx, key); err != nil {
		t.Fatalf("key stopped working after a refused revoke: %v", err)
	}
	if err := s.Revoke(ctx, "tg:42", id); err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(ctx, "tg:42", id); err != nil {
		t.Fatalf("second revoke: %v", err)
	}
	if _, _, err := s.Resolve(ctx, key); !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked key: got %v, want ErrRevoked", err)
	}
	// Jobs submitted before the revocation are still billed to the owner.
	if p, err := s.Payer(ctx, User(id)); err != nil || p != "tg:42" {
		t.Fatalf("Payer after revoke = %q, %v", p, err)
	}
	ks, err := s.List(ctx, "tg:42")
	if err != nil || len(ks) != 1 || ks[0].ID != id || ks[0].Active() {
		t.Fatalf("List after revoke = %+v, %v", ks, err)
	}
}

func TestResolveRefuses(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	_, key, err := s.Create(ctx, "tg:1")
	if err != nil {
		t.Fatal(err)
	}
	flip := []byte(key)
	if flip[len(flip)-1] == 'a' {
		flip[len(flip)-1] = 'b'
	} else {
		flip[len(flip)-1] = 'a'
	}
	otherID := random(idBytes)
	cases := []struct {
		name, key string
		want      error
	}{
		{"empty", "", ErrMalformed},
		{"openai key", "sk-" + key[3:], ErrMalformed},
		{"no dot", strings.Replace(key, ".", "x", 1), ErrMalformed},
		{"short secret", key[:len(key)-1], ErrMalformed},
		{"long secret", key + "a", ErrMalformed},
		{"upper case", strings.ToUpper(key), ErrMalformed},
		{"excluded letter", key[:len(key)-1] + "u", ErrMalformed},
		{"wrong secret", string(flip), ErrUnknown},
		{"unknown id", "ck-" + otherID + key[3+idLen:], ErrUnknown},
		{"whitespace", key + " ", ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gotID, owner, err := s.Resolve(ctx, c.key)
			if !errors.Is(err, c.want) || gotID != "" || owner != "" {
				t.Errorf("Resolve = %q, %q, %v; want %v", gotID, owner, err, c.want)
			}
		})
	}
	if _, err := s.Payer(ctx, User(otherID)); !errors.Is(err, ErrUnknown) {
		t.Errorf("Payer of an unknown key: %v", err)
	}
	if _, err := s.Payer(ctx, "key:../x"); !errors.Is(err, ErrUnknown) {
		t.Errorf("Payer of a malformed key user: %v", err)
	}
}

func TestOwnersAndLimits(t *testing.T) {
	clock := time.UnixMilli(1_700_000_000_000)
	s := newStore(t, WithMaxKeys(3), WithClock(func() time.Time { clock = clock.Add(time.Second); return clock }))
	ctx := context.Background()
	for _, bad := range []string{"", "key:abc", " tg:1", "tg 1", strings.Repeat("a", 129), "tg:1\n"} {
		if _, _, err := s.Create(ctx, bad); !errors.Is(err, ErrBadOwner) {
			t.Errorf("Create(%q): %v, want ErrBadOwner", bad, err)
		}
	}
	var ids []string
	for range 3 {
		id, _, err := s.Create(ctx, "tg:5")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if _, _, err := s.Create(ctx, "tg:5"); !errors.Is(err, ErrTooManyKeys) {
		t.Fatalf("4th key: %v, want ErrTooManyKeys", err)
	}
	if _, _, err := s.Create(ctx, "tg:6"); err != nil {
		t.Fatalf("another owner's limit is separate: %v", err)
	}
	if err := s.Revoke(ctx, "tg:5", ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Create(ctx, "tg:5"); err != nil {
		t.Fatalf("after a revoke the owner may create again: %v", err)
	}
	ks, err := s.List(ctx, "tg:5")
	if err != nil || len(ks) != 4 {
		t.Fatalf("List = %+v, %v", ks, err)
	}
	for i := 1; i < len(ks); i++ {
		if !ks[i-1].Created.After(ks[i].Created) {
			t.Errorf("List not newest first: %v then %v", ks[i-1].Created, ks[i].Created)
		}
	}
	if ks[3].ID != ids[0] || ks[3].Active() || !ks[0].Active() {
		t.Errorf("List = %+v", ks)
	}
	if err := s.Revoke(ctx, "tg:5", "nope"); !errors.Is(err, ErrUnknown) {
		t.Errorf("revoke of a malformed id: %v", err)
	}
}

func TestRevokedRecordExpires(t *testing.T) {
	s := newStore(t, WithRevokedRetention(50*time.Millisecond))
	ctx := context.Background()
	id, key, _ := s.Create(ctx, "tg:9")
	if err := s.Revoke(ctx, "tg:9", id); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	if _, _, err := s.Resolve(ctx, key); !errors.Is(err, ErrUnknown) {
		t.Errorf("expired revoked key: %v, want ErrUnknown", err)
	}
	if _, err := s.Payer(ctx, User(id)); !errors.Is(err, ErrUnknown) {
		t.Errorf("Payer of an expired key: %v", err)
	}
	ks, err := s.List(ctx, "tg:9")
	if err != nil || len(ks) != 0 {
		t.Fatalf("List = %+v, %v", ks, err)
	}
	if n, _ := s.rdb.ZCard(ctx, ownerKey("tg:9")).Result(); n != 0 {
		t.Errorf("List did not prune the expired id: %d left", n)
	}
}
