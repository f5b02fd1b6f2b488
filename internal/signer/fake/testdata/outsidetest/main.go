// Command outsidetest prints the key URI schemes registered in a program
// that imports the fake provider but is not a test binary.
// TestNotRegisteredOutsideTests runs it.
package main

import (
	"fmt"

	"sealkeep/internal/signer"
	_ "sealkeep/internal/signer/fake"
)

func main() { fmt.Println(signer.Schemes()) }
