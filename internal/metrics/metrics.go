// Package metrics holds the server's Prometheus metrics in a registry of its
// own (no global state): HTTP requests and latencies, logins, and what other
// packages register.
package metrics

import (
	"context"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is the node's metric set.
type Metrics struct {
	Registry *prometheus.Registry

	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	logins   *prometheus.CounterVec
	limited  prometheus.Counter
}

// New registers the node's metrics in a fresh registry.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wac_http_requests_total", Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wac_http_request_duration_seconds",
			Help:    "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wac_logins_total", Help: "Token grants by grant type and result (ok, failed).",
		}, []string{"grant", "result"}),
		limited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wac_http_rate_limited_total", Help: "Requests refused with 429 by the per-IP rate limit.",
		}),
	}
	reg.MustRegister(m.requests, m.latency, m.logins, m.limited,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

// Request records one served request.
func (m *Metrics) Request(route, method string, code int, seconds float64) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(route).Observe(seconds)
}

// Login records a token grant's outcome.
func (m *Metrics) Login(grant string, ok bool) {
	result := "failed"
	if ok {
		result = "ok"
	}
	m.logins.WithLabelValues(grant, result).Inc()
}

// RateLimited records a 429.
func (m *Metrics) RateLimited() { m.limited.Inc() }

type routeKey struct{}

// WithRoute returns a context with a slot that SetRoute fills, so that the
// request's route pattern (not its raw path) labels its metrics.
func WithRoute(ctx context.Context) (context.Context, *string) {
	slot := new(string)
	return context.WithValue(ctx, routeKey{}, slot), slot
}

// SetRoute names the route that served the request of ctx.
func SetRoute(ctx context.Context, route string) {
	if slot, ok := ctx.Value(routeKey{}).(*string); ok {
		*slot = route
	}
}
