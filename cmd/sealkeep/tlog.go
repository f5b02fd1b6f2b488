package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"sealkeep/internal/custody"
	"sealkeep/internal/translog"
)

func newAuditProveCmd() *cobra.Command {
	var chain, out string
	var seq uint64
	cmd := &cobra.Command{
		Use:   "prove --chain ORG|system --seq N [-o FILE]",
		Short: "Print an inclusion proof of one audit entry against the chain's newest checkpoint",
		Long: `Print (as JSON, see the README) the RFC 6962 inclusion proof of entry N of
the chain against the newest signed checkpoint in the checkpoint directory,
with the entry itself and the checkpoint note. Anyone holding the chain's
verifier key (audit log-key) checks it with audit verify-proof, without the
database, or with any RFC 6962 verifier. -o writes to a new file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if seq < 1 {
				return usageError{errors.New("--seq: entries are numbered from 1")}
			}
			if serverURL() != "" {
				return remoteProve(cmd, chain, seq, out)
			}
			return withService(cmd, func(svc *custody.Service) error {
				p, err := svc.Prove(cmd.Context(), chain, seq)
				if err != nil {
					return err
				}
				return writeProof(cmd, p, out)
			})
		},
	}
	cmd.Flags().StringVar(&chain, "chain", "", `chain: an org ID or "system" (required)`)
	cmd.Flags().Uint64Var(&seq, "seq", 0, "sequence number of the entry (required)")
	cmd.Flags().StringVarP(&out, "output", "o", "", "proof file to create (default stdout)")
	_ = cmd.MarkFlagRequired("chain")
	_ = cmd.MarkFlagRequired("seq")
	return remoteCmd(cmd)
}

// writeProof writes p as audit prove prints it to -o FILE or stdout.
func writeProof(cmd *cobra.Command, p translog.InclusionProof, out string) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	w, err := createOut(cmd, out)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return w.close(err)
}

func newAuditVerifyProofCmd() *cobra.Command {
	var key, keyFile string
	cmd := &cobra.Command{
		Use:   "verify-proof FILE (--key VKEY | --key-file FILE)",
		Short: "Check an inclusion proof from audit prove, without the database (exit 1 if it does not verify)",
		Long: `Check an inclusion proof written by audit prove with the chain's note
verifier key (from audit log-key, given by the operator; never taken from the
proof itself): the checkpoint's signature, the entry's hash and the RFC 6962
audit path. Needs no data directory.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (key == "") == (keyFile == "") {
				return usageError{errors.New("give the chain's verifier key with --key or --key-file")}
			}
			if keyFile != "" {
				b, err := readFile("key-file", keyFile)
				if err != nil {
					return err
				}
				key = strings.TrimSpace(string(b))
			}
			b, err := readFile("proof", args[0])
			if err != nil {
				return err
			}
			p, err := translog.ParseInclusionProof(b)
			if err == nil {
				err = p.Verify(key)
			}
			if err != nil {
				if globals.json {
					_ = printJSON(cmd.OutOrStdout(), map[string]any{"ok": false, "error": err.Error()})
				} else {
					outf(cmd, "proof: INVALID: %v\n", err)
				}
				return &silentError{code: exitVerify}
			}
			if globals.json {
				return printJSON(cmd.OutOrStdout(), map[string]any{"ok": true, "chain": p.Entry.Chain, "seq": p.Entry.Seq,
					"tree_size": p.TreeSize, "entry_hash": p.Entry.Hash})
			}
			outf(cmd, "proof: OK: entry %d of chain %s (hash %s, %s) is in the tree of %d entries signed by %s\n",
				p.Entry.Seq, p.Entry.Chain, p.Entry.Hash, p.Entry.Action, p.TreeSize, strings.SplitN(key, "+", 2)[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "the chain's note verifier key (origin+keyhash+base64)")
	cmd.Flags().StringVar(&keyFile, "key-file", "", "file holding the chain's note verifier key")
	return cmd
}

func newAuditLogKeyCmd() *cobra.Command {
	var chain string
	cmd := &cobra.Command{
		Use:   "log-key --chain ORG|system",
		Short: "Print a chain's checkpoint origin and note verifier key, for witnesses and proof checkers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := checkpointKey()
			if err != nil {
				return err
			}
			vkey, err := translog.VerifierKey(key.Public(), chain)
			if err != nil {
				return err
			}
			origin := translog.Origin(key.KeyID(), chain)
			if globals.json {
				return printJSON(cmd.OutOrStdout(), map[string]string{"chain": chain, "origin": origin, "verifier_key": vkey})
			}
			outln(cmd, vkey)
			fmt.Fprintf(cmd.ErrOrStderr(), "origin %s\n", origin)
			return nil
		},
	}
	cmd.Flags().StringVar(&chain, "chain", "", `chain: an org ID or "system" (required)`)
	_ = cmd.MarkFlagRequired("chain")
	return cmd
}
