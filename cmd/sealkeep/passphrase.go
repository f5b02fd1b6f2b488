package main

import (
	"os"

	"sealkeep/internal/keyfile"
)

// passphrase returns the passphrase source for an encrypted key file: the
// first line of file, the environment variable env, or a prompt on the
// terminal (stderr); a non-interactive run without a source gets a clear
// error from keyfile.
func passphrase(file, env string) func() ([]byte, error) {
	return func() ([]byte, error) {
		return keyfile.ReadPassphrase(file, env, "Passphrase: ", os.Stdin, os.Stderr)
	}
}
