package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	neturl "net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"sealkeep/internal/auth"
	"sealkeep/internal/config"
	"sealkeep/internal/custody"
	"sealkeep/internal/envelope"
	"sealkeep/internal/idempotency"
	"sealkeep/internal/passkey"
	"sealkeep/internal/pdf/verify"
	"sealkeep/internal/redact"
	"sealkeep/internal/server"
	"sealkeep/internal/signer"
	"sealkeep/internal/store"
)

func init() { register(newServeCmd) }

// serveEnv names the environment variable of each serve flag; a flag given
// on the command line wins over its variable.
var serveEnv = map[string]string{
	"listen":               "SEALKEEP_LISTEN",
	"tls-cert":             "SEALKEEP_TLS_CERT",
	"tls-key":              "SEALKEEP_TLS_KEY",
	"trust":                "SEALKEEP_TRUST",
	"max-upload":           "SEALKEEP_MAX_UPLOAD",
	"max-decoded":          "SEALKEEP_MAX_DECODED",
	"verify-timeout":       "SEALKEEP_VERIFY_TIMEOUT",
	"max-verifies":         "SEALKEEP_MAX_VERIFIES",
	"shutdown-timeout":     "SEALKEEP_SHUTDOWN_TIMEOUT",
	"seal-timeout":         "SEALKEEP_SEAL_TIMEOUT",
	"max-seals":            "SEALKEEP_MAX_SEALS",
	"tsa":                  "SEALKEEP_TSA",
	"external-key-schemes": "SEALKEEP_EXTERNAL_KEY_SCHEMES",
	// WebAuthn (passkeys).
	"webauthn-rp-id":       "SEALKEEP_WEBAUTHN_RP_ID",
	"webauthn-origin":      "SEALKEEP_WEBAUTHN_ORIGIN",
	"webauthn-attestation": "SEALKEEP_WEBAUTHN_ATTESTATION",
}

type serveFlags struct {
	listen, tlsCert, tlsKey, trust, tsa         string
	maxUpload, maxDecoded                       maxDecodedFlag
	verifyTimeout, shutdownTimeout, sealTimeout time.Duration
	maxVerifies, maxSeals                       int
	externalSchemes                             []string
	rpID, attestation                           string
	origins                                     []string
}

func newServeCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve [--listen ADDR] [--tls-cert FILE --tls-key FILE] [--trust ROOTS.pem]",
		Short: "Run the HTTP service (API, /healthz, /readyz, /metrics)",
		Long: `Run the sealkeep HTTP service on the data directory's store and KEK.

The API is under /api/v1 and described by /api/v1/openapi.json (OpenAPI 3.1);
POST /api/v1/verify verifies a PDF without login. /healthz answers while the
process runs, /readyz when the store is reachable and the KEK usable,
/metrics in the Prometheus format. Errors are RFC 9457 problem details;
every response has an X-Request-Id header. One JSON log line per request
goes to stderr through the redacting handler (--log-level, default info).

--tls-cert and --tls-key serve TLS 1.2 or later. Without them the service
speaks plain HTTP, which is refused on any address but loopback
(127.0.0.1, ::1, localhost). SIGINT or SIGTERM stops it gracefully:
in-flight requests finish for up to --shutdown-timeout.

Every flag can be set by its environment variable (SEALKEEP_LISTEN,
SEALKEEP_TLS_CERT, SEALKEEP_TLS_KEY, SEALKEEP_TRUST, SEALKEEP_MAX_UPLOAD,
SEALKEEP_MAX_DECODED, SEALKEEP_VERIFY_TIMEOUT, SEALKEEP_MAX_VERIFIES,
SEALKEEP_SHUTDOWN_TIMEOUT, SEALKEEP_SEAL_TIMEOUT, SEALKEEP_MAX_SEALS,
SEALKEEP_TSA, SEALKEEP_EXTERNAL_KEY_SCHEMES, SEALKEEP_WEBAUTHN_RP_ID,
SEALKEEP_WEBAUTHN_ORIGIN, SEALKEEP_WEBAUTHN_ATTESTATION);
the flag wins.

--external-key-schemes lets sealers register keys held in a KMS through the
API (POST .../external-keys): awskms, azurekv, gcpkms. The service opens
such a key with its own cloud credentials, so enable only the providers
whose credentials are meant for it. pkcs11 keys (a module and a PIN file on
this host) and KMS endpoint overrides are never accepted over the API.

Passkeys (WebAuthn) are scoped to a relying party ID, the host name the
browser shows: --webauthn-rp-id (default: the listen address's host name, or
localhost for a loopback address) and --webauthn-origin, the page origins
ceremonies may come from (default: the listen URL with that host name). A
server on an IP address that is not loopback has no passkeys unless both are
given. --webauthn-attestation FORMAT requires every new passkey to carry an
attestation statement of that format (packed, tpm, apple, ...; default: none
asked for).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := flagsFromEnv(cmd.Flags()); err != nil {
				return usageError{err}
			}
			return runServe(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", "127.0.0.1:8080", "address to listen on, host:port")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate chain of the server's TLS")
	fl.StringVar(&f.tlsKey, "tls-key", "", "PEM private key of the server's TLS (mode 0600)")
	fl.StringVar(&f.trust, "trust", "", "PEM bundle of trust anchors for verification (default: none)")
	f.maxUpload = server.DefaultMaxUpload
	fl.Var(&f.maxUpload, "max-upload", "largest document accepted, e.g. 64MiB")
	addMaxDecodedFlag(cmd, &f.maxDecoded)
	fl.DurationVar(&f.verifyTimeout, "verify-timeout", server.DefaultVerifyTimeout, "longest one verification may take")
	fl.IntVar(&f.maxVerifies, "max-verifies", 0, "PDF verifications in progress at once, and audit chain verifications apart, past which 429 (default: twice the CPUs)")
	fl.DurationVar(&f.shutdownTimeout, "shutdown-timeout", server.DefaultShutdownTimeout, "how long in-flight requests may take to finish on shutdown")
	fl.DurationVar(&f.sealTimeout, "seal-timeout", server.DefaultSealTimeout, "longest one seal may take (abandoned past it, nothing sealed)")
	fl.IntVar(&f.maxSeals, "max-seals", server.DefaultMaxSealsPerUser, "seals one user may have in progress at once on this server, past which 429")
	fl.StringVar(&f.tsa, "tsa", "", "RFC 3161 timestamp authority URL of B-T seals (default: none, B-B only)")
	fl.StringVar(&f.rpID, "webauthn-rp-id", "", "WebAuthn relying party ID of passkeys: the server's host name (default: from --listen)")
	fl.StringSliceVar(&f.origins, "webauthn-origin", nil, "page origins of passkey ceremonies, https://host[:port] (default: from --listen)")
	fl.StringVar(&f.attestation, "webauthn-attestation", "", "attestation format every new passkey must carry (default: none asked for)")
	fl.StringSliceVar(&f.externalSchemes, "external-key-schemes", nil, "key URI schemes sealers may register as external keys through the API: awskms, azurekv, gcpkms (default: none)")
	cmd.MarkFlagsRequiredTogether("tls-cert", "tls-key")
	return cmd
}

// flagsFromEnv sets every serve flag not given on the command line from its
// environment variable.
func flagsFromEnv(fl *pflag.FlagSet) error {
	for name, env := range serveEnv {
		v, ok := os.LookupEnv(env)
		if !ok || fl.Changed(name) {
			continue
		}
		if err := fl.Set(name, v); err != nil {
			return fmt.Errorf("$%s: %w", env, err)
		}
	}
	return nil
}

func runServe(cmd *cobra.Command, f serveFlags) error {
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return usageError{errors.New("--tls-cert and --tls-key go together")}
	}
	for _, scheme := range f.externalSchemes {
		if scheme == "pkcs11" || !slices.Contains(signer.Schemes(), scheme) {
			return usageError{fmt.Errorf("--external-key-schemes: %q is not one of awskms, azurekv, gcpkms", scheme)}
		}
	}
	var tlsFiles *server.TLSFiles
	if f.tlsCert != "" {
		tlsFiles = &server.TLSFiles{CertFile: f.tlsCert, KeyFile: f.tlsKey}
	}
	log := serveLogger(cmd)
	// The address is checked (loopback for plain HTTP) before anything is
	// opened; connections wait in the backlog until Serve.
	ln, url, err := server.Listen(f.listen, tlsFiles)
	if err != nil {
		return err
	}
	defer ln.Close()
	env, err := config.Open(cmd.Context(), dataDir())
	if err != nil {
		return err
	}
	// Every write goes through the publisher, which writes the signed
	// checkpoints (and asks the witnesses) after each append.
	pub, err := env.Publisher(log)
	if err != nil {
		env.Store.Close()
		return err
	}
	defer pub.Close()
	// One DEK cache for custody and accounts (keys are per org), so that a
	// KMS-held KEK is not called on every seal and step-up.
	dekCache := envelope.NewDEKCache(dekCacheTTL)
	defer dekCache.Close()
	cfg := server.Config{
		Logger: log, MaxUpload: int64(f.maxUpload), Limits: f.maxDecoded.limits(),
		VerifyTimeout: f.verifyTimeout, ShutdownTimeout: f.shutdownTimeout, MaxVerifies: f.maxVerifies,
		SealTimeout: f.sealTimeout, MaxSealsPerUser: f.maxSeals, TSA: f.tsa,
		ExternalKeySchemes: f.externalSchemes,
		// A pending Idempotency-Key is held longer than a seal may run.
		Idempotency: idempotency.New(pub, idempotency.Options{Lease: max(idempotency.DefaultLease, 2*f.sealTimeout)}),
		Custody:     newStoreCustody(env.Store, log),
		Auth:        auth.New(pub, env.KEK, auth.Options{Logger: log, DEKCache: dekCache}),
		Keys:        custody.New(pub, env.KEK, custody.Options{Logger: log, DEKCache: dekCache}),
		Ready: []server.Check{
			server.StoreCheck(env.Store), server.KEKCheck(env.KEK),
		},
	}
	if f.trust != "" {
		if cfg.Roots, err = readTrust(f.trust); err != nil {
			return usageError{err}
		}
	}
	if pc, ok, err := webauthnConfig(f, url); err != nil {
		return usageError{err}
	} else if ok {
		pc.Logger = log
		if cfg.Passkeys, err = passkey.New(pub, pc); err != nil {
			return usageError{err}
		}
		log.Info("passkeys", "rp_id", pc.RPID, "origins", strings.Join(pc.Origins, " "))
	} else {
		log.Warn("no passkeys: the listen address is an IP address; give --webauthn-rp-id and --webauthn-origin")
	}
	srv, err := server.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Info("listening", "url", url, "database", config.RedactDSN(env.Config.Database))
	if err := srv.Serve(ctx, ln); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped")
	return nil
}

// serveLogger is the service's JSON logger on stderr, through the
// redacting handler; its level is --log-level if given, else info.
func serveLogger(cmd *cobra.Command) *slog.Logger {
	lvl := slog.LevelInfo
	if cmd.Flags().Changed("log-level") {
		_ = lvl.UnmarshalText([]byte(globals.logLevel))
	}
	return slog.New(redact.NewHandler(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})))
}

// newStoreCustody is the custody lookup of verification on st: the same
// for `sealkeep verify` and the service's POST /api/v1/verify.
func newStoreCustody(st store.Store, log *slog.Logger) verify.CustodyLookup {
	return storeCustody{custody.New(st, nil, custody.Options{Logger: log})}
}

// webauthnConfig is the relying party of the server's passkeys: the flags,
// or else the listen URL's host name (localhost for a loopback address)
// and that URL as the origin. ok is false when there is none (an IP
// address that is not loopback, which cannot be a relying party ID).
func webauthnConfig(f serveFlags, listenURL string) (passkey.Config, bool, error) {
	c := passkey.Config{RPID: f.rpID, Origins: f.origins, Attestation: f.attestation}
	if c.RPID != "" && len(c.Origins) > 0 {
		return c, true, nil
	}
	u, err := neturl.Parse(listenURL)
	if err != nil {
		return c, false, err
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); ip != nil {
		if !ip.IsLoopback() {
			if c.RPID != "" || len(c.Origins) > 0 {
				return c, false, errors.New("--webauthn-rp-id and --webauthn-origin go together on a server that listens on an IP address")
			}
			return c, false, nil
		}
		host = "localhost"
	}
	if c.RPID == "" {
		c.RPID = host
	}
	if len(c.Origins) == 0 {
		o := u.Scheme + "://" + c.RPID
		if p := u.Port(); p != "" {
			o += ":" + p
		}
		c.Origins = []string{o}
	}
	return c, true, nil
}
