//go:build goexperiment.runtimesecret

package local

import "runtime/secret"

// run calls f inside secret.Do, which erases the registers, stack and heap
// allocations f used (parsing temporaries, the FIPS module's key copies)
// once they are unreachable.
func run(f func()) { secret.Do(f) }
