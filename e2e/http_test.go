package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/cocoon-network/cocoon/wire"
)

// postJSON posts body with an optional bearer token and decodes an error body.
func postJSON(t *testing.T, url, token, body string) (int, wire.Error) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post %s: %v", url, err)
	}
	defer resp.Body.Close()
	var eb wire.ErrorBody
	_ = json.NewDecoder(resp.Body).Decode(&eb)
	if eb.Error == nil {
		eb.Error = &wire.Error{}
	}
	return resp.StatusCode, *eb.Error
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
