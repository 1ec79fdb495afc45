package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/cocoon-network/cocoon/internal/testenv"
	"github.com/cocoon-network/cocoon/wire"
)

// FuzzWorkerAPI feeds arbitrary bodies to the worker API endpoints of a
// real broker: nothing panics, nothing answers 5xx, and a job the fuzzer's
// worker does not hold is never changed.
func FuzzWorkerAPI(f *testing.F) {
	seeds := []string{
		`{"reports":[{"kind":"chunk","job":"0-aaaaaaaaaaaaaaaaaaaaaaaaaa","lease":"x","seq":0,"data":"aGk=","tokens":1}]}`,
		`{"reports":[{"kind":"complete","job":"3-zzzz","lease":""}]}`,
		`{"reports":[{"kind":"nope"}]}`,
		`{"max":1,"wait_ms":0}`,
		`{"nonce":"AAAA","evidence":{"type":"insecure-dev"},"models":[{"name":"m","digest":"d"}],"max_jobs":1}`,
		`{"reports":`, `[]`, `null`, `{"reports":[{"kind":"chunk","job":"0-` + string([]byte{0xff, 0xfe}) + `"}]}`,
	}
	for i, s := range seeds {
		f.Add(uint8(i%3), []byte(s))
	}
	r := testenv.StartRedis(f, testenv.RedisOptions{})
	rdb := r.Client()
	b, err := New(Config{Redis: rdb, Token: "t", AllowInsecure: true, Logger: quietLogger()})
	if err != nil {
		f.Fatal(err)
	}
	h := b.Handler()
	ctx := context.Background()
	wi := &WorkerInfo{Evidence: wire.EvidenceInsecureDev, Models: []wire.ModelDigest{{Name: model, Digest: "d"}}, MaxJobs: 4}
	token, err := b.reg.add(ctx, wi)
	if err != nil {
		f.Fatal(err)
	}
	// A job held by another worker: the fuzzer must never change it.
	other := wire.NewJobID(model)
	b.store.Submit(ctx, &wire.SubmitRequest{ID: other, Model: model, User: "u", MaxTokens: 4, Payload: []byte("x")})
	b.store.Lease(ctx, model, "w-other", 1)
	before, _ := rdb.HGetAll(ctx, jobKey(wire.ShardOf(model), other)).Result()
	paths := []string{"/v1/worker/report", "/v1/worker/lease", "/v1/worker/join"}

	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		path := paths[int(which)%len(paths)]
		if path == "/v1/worker/lease" {
			var lr wire.LeaseRequest
			if json.Unmarshal(body, &lr) == nil && lr.WaitMs > 0 {
				return // long-polls are not what this fuzzes
			}
		}
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q: status %d: %s", path, body, rec.Code, rec.Body.String())
		}
		after, _ := rdb.HGetAll(ctx, jobKey(wire.ShardOf(model), other)).Result()
		if len(after) != len(before) || after["state"] != before["state"] || after["next"] != before["next"] || after["lease"] != before["lease"] {
			t.Fatalf("%s %q changed another worker's job", path, body)
		}
	})
}
