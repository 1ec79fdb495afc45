package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-network/cocoon/broker"
	"github.com/cocoon-network/cocoon/broker/client"
	"github.com/cocoon-network/cocoon/wire"
)

// TestAdminPoolTable: `cocoon admin pool` shows each worker's running/max
// jobs and average job time ("-" before its first answered job).
func TestAdminPoolTable(t *testing.T) {
	now := time.Now()
	pool := []broker.WorkerInfo{
		{ID: "w-fast", Name: "gpu1", Evidence: wire.EvidenceInsecureDev, Models: []wire.ModelDigest{{Name: "tiny:latest"}},
			Running: 2, MaxJobs: 4, AvgJobMs: 1500, SeenMs: now.UnixMilli()},
		{ID: "w-new", Evidence: wire.EvidenceInsecureDev, Models: []wire.ModelDigest{{Name: "tiny:latest"}},
			MaxJobs: 1, Draining: true, SeenMs: now.UnixMilli()},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/pool" || r.Header.Get("Authorization") != "Bearer tok" {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(pool)
	}))
	defer srv.Close()
	var out bytes.Buffer
	if err := adminPool(context.Background(), client.New(srv.URL, "tok"), &out, now); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 || !strings.Contains(lines[0], "AVG JOB") || lines[3] != "2 workers" {
		t.Fatalf("table:\n%s", out.String())
	}
	for i, want := range [][]string{{"w-fast", "2/4", "1.5s", "ready"}, {"w-new", "0/1", " - ", "draining"}} {
		for _, f := range want {
			if !strings.Contains(lines[i+1], f) {
				t.Errorf("row %d %q lacks %q", i+1, lines[i+1], f)
			}
		}
	}
}

// TestAdminUserListsReservations: `cocoon admin user` lists the jobs holding
// the user's money and, for a job the broker does not have, the command
// that gives it back.
func TestAdminUserListsReservations(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/users/tg:7/balance":
			json.NewEncoder(w).Encode(wire.Balance{Available: 5, Reserved: 3_000_000, Billing: true})
		case "/v1/users/tg:7/account":
			json.NewEncoder(w).Encode(wire.Account{})
		case "/v1/admin/users/tg:7/reservations":
			json.NewEncoder(w).Encode([]wire.Reservation{{Job: "3-a", Amount: 1_000_000, State: wire.StateStreaming},
				{Job: "3-b", Amount: 2_000_000, State: wire.ReservationMissing}})
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	var out bytes.Buffer
	if err := adminUser(context.Background(), client.New(srv.URL, "tok"), &out, "tg:7"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"reservations (2)", "3-a  0.001", "streaming", "3-b  0.002", "missing",
		"1 held by jobs the broker does not have", "give one back with: cocoon admin unreserve tg:7 JOB"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
