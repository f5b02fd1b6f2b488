package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"

	"github.com/spf13/cobra"

	"sealkeep/internal/audit"
	"sealkeep/internal/config"
	"sealkeep/internal/custody"
)

func init() { register(newAuditCmd) }

func newAuditCmd() *cobra.Command {
	cmd := group("audit", "Verify, export and checkpoint the hash-chained audit trail")
	cmd.AddCommand(newAuditVerifyCmd(), newAuditExportCmd(), newAuditCheckpointCmd(),
		newAuditProveCmd(), newAuditVerifyProofCmd(), newAuditLogKeyCmd())
	return cmd
}

// chainsFor resolves --chain / --all to chain names. A chain no row names
// is not found (exit 3), rather than verified as an empty chain.
func chainsFor(cmd *cobra.Command, svc *custody.Service, chain string, all bool) ([]string, error) {
	chains, err := svc.Chains(cmd.Context())
	if err != nil || all || chain == "" {
		return chains, err
	}
	if !slices.Contains(chains, chain) {
		return nil, fmt.Errorf("audit chain %q: %w (no organization, entry or head row names it)", chain, custody.ErrNotFound)
	}
	return []string{chain}, nil
}

// checkpointKey loads the data directory's checkpoint key.
func checkpointKey() (audit.CheckpointKey, error) {
	c, err := config.Load(dataDir())
	if err != nil {
		return audit.CheckpointKey{}, err
	}
	return audit.LoadCheckpointKey(c.CheckpointKeyFile)
}

type verifyResult struct {
	Chain   string `json:"chain"`
	OK      bool   `json:"ok"`
	Entries uint64 `json:"entries"`
	Head    uint64 `json:"head_seq"`
	Problem string `json:"problem,omitempty"`
	Seq     uint64 `json:"broken_seq,omitempty"`
	Error   string `json:"error,omitempty"`
}

func newAuditVerifyCmd() *cobra.Command {
	var chain, cpFile string
	var all bool
	cmd := &cobra.Command{
		Use:   "verify [--chain ORG|system | --all] [--checkpoint FILE]",
		Short: "Verify audit chains (exit 1 and name the first broken entry if one is broken)",
		Long: `Verify the hash chain of one organization (--chain ORG), the system chain
(--chain system) or every chain (--all, the default: every organization, every
chain with entries or a head row, and every organization the system chain
records creating). The first broken entry is named with what is wrong: edited,
deleted, reordered, inserted, duplicated. The chain's head row must agree with
its last entry (else head, truncated, inserted or rewritten at the first seq
concerned), and an organization's chain must begin with org.create.
Every chain must also extend its newest checkpoint in the checkpoint
directory (written after every append): a truncated or rewritten history is
reported with no flag, and the stored Merkle tree must match the entries,
with a consistency proof from the checkpoint. With --checkpoint FILE (from
audit checkpoint) the chain must also reach that signed head unchanged. For
org chains, every stored certificate status must equal the status the trail
gives, and every seal entry's approval must verify (its recorded intent, and
a passkey's stored assertion against the key the system chain registered):
else the chain is BROKEN at that entry (approval). The stored passkeys must
be what the system chain registers.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cp *audit.Checkpoint
			var key audit.CheckpointKey
			if cpFile != "" {
				b, err := readFile("checkpoint", cpFile)
				if err != nil {
					return err
				}
				c, err := audit.ParseCheckpoint(b)
				if err != nil {
					return usageError{err}
				}
				if chain == "" && !all {
					chain = c.Chain
				}
				if chain != c.Chain || all {
					return usageError{fmt.Errorf("the checkpoint is for chain %q; verify that chain alone", c.Chain)}
				}
				if key, err = checkpointKey(); err != nil {
					return err
				}
				cp = &c
			}
			return withService(cmd, func(svc *custody.Service) error {
				chains, err := chainsFor(cmd, svc, chain, all)
				if err != nil {
					return err
				}
				var results []verifyResult
				failed := false
				for _, ch := range chains {
					step, end := progress("verifying " + ch)
					rep, err := svc.VerifyChain(cmd.Context(), ch, cp, key.Public(), func(n uint64) { step(int(n), 0) })
					end()
					r := verifyResult{Chain: ch, OK: rep.OK() && err == nil, Entries: rep.Read, Head: rep.Head.Seq}
					if rep.Break != nil {
						r.Problem, r.Seq, r.Error = string(rep.Break.Problem), rep.Break.Seq, rep.Break.Reason
					} else if e := errors.Join(rep.Err, err); e != nil {
						r.Error = e.Error()
					}
					failed = failed || !r.OK
					results = append(results, r)
				}
				if globals.json {
					if err := printJSON(cmd.OutOrStdout(), results); err != nil {
						return err
					}
				} else {
					for _, r := range results {
						switch {
						case r.OK:
							outf(cmd, "chain %s: OK, %d entries (head seq %d)\n", r.Chain, r.Entries, r.Head)
						case r.Problem != "":
							outf(cmd, "chain %s: BROKEN at seq %d (%s): %s\n", r.Chain, r.Seq, r.Problem, r.Error)
						default:
							outf(cmd, "chain %s: FAILED: %s\n", r.Chain, r.Error)
						}
					}
					if cp != nil && !failed {
						outf(cmd, "checkpoint: chain %s reaches seq %d with the signed head hash\n", cp.Chain, cp.Seq)
					}
				}
				if failed {
					return &silentError{code: exitVerify}
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&chain, "chain", "", `chain to verify: an org ID or "system"`)
	cmd.Flags().BoolVar(&all, "all", false, "verify every chain (the default without --chain)")
	cmd.Flags().StringVar(&cpFile, "checkpoint", "", "signed checkpoint file the chain must reach unchanged")
	cmd.MarkFlagsMutuallyExclusive("chain", "all")
	return cmd
}

// createOut opens -o FILE (refusing to overwrite) or returns stdout.
func createOut(cmd *cobra.Command, path string) (io.Writer, func() error, error) {
	if path == "" || path == "-" {
		return cmd.OutOrStdout(), func() error { return nil }, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, nil, usageError{fmt.Errorf("-o: %w", err)}
	}
	return f, f.Close, nil
}

func newAuditExportCmd() *cobra.Command {
	var chain, out string
	cmd := &cobra.Command{
		Use:   "export [--chain ORG|system] [-o FILE]",
		Short: "Export audit chains as JSON Lines",
		Long: `Write audit entries as JSON Lines, one entry per line in chain order: one
chain with --chain, else every chain one after another. -o writes to a new
file (never overwritten); the default is stdout.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withService(cmd, func(svc *custody.Service) error {
				chains, err := chainsFor(cmd, svc, chain, false)
				if err != nil {
					return err
				}
				w, closeOut, err := createOut(cmd, out)
				if err != nil {
					return err
				}
				var total uint64
				for _, ch := range chains {
					n, err := svc.ExportChain(cmd.Context(), ch, w)
					if err != nil {
						closeOut()
						return err
					}
					total += n
				}
				if err := closeOut(); err != nil {
					return err
				}
				if out != "" && out != "-" {
					errf(cmd, "wrote %d entries to %s\n", total, out)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&chain, "chain", "", `chain to export: an org ID or "system" (default: all)`)
	cmd.Flags().StringVarP(&out, "output", "o", "", "output file (default stdout)")
	return cmd
}

func newAuditCheckpointCmd() *cobra.Command {
	var chain, out string
	cmd := &cobra.Command{
		Use:   "checkpoint --chain ORG|system -o FILE",
		Short: "Write a signed checkpoint of a chain's head, to keep elsewhere",
		Long: `Sign (with the data directory's Ed25519 checkpoint key) a statement of the
chain's current head: chain, sequence number, head hash and time. Keep the file
outside the database; audit verify --checkpoint FILE then detects a truncated
or rewritten tail.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := checkpointKey()
			if err != nil {
				return err
			}
			return withService(cmd, func(svc *custody.Service) error {
				cp, err := svc.Checkpoint(cmd.Context(), chain, key)
				if err != nil {
					return err
				}
				b, err := audit.MarshalCheckpoint(cp)
				if err != nil {
					return err
				}
				w, closeOut, err := createOut(cmd, out)
				if err != nil {
					return err
				}
				if _, err := w.Write(b); err != nil {
					closeOut()
					return err
				}
				if err := closeOut(); err != nil {
					return err
				}
				if globals.json {
					return printJSON(cmd.ErrOrStderr(), cp)
				}
				errf(cmd, "checkpoint of chain %s at seq %s written to %s\n", cp.Chain, strconv.FormatUint(cp.Seq, 10), out)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&chain, "chain", "", `chain: an org ID or "system" (required)`)
	cmd.Flags().StringVarP(&out, "output", "o", "", "checkpoint file to create (required)")
	_ = cmd.MarkFlagRequired("chain")
	_ = cmd.MarkFlagRequired("output")
	return cmd
}
