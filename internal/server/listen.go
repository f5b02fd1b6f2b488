package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"sealkeep/internal/errs"
	"sealkeep/internal/fileperm"
)

// TLSFiles names the certificate chain and private key files (PEM) of the
// server's TLS.
type TLSFiles struct {
	CertFile, KeyFile string
}

// Listen listens on addr ("host:port"). With tlsFiles it serves TLS 1.2
// or later (the key file must be private to its owner, mode 0600);
// without, addr must be a loopback address (127.0.0.0/8, ::1 or
// localhost), since plain HTTP elsewhere would carry passwords and
// sessions in the clear. It returns the listener and the URL to reach it.
func Listen(addr string, tlsFiles *TLSFiles) (net.Listener, string, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, "", errs.With(errs.Invalid, fmt.Errorf("listen address %q: %w", addr, err))
	}
	var cfg *tls.Config
	if tlsFiles != nil {
		fi, err := os.Stat(tlsFiles.KeyFile)
		if err != nil {
			return nil, "", errs.With(errs.Invalid, fmt.Errorf("TLS key: %w", err))
		}
		if err := fileperm.Private(tlsFiles.KeyFile, fi.Mode()); err != nil {
			return nil, "", fmt.Errorf("TLS key: %w", err)
		}
		cert, err := tls.LoadX509KeyPair(tlsFiles.CertFile, tlsFiles.KeyFile)
		if err != nil {
			return nil, "", errs.With(errs.Invalid, fmt.Errorf("TLS certificate and key: %w", err))
		}
		cfg = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	} else if !loopbackHost(host) {
		return nil, "", errs.New(errs.Invalid, fmt.Sprintf("listen address %q: plain HTTP is only served on a loopback address (127.0.0.1, ::1, localhost); give a TLS certificate and key to listen elsewhere", addr))
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("listen on %s: %w", addr, err)
	}
	if cfg == nil {
		if ta, ok := ln.Addr().(*net.TCPAddr); !ok || !ta.IP.IsLoopback() {
			ln.Close()
			return nil, "", errs.New(errs.Invalid, fmt.Sprintf("listen address %q: resolved to %v, which is not loopback; plain HTTP is refused", addr, ln.Addr()))
		}
		return ln, "http://" + ln.Addr().String(), nil
	}
	return tls.NewListener(ln, cfg), "https://" + ln.Addr().String(), nil
}

// loopbackHost reports whether host is a loopback IP literal or
// localhost.
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Serve serves on ln until ctx ends, then shuts down gracefully: no new
// connections, in-flight requests finish for up to
// Config.ShutdownTimeout, then the remaining connections are closed.
// Request contexts are not canceled by ctx, so a seal in progress
// completes. It returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		s.log.Warn("shutdown timed out; closing the remaining connections")
		err = hs.Close()
	}
	if serr := <-done; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}
