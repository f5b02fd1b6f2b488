// Command sealkeep is the sealkeep CLI: key custody, PDF sealing and
// verification, and the audit trail. Commands only; the logic lives in
// internal/.
//
// # Adding a command
//
// Each command lives in its own file and registers a constructor in that
// file's init function:
//
//	func init() { register(newSealCmd) }
//
// main builds the root command, adds every registered command and maps
// errors to exit codes in one place ([exitCode]).
//
// # Exit codes
//
//	0  success
//	1  verification failed (audit chain broken, checkpoint mismatch,
//	   a key blob that fails authentication)
//	2  usage or input error (bad flag, malformed or rejected file, weak key,
//	   missing reason)
//	3  not found, conflict, or not allowed (a lifecycle transition, or an
//	   operation the object's state or the caller's role forbids)
//	4  any other failure (I/O, database)
//	5  unavailable: a KMS, HSM, TSA, database or server could not be
//	   reached or is throttling (a retry may succeed)
//	6  not authenticated
//
// The code is the error's kind (internal/errs), mapped in [exitCodes].
package main

import (
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/spf13/cobra"
)

// commands holds the constructors of the top-level commands, registered by
// each command file's init function.
var commands []func() *cobra.Command

// register adds a top-level command constructor.
func register(f func() *cobra.Command) { commands = append(commands, f) }

func main() { os.Exit(run(os.Args[1:])) }

// run executes the CLI with args and returns the exit code.
func run(args []string) int {
	root := newRootCmd()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	code := exitCode(err)
	var silent *silentError
	if !errors.As(err, &silent) {
		fmt.Fprintf(os.Stderr, "sealkeep: %s\n", errorText(err))
	}
	if code == exitUsage && isFlagError(err) {
		fmt.Fprintln(os.Stderr, "Run 'sealkeep --help' for usage.")
	}
	return code
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "sealkeep",
		Short: "Key custody, PDF sealing and a hash-chained audit trail",
		Long: `sealkeep keeps professional signing keys encrypted at rest (or in the
customer's KMS/HSM), manages certificate versions and their lifecycle, and
records every event in a hash-chained audit trail.

Exit codes: 0 ok, 1 verification failed, 2 usage or input error,
3 not found, conflict or not allowed, 4 other failure, 5 unavailable
(retry later), 6 not authenticated.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkRemote(cmd); err != nil {
				return err
			}
			return setupLogging(cmd)
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	addGlobalFlags(root)
	cmds := make([]*cobra.Command, 0, len(commands))
	for _, f := range commands {
		cmds = append(cmds, f())
	}
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name() < cmds[j].Name() })
	root.AddCommand(cmds...)
	return root
}
