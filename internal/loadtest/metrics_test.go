package loadtest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/logging"
	"github.com/openwac/wac/internal/server"
)

// The load tools read a server's /metrics with WAC_METRICS_TOKEN, the
// variable that also gives wac serve its metrics.token; without a token
// the server does not serve /metrics on its public interface.
func TestReadsMetricsWithToken(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Password.Memory, cfg.Password.Iterations = 8*1024, 1
	cfg.Metrics.Token = "bench-metrics-token-0123"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(context.Background(), &cfg, logging.Discard(),
		server.Options{Out: io.Discard, Environ: []string{server.AdminPasswordEnv + "=admin-secret-1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	ctx := context.Background()

	t.Setenv("WAC_METRICS_TOKEN", cfg.Metrics.Token)
	if g, err := serverMetric(ctx, hs.URL, "go_goroutines"); err != nil || g <= 0 {
		t.Fatalf("go_goroutines with the token: %v %v", g, err)
	}
	if rss, err := serverRSS(ctx, http.DefaultClient, hs.URL); err != nil || rss <= 0 {
		t.Fatalf("RSS with the token: %v %v", rss, err)
	}
	t.Setenv("WAC_METRICS_TOKEN", "")
	if _, err := serverMetric(ctx, hs.URL, "go_goroutines"); err == nil || !strings.Contains(err.Error(), "WAC_METRICS_TOKEN") {
		t.Fatalf("without the token: %v, want an error naming WAC_METRICS_TOKEN", err)
	}
	if _, err := serverRSS(ctx, http.DefaultClient, hs.URL); err == nil || !strings.Contains(err.Error(), "WAC_METRICS_TOKEN") {
		t.Fatalf("RSS without the token: %v, want an error naming WAC_METRICS_TOKEN", err)
	}
}
