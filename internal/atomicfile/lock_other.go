//go:build !unix

package atomicfile

import "os"

// lock does nothing where flock is not available.
func lock(*os.File) {}

// held cannot tell a live writer's file from a stale one where flock is not
// available: every temporary file is reported by Stale.
func held(string) bool { return false }
