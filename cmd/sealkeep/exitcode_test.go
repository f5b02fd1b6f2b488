package main

import (
	"errors"
	"fmt"
	"testing"

	"sealkeep/internal/audit"
	"sealkeep/internal/config"
	"sealkeep/internal/custody"
	"sealkeep/internal/envelope"
	"sealkeep/internal/fileperm"
	"sealkeep/internal/keypolicy"
	"sealkeep/internal/signer"
	"sealkeep/internal/store"
)

// TestExitCodes checks the one mapping from errors to exit codes.
func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
	}{
		{nil, 0},
		{&silentError{code: exitVerify}, 1},
		{fmt.Errorf("x: %w", envelope.ErrAuthentication), 1},
		{fmt.Errorf("x: %w", custody.ErrStateMismatch), 1},
		{fmt.Errorf("x: %w: %w", custody.ErrStateMismatch, custody.ErrNotFound), 1},
		{fmt.Errorf("x: %w", store.ErrCorrupt), 1},
		{fmt.Errorf("x: %w: %w", keypolicy.ErrMismatch, custody.ErrForbidden), 1},
		{fmt.Errorf("x: %w", signer.ErrBadSignature), 1},
		{fmt.Errorf("upload: %w: %w", custody.ErrInvalidInput, keypolicy.ErrMismatch), 2},
		{fmt.Errorf("append refused: %w", &audit.Break{Problem: audit.ProblemTruncated}), 1},
		{usageError{errors.New("bad flag")}, 2},
		{errors.New(`required flag(s) "identity" not set`), 2},
		{fmt.Errorf("x: %w", custody.ErrInvalidInput), 2},
		{fmt.Errorf("dir: %w", config.ErrNotInitialized), 2},
		{fmt.Errorf("config: %w", fileperm.NotWritable("/x/config.json", 0o666)), 2},
		{fmt.Errorf("x: %w", custody.ErrNotFound), 3},
		{fmt.Errorf("x: %w", custody.ErrConflict), 3},
		{fmt.Errorf("x: %w", audit.ErrTransition), 3},
		{fmt.Errorf("x: %w", custody.ErrForbidden), 3},
		{fmt.Errorf("x: %w", config.ErrExists), 3},
		{errors.New("disk full"), 4},
	} {
		if got := exitCode(tc.err); got != tc.code {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.code)
		}
	}
}
