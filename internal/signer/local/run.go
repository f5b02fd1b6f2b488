//go:build !goexperiment.runtimesecret

package local

// run calls f. Built with GOEXPERIMENT=runtimesecret, it calls f inside
// runtime/secret.Do instead (run_secret.go).
func run(f func()) { f() }
