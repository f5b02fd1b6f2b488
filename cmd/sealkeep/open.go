package main

import (
	"context"
	"time"

	"sealkeep/internal/config"
	"sealkeep/internal/custody"
	"sealkeep/internal/envelope"

	"github.com/spf13/cobra"

	// The key providers, so that their URIs resolve (pkcs11 answers with
	// "built without PKCS#11 support" unless built with -tags pkcs11).
	_ "sealkeep/internal/signer/awskms"
	_ "sealkeep/internal/signer/azurekv"
	_ "sealkeep/internal/signer/gcpkms"
	_ "sealkeep/internal/signer/pkcs11"
)

// dekCacheTTL bounds how long an unwrapped org DEK stays in memory when the
// KEK is held in AWS KMS (DESIGN.md: a brief, bounded cache of DEKs, never
// of private keys).
const dekCacheTTL = 5 * time.Minute

// openService opens the data directory and returns the custody service and
// a function that closes it.
func openService(ctx context.Context) (*custody.Service, func(), error) {
	env, err := config.Open(ctx, dataDir())
	if err != nil {
		return nil, nil, err
	}
	kek := env.Config.KEKFile
	if env.Config.KEKEnv != "" {
		kek = "$" + env.Config.KEKEnv
	}
	if k := env.Config.KEKAWSKMS; k != nil {
		kek = k.Keys[k.Active]
	}
	globals.logger.DebugContext(ctx, "data directory opened", "dir", dataDir(),
		"database", config.RedactDSN(env.Config.Database), "kek_source", kek, "kek_active_version", env.KEK.ActiveVersion())
	opts := custody.Options{Logger: globals.logger}
	if env.Config.KEKAWSKMS != nil {
		// A KMS-held KEK: keep unwrapped DEKs briefly so that a command
		// that signs or re-encrypts several times calls KMS once per DEK.
		opts.DEKCache = envelope.NewDEKCache(dekCacheTTL)
	}
	pub, err := env.Publisher(globals.logger)
	if err != nil {
		env.Store.Close()
		return nil, nil, err
	}
	svc := custody.New(pub, env.KEK, opts)
	return svc, func() {
		if opts.DEKCache != nil {
			opts.DEKCache.Close()
		}
		pub.Close() // writes the pending checkpoints, closes env.Store
	}, nil
}

// withService opens the data directory, runs fn with the custody service and
// closes it again: the body of every command that acts on custody.
func withService(cmd *cobra.Command, fn func(svc *custody.Service) error) error {
	svc, done, err := openService(cmd.Context())
	if err != nil {
		return err
	}
	defer done()
	return fn(svc)
}
