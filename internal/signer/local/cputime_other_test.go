//go:build !linux

package local

// threadCPU is unavailable here; benchmarks report wall-clock ratios only.
func threadCPU() (int64, bool) { return 0, false }
