package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"sealkeep/internal/pdf"
)

// maxDecodedFlag is --max-decoded, the budget of decoded PDF stream bytes
// of one verify or seal (pdf.Limits.MaxDecodedTotal); zero means the
// default.
type maxDecodedFlag int64

// addMaxDecodedFlag registers --max-decoded on cmd.
func addMaxDecodedFlag(cmd *cobra.Command, v *maxDecodedFlag) {
	cmd.Flags().Var(v, "max-decoded", fmt.Sprintf("budget of decoded stream data read from the PDF, e.g. 512MiB (default %s; each stream is also capped at %s)",
		sizeString(pdf.DefaultLimits.MaxDecodedTotal), sizeString(pdf.DefaultLimits.MaxDecoded)))
}

// limits returns the reader limits the flag asks for, nil for the defaults.
func (v maxDecodedFlag) limits() *pdf.Limits {
	if v == 0 {
		return nil
	}
	return &pdf.Limits{MaxDecodedTotal: int64(v)}
}

// Set parses a size: bytes, or a number with KiB, MiB or GiB.
func (v *maxDecodedFlag) Set(s string) error {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<50)/mult {
		return fmt.Errorf("want a size such as 256MiB, 1GiB or a number of bytes")
	}
	*v = maxDecodedFlag(n * mult)
	return nil
}

// String implements pflag.Value (cobra's flag values).
func (v *maxDecodedFlag) String() string {
	if *v == 0 {
		return ""
	}
	return sizeString(int64(*v))
}

// Type implements pflag.Value.
func (v *maxDecodedFlag) Type() string { return "size" }

// sizeString writes a byte count with the largest binary unit that
// divides it.
func sizeString(n int64) string {
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.mult && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}
