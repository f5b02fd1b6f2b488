package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the server's Prometheus collectors, registered in Registry
// (served at /metrics). The exported collectors are for the seal and
// account code to observe; no label ever holds a user, a document or a
// secret.
type Metrics struct {
	// Registry holds every collector below, plus the Go runtime and
	// process collectors.
	Registry *prometheus.Registry

	// SealDuration observes the seconds of one seal (prepare, sign,
	// embed, audit, write) by signer provider ("local", "awskms", ...).
	SealDuration *prometheus.HistogramVec
	// Seals counts seals by outcome ("sealed", "refused", "error").
	Seals *prometheus.CounterVec
	// Verifications counts verifications by outcome: the report's verdict
	// ("valid", "invalid", "modified", "untrusted"), "unreadable" (not
	// judged) or "error".
	Verifications *prometheus.CounterVec
	// AuditAppend observes the seconds of one audit append.
	AuditAppend prometheus.Histogram
	// LoginFailures counts failed logins and step-ups by reason
	// ("password", "totp", "passkey", "locked").
	LoginFailures *prometheus.CounterVec
	// RateLimited counts requests refused by a rate or concurrency limit,
	// by limit ("login", "seal", "verify").
	RateLimited *prometheus.CounterVec

	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewMetrics returns a new set of collectors in a new registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		SealDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sealkeep_seal_duration_seconds", Help: "Seconds of one seal, by signer provider.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"provider"}),
		Seals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealkeep_seals_total", Help: "Seals, by outcome.",
		}, []string{"outcome"}),
		Verifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealkeep_verifications_total", Help: "Verifications, by outcome (verdict, unreadable or error).",
		}, []string{"outcome"}),
		AuditAppend: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sealkeep_audit_append_duration_seconds", Help: "Seconds of one audit append.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		LoginFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealkeep_login_failures_total", Help: "Failed logins and step-ups, by reason.",
		}, []string{"reason"}),
		RateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealkeep_rate_limit_rejections_total", Help: "Requests refused by a rate or concurrency limit, by limit.",
		}, []string{"limit"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sealkeep_http_requests_total", Help: "HTTP requests, by route pattern and status.",
		}, []string{"route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sealkeep_http_request_duration_seconds", Help: "Seconds to answer an HTTP request, by route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
	}
	m.Registry.MustRegister(m.SealDuration, m.Seals, m.Verifications, m.AuditAppend, m.LoginFailures, m.RateLimited,
		m.requests, m.duration, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Known label values start at zero, so that a rate is defined before
	// the first event.
	for _, p := range SignerProviders {
		m.SealDuration.WithLabelValues(p)
	}
	for _, o := range []string{"sealed", "refused", "error"} {
		m.Seals.WithLabelValues(o)
	}
	for _, o := range []string{"valid", "untrusted", "modified", "invalid", "unreadable", "error"} {
		m.Verifications.WithLabelValues(o)
	}
	for _, r := range []string{"password", "totp", "locked"} {
		m.LoginFailures.WithLabelValues(r)
	}
	for _, l := range []string{"login", "seal", "verify"} {
		m.RateLimited.WithLabelValues(l)
	}
	return m
}

// SignerProviders are the provider label values of SealDuration.
var SignerProviders = []string{"local", "awskms", "pkcs11", "azurekv", "gcpkms"}
