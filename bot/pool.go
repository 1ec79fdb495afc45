package bot

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// BrokerPool lists the live workers with GET /v1/pool on the broker at
// base, authenticated with the service token.
func BrokerPool(base, token string, hc *http.Client) PoolFunc {
	if hc == nil {
		hc = &http.Client{}
	}
	base = strings.TrimRight(base, "/")
	return func(ctx context.Context) ([]PoolWorker, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/pool", nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET /v1/pool: %s", resp.Status)
		}
		var ws []PoolWorker
		if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&ws); err != nil {
			return nil, fmt.Errorf("GET /v1/pool: %w", err)
		}
		return ws, nil
	}
}

// PoolFromRaw adapts a client method that returns the pool as raw JSON
// objects (one per worker).
func PoolFromRaw(list func(context.Context) ([]json.RawMessage, error)) PoolFunc {
	return func(ctx context.Context) ([]PoolWorker, error) {
		raws, err := list(ctx)
		if err != nil {
			return nil, err
		}
		ws := make([]PoolWorker, 0, len(raws))
		for _, r := range raws {
			var w PoolWorker
			if err := json.Unmarshal(r, &w); err != nil {
				return nil, err
			}
			ws = append(ws, w)
		}
		return ws, nil
	}
}
