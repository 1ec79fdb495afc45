package broker

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/cocoon-network/cocoon/wire"
)

// Escrows is the non-custodial escrow service for API clients (package
// escrowsvc behind an adapter): clients register an escrow contract of
// their own, deposits into it are credited, and a client closing its
// escrow gets no more credit.
type Escrows interface {
	Register(ctx context.Context, user, client string, closeDelay time.Duration) (*wire.EscrowInfo, error)
	Closing(ctx context.Context, user string) bool
}

// ErrEscrowInvalid marks registration input that can never succeed.
var ErrEscrowInvalid = errors.New("invalid escrow registration")

func (b *Broker) handleEscrow(w http.ResponseWriter, r *http.Request) {
	if b.cfg.Escrows == nil {
		writeErr(w, http.StatusNotFound, &wire.Error{Code: wire.CodeNotFound, Message: "escrows are off on this broker (COCOON_ESCROW_TREASURY)"})
		return
	}
	user := r.PathValue("user")
	if !userRe.MatchString(user) {
		badRequest(w, "user", "want a user id like tg:42")
		return
	}
	var req wire.EscrowRequest
	if !decodeBody(w, r, 4<<10, &req) {
		return
	}
	info, err := b.cfg.Escrows.Register(r.Context(), user, req.Client, time.Duration(req.CloseDelaySeconds)*time.Second)
	switch {
	case errors.Is(err, ErrEscrowInvalid):
		badRequest(w, "", "%v", err)
	case err != nil:
		b.internal(w, "escrow", err)
	default:
		writeJSON(w, http.StatusOK, info)
	}
}
