//go:build !linux

package translog

import "os"

// exchange renames spare to path (atomic, but a new file per write).
func exchange(spare, path string) error { return os.Rename(spare, path) }
