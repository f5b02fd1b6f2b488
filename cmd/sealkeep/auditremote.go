package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"sealkeep/internal/audit"
	"sealkeep/internal/errs"
	"sealkeep/internal/translog"
)

// The client forms (--server) of the audit commands: the same output and
// exit codes as on the data directory, for an org's owners and auditors
// (and the operator, for the system chain) through the service's API.

// errOneChain: a client form names the one chain it acts on.
var errOneChain = errors.New(`with --server, name one chain: --chain ORG or --chain system`)

// remoteVerify is audit verify --server: the service verifies the chain
// and reports; a chain that does not verify exits 1 as it would locally.
func remoteVerify(cmd *cobra.Command, chain string, all bool, cpFile string) error {
	switch {
	case chain == "" || all:
		return usageError{errOneChain}
	case cpFile != "":
		return usageError{errors.New("--checkpoint is checked on the data directory only; audit verify --server checks the chain's newest checkpoint")}
	}
	c, err := remoteClient()
	if err != nil {
		return err
	}
	r, err := c.AuditVerify(cmd.Context(), chain)
	if err != nil {
		return err
	}
	return printVerify(cmd, []audit.ChainReport{r}, nil)
}

// remoteExport is audit export --server: the chain's JSON Lines, streamed
// to -o FILE or stdout; a transfer cut short fails (exit 5) and removes
// FILE.
func remoteExport(cmd *cobra.Command, chain, out string) error {
	if chain == "" {
		return usageError{errOneChain}
	}
	c, err := remoteClient()
	if err != nil {
		return err
	}
	w, err := createOut(cmd, out)
	if err != nil {
		return err
	}
	n, err := c.AuditExport(cmd.Context(), chain, 0, w)
	if err := w.close(err); err != nil {
		return err
	}
	if out != "" && out != "-" {
		errf(cmd, "wrote %d bytes of chain %s to %s\n", n, chain, out)
	}
	return nil
}

// remoteCheckpoint is audit checkpoint --server: the chain's newest
// signed checkpoint from the service (a C2SP tlog-checkpoint note, which
// the service writes after every append) to -o FILE.
func remoteCheckpoint(cmd *cobra.Command, chain, out string) error {
	c, err := remoteClient()
	if err != nil {
		return err
	}
	note, err := c.AuditCheckpoint(cmd.Context(), chain)
	if err != nil {
		return err
	}
	lines := strings.SplitN(string(note), "\n", 3)
	size, perr := strconv.ParseUint(lines[min(1, len(lines)-1)], 10, 63)
	if len(lines) < 3 || perr != nil {
		return errs.With(errs.Unavailable, fmt.Errorf("server %s: the checkpoint of chain %q is not a checkpoint note", c.URL(), chain))
	}
	w, err := createOut(cmd, out)
	if err != nil {
		return err
	}
	_, err = w.Write(note)
	if err := w.close(err); err != nil {
		return err
	}
	if globals.json {
		return printJSON(cmd.OutOrStdout(), map[string]any{"chain": chain, "origin": lines[0], "tree_size": size, "output": out})
	}
	errf(cmd, "newest checkpoint of chain %s (%d entries) written to %s\n", chain, size, out)
	return nil
}

// remoteProve is audit prove --server: the inclusion proof the service
// built and checked, written as audit prove writes it; check it with
// audit verify-proof and the chain's verifier key from the operator.
func remoteProve(cmd *cobra.Command, chain string, seq uint64, out string) error {
	c, err := remoteClient()
	if err != nil {
		return err
	}
	b, err := c.AuditProof(cmd.Context(), chain, seq)
	if err != nil {
		return err
	}
	p, err := translog.ParseInclusionProof(b)
	if err != nil {
		return errs.With(errs.Unavailable, fmt.Errorf("server %s: the proof of entry %d of chain %q: %w", c.URL(), seq, chain, err))
	}
	return writeProof(cmd, p, out)
}
