package main

import (
	"context"

	"sealkeep/internal/config"
	"sealkeep/internal/custody"

	// The key providers, so that their URIs resolve (pkcs11 answers with
	// "built without PKCS#11 support" unless built with -tags pkcs11).
	_ "sealkeep/internal/signer/awskms"
	_ "sealkeep/internal/signer/azurekv"
	_ "sealkeep/internal/signer/gcpkms"
	_ "sealkeep/internal/signer/pkcs11"
)

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
	svc := custody.New(env.Store, env.KEK, custody.Options{Logger: globals.logger})
	return svc, func() { env.Store.Close() }, nil
}
