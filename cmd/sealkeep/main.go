// Command sealkeep is the sealkeep CLI: key custody, PDF sealing and
// verification, and the audit trail. Commands only; the logic lives in
// internal/.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "sealkeep: under construction")
	os.Exit(2)
}
