package obs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cocoon-network/cocoon/attest"
)

// metricNames returns the names of the Cocoon metrics.
func metricNames(t *testing.T) []string {
	t.Helper()
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	var names []string
	for _, c := range cocoonMetrics {
		ch := make(chan *prometheus.Desc, 4)
		c.Describe(ch)
		close(ch)
		for d := range ch {
			m := fq.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("cannot read the name of %v", d)
			}
			names = append(names, m[1])
		}
	}
	return names
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServeHealthReadyMetrics(t *testing.T) {
	run, stop := context.WithCancel(context.Background())
	serveCtx, stopServe := context.WithCancel(context.Background())
	defer stopServe()
	var redisDown bool
	ready := Draining(run, func(ctx context.Context) error {
		if redisDown {
			return errors.New("redis: unavailable")
		}
		return nil
	})
	addr, err := Start(serveCtx, "127.0.0.1:0", ready)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + addr.String()

	QueueDepth.SetSource(func(context.Context) (map[string]float64, error) {
		return map[string]float64{"tiny:latest": 3}, nil
	})
	defer QueueDepth.SetSource(nil)
	Jobs.WithLabelValues(OutcomeDone).Inc()
	DispatchLatency.WithLabelValues("tiny:latest").Observe(0.02)

	tests := []struct {
		name, path string
		before     func()
		wantCode   int
		wantBody   []string
	}{
		{"healthz", "/healthz", nil, 200, []string{"ok"}},
		{"ready", "/readyz", nil, 200, []string{"ok"}},
		{"metrics", "/metrics", nil, 200, []string{`cocoon_queue_depth{model="tiny:latest"} 3`, `cocoon_jobs_total{outcome="done"}`,
			`cocoon_dispatch_latency_seconds_bucket{model="tiny:latest",le="0.02"} 1`, "go_goroutines", "cocoon_ledger_ok 0"}},
		{"not ready", "/readyz", func() { redisDown = true }, 503, []string{"redis: unavailable"}},
		{"draining", "/readyz", func() { redisDown = false; stop() }, 503, []string{"draining"}},
		{"metrics while draining", "/metrics", nil, 200, []string{"cocoon_jobs_total"}},
		{"healthz while draining", "/healthz", nil, 200, []string{"ok"}},
	}
	for _, tt := range tests {
		if tt.before != nil {
			tt.before()
		}
		code, body := get(t, base+tt.path)
		if code != tt.wantCode {
			t.Errorf("%s: status %d, want %d (%s)", tt.name, code, tt.wantCode, body)
		}
		for _, w := range tt.wantBody {
			if !strings.Contains(body, w) {
				t.Errorf("%s: body lacks %q", tt.name, w)
			}
		}
	}

	// A failing callback does not take /metrics down.
	QueueDepth.SetSource(func(context.Context) (map[string]float64, error) { return nil, errors.New("redis down") })
	if code, body := get(t, base+"/metrics"); code != 200 || !strings.Contains(body, "cocoon_jobs_total") {
		t.Errorf("metrics with a failing callback: %d", code)
	}

	stopServe()
	deadline := time.Now().Add(3 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr.String(), 100*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still open after its context ended")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStartWithoutAddrServesNothing(t *testing.T) {
	addr, err := Start(context.Background(), "", nil)
	if addr != nil || err != nil {
		t.Fatalf("got %v, %v", addr, err)
	}
}

func TestServeBusyPortFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := Start(context.Background(), ln.Addr().String(), nil); err == nil || !strings.Contains(err.Error(), "COCOON_METRICS_ADDR") {
		t.Fatalf("want a listen error naming the setting, got %v", err)
	}
}

func TestAttestResult(t *testing.T) {
	tests := []struct {
		insecure bool
		err      error
		want     string
	}{
		{false, nil, "tdx"},
		{true, nil, "insecure_dev"},
		{false, fmt.Errorf("%w: mrtd=… (allowlist has 0 entries)", attest.ErrMeasurement), "refused_measurement"},
		{false, fmt.Errorf("candidate w1: %w", fmt.Errorf("%w: x", attest.ErrChain)), "refused_chain"},
		{false, attest.ErrInsecureDev, "refused_insecure_dev"},
		{false, errors.New("something else"), "refused_other"},
	}
	for _, tt := range tests {
		if got := AttestResult(tt.insecure, tt.err); got != tt.want {
			t.Errorf("AttestResult(%v, %v) = %q, want %q", tt.insecure, tt.err, got, tt.want)
		}
	}
}

// exprMetrics returns the cocoon_* metric names an expression uses, without
// the histogram suffixes.
func exprMetrics(expr string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`cocoon_[a-z0-9_]+`).FindAllString(expr, -1) {
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if strings.HasSuffix(m, "_seconds"+suf) {
				m = strings.TrimSuffix(m, suf)
			}
		}
		out = append(out, m)
	}
	return out
}

func TestDashboardUsesEveryMetric(t *testing.T) {
	b, err := os.ReadFile("../../deploy/grafana/cocoon.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title         string `json:"title"`
		UID           string `json:"uid"`
		SchemaVersion int    `json:"schemaVersion"`
		Panels        []struct {
			ID      int    `json:"id"`
			Type    string `json:"type"`
			Title   string `json:"title"`
			GridPos struct{ H, W, X, Y int }
			Targets []struct {
				Expr  string `json:"expr"`
				RefID string `json:"refId"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	if dash.Title == "" || dash.UID == "" || dash.SchemaVersion == 0 || len(dash.Panels) == 0 {
		t.Fatalf("not a Grafana dashboard model: title %q uid %q schema %d", dash.Title, dash.UID, dash.SchemaVersion)
	}
	defined := map[string]bool{}
	for _, n := range metricNames(t) {
		defined[n] = true
	}
	used := map[string]bool{}
	ids := map[int]bool{}
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type != "row" && (len(p.Targets) == 0 || p.GridPos.W == 0 || p.GridPos.H == 0) {
			t.Errorf("panel %q has no query or no size", p.Title)
		}
		for _, tg := range p.Targets {
			for _, m := range exprMetrics(tg.Expr) {
				if !defined[m] {
					t.Errorf("panel %q uses %s, which internal/obs does not define", p.Title, m)
				}
				used[m] = true
			}
		}
	}
	for n := range defined {
		if !used[n] {
			t.Errorf("metric %s has no panel in the dashboard", n)
		}
	}
}

func TestOperationsDocDescribesEveryMetric(t *testing.T) {
	b, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range metricNames(t) {
		if !strings.Contains(string(b), "`"+n+"`") {
			t.Errorf("docs/operations.md does not describe %s", n)
		}
	}
}
