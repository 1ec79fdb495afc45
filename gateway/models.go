package gateway

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/cocoon-network/cocoon/wire"
)

// Model is one entry of GET /v1/models.
type Model struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// ModelList is the answer of GET /v1/models: what live workers serve now.
type ModelList struct {
	Object string  `json:"object"`
	Data   []Model `json:"data"`
}

func (g *Gateway) models(w http.ResponseWriter, r *http.Request) ([]Model, bool) {
	if _, e := g.authenticate(r); e != nil {
		e.write(w)
		return nil, false
	}
	ms, err := g.cfg.Broker.Models(r.Context())
	if err != nil {
		e := fromSubmit(err)
		g.log.Warn("list models", "status", e.Status, "err", err)
		e.write(w)
		return nil, false
	}
	slices.SortFunc(ms, func(a, b wire.ModelInfo) int { return strings.Compare(a.Name, b.Name) })
	out := make([]Model, 0, len(ms))
	for _, m := range ms {
		out = append(out, Model{ID: m.Name, Object: "model", OwnedBy: "cocoon"})
	}
	return out, true
}

func (g *Gateway) handleModels(w http.ResponseWriter, r *http.Request) {
	ms, ok := g.models(w, r)
	if !ok {
		return
	}
	writeJSON(w, ModelList{Object: "list", Data: ms})
}

func (g *Gateway) handleModel(w http.ResponseWriter, r *http.Request) {
	ms, ok := g.models(w, r)
	if !ok {
		return
	}
	name := r.PathValue("model")
	for _, m := range ms {
		if m.ID == name {
			writeJSON(w, m)
			return
		}
	}
	(&APIError{Status: http.StatusNotFound, Type: TypeInvalidRequest, Param: "model", Code: "model_not_found",
		Message: "model " + quote(name) + " is not served right now (GET /v1/models lists what is)"}).write(w)
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
