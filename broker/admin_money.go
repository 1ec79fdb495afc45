package broker

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"

	"github.com/cocoon-network/cocoon/ledger"
	"github.com/cocoon-network/cocoon/wire"
)

// maxListedReservations bounds the reservations one admin listing reads
// (the first by job id).
const maxListedReservations = 1000

// payerOf resolves the {user} of an admin money path to its ledger
// account, answering the request itself when it cannot.
func (b *Broker) payerOf(w http.ResponseWriter, r *http.Request) (string, bool) {
	user := r.PathValue("user")
	if !userRe.MatchString(user) {
		badRequest(w, "user", "want a user id like tg:42")
		return "", false
	}
	if b.cfg.Money == nil {
		writeErr(w, http.StatusConflict, &wire.Error{Code: wire.CodeConflict, Message: "billing is off on this broker (COCOON_PRICES unset)"})
		return "", false
	}
	payer, err := b.payer(r.Context(), user)
	if err != nil {
		b.internal(w, "payer", err)
		return "", false
	}
	return payer, true
}

// handleReservations lists a user's reservations with their jobs' states,
// "missing" for a job the store does not have.
func (b *Broker) handleReservations(w http.ResponseWriter, r *http.Request) {
	payer, ok := b.payerOf(w, r)
	if !ok {
		return
	}
	held, err := b.cfg.Money.Ledger.Reservations(r.Context(), payer)
	if err != nil {
		b.internal(w, "reservations", err)
		return
	}
	jobs := slices.Sorted(maps.Keys(held))
	out := make([]wire.Reservation, 0, min(len(jobs), maxListedReservations))
	for _, job := range jobs[:min(len(jobs), maxListedReservations)] {
		state, err := b.jobState(r, job)
		if err != nil {
			b.internal(w, "reservations", err)
			return
		}
		out = append(out, wire.Reservation{Job: job, Amount: held[job], State: state})
	}
	writeJSON(w, http.StatusOK, out)
}

// jobState is a job's state in the store, or wire.ReservationMissing.
func (b *Broker) jobState(r *http.Request, id string) (string, error) {
	st, err := b.store.Get(r.Context(), id)
	if errors.Is(err, ErrNotFound) {
		return wire.ReservationMissing, nil
	}
	if err != nil {
		return "", err
	}
	return st.State, nil
}

// handleUnreserve gives back the reservation of a job the store does not
// have and no intent will resolve (lost with Redis's last writes, or from
// before intents). A job the store has keeps it: it is settled when the job
// ends. A submit in flight reserves before it queues, so its job is
// missing for a moment; if an operator undoes that reservation, the
// settler reserves the job again when it ends.
func (b *Broker) handleUnreserve(w http.ResponseWriter, r *http.Request) {
	payer, ok := b.payerOf(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	state, err := b.jobState(r, id)
	if err != nil {
		b.internal(w, "unreserve", err)
		return
	}
	if state != wire.ReservationMissing {
		writeErr(w, http.StatusConflict, &wire.Error{Code: wire.CodeConflict,
			Message: fmt.Sprintf("job %s is %s: its reservation is settled when it ends", id, state)})
		return
	}
	rc, err := b.cfg.Money.Ledger.Unreserve(r.Context(), payer, id)
	switch {
	case errors.Is(err, ledger.ErrNoReservation):
		writeErr(w, http.StatusNotFound, &wire.Error{Code: wire.CodeNotFound, Message: "no reservation held for this job"})
	case errors.Is(err, ledger.ErrInvalidID):
		badRequest(w, "id", "not a job id")
	case err != nil:
		b.internal(w, "unreserve", err)
	default:
		b.log.Info("reservation given back by an operator", "job", id, "payer", payer, "amount", rc.Amount)
		writeJSON(w, http.StatusOK, wire.Reservation{Job: id, Amount: rc.Amount, State: wire.ReservationMissing})
	}
}
