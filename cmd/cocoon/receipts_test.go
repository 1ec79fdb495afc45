package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/cocoon-network/cocoon/internal/config"
	"github.com/cocoon-network/cocoon/internal/teststack"
	"github.com/cocoon-network/cocoon/submit"
	"github.com/cocoon-network/cocoon/wire"
)

// TestVerifyReceiptFile: ask's receipt file verifies offline; any change
// to the receipt or the evidence makes verify-receipt fail.
func TestVerifyReceiptFile(t *testing.T) {
	s := teststack.Start(t, teststack.Options{})
	s.AddWorker(nil)
	res, err := s.Submitter.Run(context.Background(), &submit.Request{Model: s.Ollama.Model, User: "cli:t", MaxTokens: 8,
		Messages: []wire.Message{{Role: "user", Content: "hi"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "r.json")
	if err := writeReceipts(path, res); err != nil {
		t.Fatal(err)
	}
	t.Setenv("COCOON_ALLOW_INSECURE_WORKERS", "true") // the stack's workers are insecure-dev
	env := config.Load("")
	if err := runVerifyReceipt(context.Background(), env, []string{path}); err != nil {
		t.Fatalf("genuine receipt file: %v", err)
	}
	var files []receiptFile
	b, _ := os.ReadFile(path)
	json.Unmarshal(b, &files)
	tampers := map[string]func(f *receiptFile){
		"tokens":      func(f *receiptFile) { f.Receipt.CompletionTokens++ },
		"signing key": func(f *receiptFile) { f.Candidate.SigningKey[0] ^= 1 },
		"hpke key":    func(f *receiptFile) { f.Candidate.HPKEKey[0] ^= 1 },
		"worker":      func(f *receiptFile) { f.Candidate.WorkerID = "wnope" },
	}
	for name, tamper := range tampers {
		var cp []receiptFile
		json.Unmarshal(b, &cp)
		tamper(&cp[0])
		out, _ := json.Marshal(cp)
		p := filepath.Join(t.TempDir(), "bad.json")
		os.WriteFile(p, out, 0o600)
		if err := runVerifyReceipt(context.Background(), env, []string{p}); err == nil {
			t.Errorf("tampered %s: verified", name)
		}
	}
	_ = files
}
