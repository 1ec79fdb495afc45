package broker

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-network/cocoon/internal/testenv"
	"github.com/cocoon-network/cocoon/ledger"
	"github.com/cocoon-network/cocoon/wire"
)

// fakeEscrows is a handwritten stand-in for the escrow service (which
// needs a TON chain; escrowsvc's own tests run the contract in the TVM).
type fakeEscrows struct{ closing map[string]bool }

func (f fakeEscrows) Register(_ context.Context, user, client string, d time.Duration) (*wire.EscrowInfo, error) {
	if client == "" || d <= 0 {
		return nil, ErrEscrowInvalid
	}
	return &wire.EscrowInfo{Address: "EQ-" + user, StateInit: []byte{1}}, nil
}
func (f fakeEscrows) Closing(_ context.Context, user string) bool { return f.closing[user] }

func TestEscrowRegistrationAndClosingRefusesCredit(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	rdb := r.Client()
	l := ledger.New(rdb)
	prices, _ := ledger.ParsePrices(model + "=1000/2000")
	b, err := New(Config{Redis: rdb, Token: "t", Logger: quietLogger(), Escrows: fakeEscrows{closing: map[string]bool{"tg:closing": true}},
		Money: &Money{Ledger: l, Prices: prices, Trial: 1_000_000_000}})
	if err != nil {
		t.Fatal(err)
	}
	h := b.Handler()
	do := func(path, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer t")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	rec := do("/v1/users/tg:1/escrow", `{"client":"EQabc","close_delay_seconds":3600}`)
	var info wire.EscrowInfo
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &info) != nil || info.Address != "EQ-tg:1" {
		t.Fatalf("register: %d %s", rec.Code, rec.Body)
	}
	if rec := do("/v1/users/tg:1/escrow", `{"client":""}`); rec.Code != 400 {
		t.Errorf("bad registration: %d", rec.Code)
	}
	ctx := context.Background()
	req := &wire.SubmitRequest{ID: wire.NewJobID(model), Model: model, User: "tg:closing", MaxTokens: 8, PromptBytes: 10, Payload: []byte("x")}
	if _, e := b.reserve(ctx, req); e == nil || e.Code != wire.CodeInsufficient {
		t.Fatalf("closing escrow: %v, want refused", e)
	}
	req.User = "tg:open"
	if _, e := b.reserve(ctx, req); e != nil {
		t.Fatalf("open user: %v", e)
	}
}
