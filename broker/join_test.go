package broker

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cocoon-network/cocoon/attest"
	"github.com/cocoon-network/cocoon/internal/testenv"
	"github.com/cocoon-network/cocoon/seal"
	"github.com/cocoon-network/cocoon/trust"
	"github.com/cocoon-network/cocoon/wire"
)

// joinReq builds a correctly attested insecure-dev join for nonce.
func joinReq(t *testing.T, nonce []byte) []byte { return joinReqSlots(t, nonce, 1) }

// joinReqSlots is joinReq for a worker with maxJobs slots.
func joinReqSlots(t *testing.T, nonce []byte, maxJobs int) []byte {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	hk, _ := seal.GenerateKey()
	models := []wire.ModelDigest{{Name: model, Digest: "sha256:1"}}
	c, err := trust.Claims(nonce, pub, hk.PublicKey().Bytes(), models)
	if err != nil {
		t.Fatal(err)
	}
	ev, _ := attest.NewEvidence(attest.DevQuoter{}, c)
	b, _ := json.Marshal(wire.JoinRequest{Nonce: nonce, Evidence: wire.Evidence{Type: ev.Type, Quote: ev.Quote},
		SigningKey: pub, HPKEKey: hk.PublicKey().Bytes(), Models: models, MaxJobs: maxJobs})
	return b
}

func post(h http.Handler, path string, body []byte) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body)))
	return rec
}

// TestJoinNonces: a nonce joins once; replayed, expired and never-issued
// nonces are refused with 401.
func TestJoinNonces(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	rdb := r.Client()
	b, err := New(Config{Redis: rdb, Token: "t", AllowInsecure: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	h := b.Handler()
	issue := func() []byte {
		var nr wire.NonceResponse
		rec := post(h, "/v1/worker/nonce", []byte("{}"))
		json.Unmarshal(rec.Body.Bytes(), &nr)
		if len(nr.Nonce) != 32 {
			t.Fatalf("nonce: %s", rec.Body)
		}
		return nr.Nonce
	}
	n := issue()
	if rec := post(h, "/v1/worker/join", joinReq(t, n)); rec.Code != http.StatusOK {
		t.Fatalf("first join: %d %s", rec.Code, rec.Body)
	}
	if rec := post(h, "/v1/worker/join", joinReq(t, n)); rec.Code != http.StatusUnauthorized {
		t.Errorf("replayed nonce: %d", rec.Code)
	}
	never := make([]byte, 32)
	rand.Read(never)
	if rec := post(h, "/v1/worker/join", joinReq(t, never)); rec.Code != http.StatusUnauthorized {
		t.Errorf("never-issued nonce: %d", rec.Code)
	}
	expired := issue()
	rdb.PExpire(context.Background(), noncePrefix+hex.EncodeToString(expired), time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	if rec := post(h, "/v1/worker/join", joinReq(t, expired)); rec.Code != http.StatusUnauthorized {
		t.Errorf("expired nonce: %d", rec.Code)
	}
	// Evidence bound to other keys than those sent: refused.
	n2 := issue()
	var jr wire.JoinRequest
	json.Unmarshal(joinReq(t, n2), &jr)
	other, _ := seal.GenerateKey()
	jr.HPKEKey = other.PublicKey().Bytes()
	body, _ := json.Marshal(jr)
	if rec := post(h, "/v1/worker/join", body); rec.Code != http.StatusForbidden {
		t.Errorf("evidence for other keys: %d %s", rec.Code, rec.Body)
	}
}
