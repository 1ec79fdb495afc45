package broker

import (
	"errors"
	"net/http"

	"github.com/cocoon-network/cocoon/wire"
)

// Admin endpoints (service token): what asynqmon shows for asynq.
func (b *Broker) adminRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/admin/queues", b.serviceAuth(b.handleQueues))
	mux.HandleFunc("GET /v1/admin/dead", b.serviceAuth(b.handleDead))
	mux.HandleFunc("POST /v1/admin/dead/{id}/requeue", b.serviceAuth(b.handleRequeue))
	mux.HandleFunc("GET /v1/admin/users/{user}/reservations", b.serviceAuth(b.handleReservations))
	mux.HandleFunc("POST /v1/admin/users/{user}/reservations/{id}/unreserve", b.serviceAuth(b.handleUnreserve))
}

// QueueInfo is one model's queue.
type QueueInfo struct {
	Model   string `json:"model"`
	Queued  int    `json:"queued"`
	Workers int    `json:"workers"`
}

func (b *Broker) handleQueues(w http.ResponseWriter, r *http.Request) {
	out := []QueueInfo{}
	for _, m := range b.reg.models() {
		n, err := b.store.Depth(r.Context(), m.Name)
		if err != nil {
			b.internal(w, "queues", err)
			return
		}
		out = append(out, QueueInfo{Model: m.Name, Queued: n, Workers: m.Workers})
	}
	writeJSON(w, http.StatusOK, out)
}

func (b *Broker) handleDead(w http.ResponseWriter, r *http.Request) {
	out := []*wire.JobStatus{}
	for shard := 0; shard < wire.NumShards; shard++ {
		ids, err := b.store.Dead(r.Context(), shard)
		if err != nil {
			b.internal(w, "dead", err)
			return
		}
		for _, id := range ids {
			if st, err := b.store.Get(r.Context(), id); err == nil {
				out = append(out, st)
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (b *Broker) handleRequeue(w http.ResponseWriter, r *http.Request) {
	// A billed dead job is refunded when it dies (by the settler, perhaps
	// not yet): running it again would be free for the user and unpaid for
	// the worker. Its user resubmits.
	if b.cfg.Money != nil {
		rsv, err := b.store.reserved(r.Context(), r.PathValue("id"))
		if err != nil {
			b.internal(w, "requeue", err)
			return
		}
		if rsv > 0 {
			writeErr(w, http.StatusConflict, &wire.Error{Code: wire.CodeConflict,
				Message: "a billed job is not requeued: it is refunded when it dies; its user must submit it again"})
			return
		}
	}
	err := b.store.RequeueDead(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, ErrNotFound):
		writeErr(w, http.StatusNotFound, &wire.Error{Code: wire.CodeNotFound, Message: "unknown job"})
	case errors.Is(err, ErrConflict):
		writeErr(w, http.StatusConflict, &wire.Error{Code: wire.CodeConflict, Message: err.Error()})
	case err != nil:
		b.internal(w, "requeue", err)
	default:
		shard, _ := wire.ParseJobID(r.PathValue("id")) // RequeueDead checked it
		b.wakeShards(r.Context(), map[int]bool{shard: true})
		writeJSON(w, http.StatusOK, struct{}{})
	}
}
