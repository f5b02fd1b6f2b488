package main

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"sealkeep/internal/audit"
	"sealkeep/internal/client"
	"sealkeep/internal/config"
	"sealkeep/internal/custody"
)

func init() { register(newAuditCmd) }

func newAuditCmd() *cobra.Command {
	cmd := group("audit", "Verify, export and checkpoint the hash-chained audit trail")
	cmd.AddCommand(newAuditListCmd(), newAuditVerifyCmd(), newAuditExportCmd(), newAuditCheckpointCmd(),
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
			if serverURL() != "" {
				return remoteVerify(cmd, chain, all, cpFile)
			}
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
				var results []audit.ChainReport
				for _, ch := range chains {
					step, end := progress("verifying " + ch)
					rep, err := svc.VerifyChain(cmd.Context(), ch, cp, key.Public(), func(n uint64) { step(int(n), 0) })
					end()
					results = append(results, rep.Summary(err))
				}
				return printVerify(cmd, results, cp)
			})
		},
	}
	cmd.Flags().StringVar(&chain, "chain", "", `chain to verify: an org ID or "system"`)
	cmd.Flags().BoolVar(&all, "all", false, "verify every chain (the default without --chain)")
	cmd.Flags().StringVar(&cpFile, "checkpoint", "", "signed checkpoint file the chain must reach unchanged")
	cmd.MarkFlagsMutuallyExclusive("chain", "all")
	return remoteCmd(cmd)
}

// printVerify prints verification results (with the checkpoint the chain
// was checked against, if any) and fails with exit 1 if one failed.
func printVerify(cmd *cobra.Command, results []audit.ChainReport, cp *audit.Checkpoint) error {
	failed := false
	for _, r := range results {
		failed = failed || !r.OK
	}
	if globals.json {
		if err := printJSON(cmd.OutOrStdout(), results); err != nil {
			return err
		}
	} else {
		for _, r := range results {
			switch {
			case r.OK:
				outf(cmd, "chain %s: OK, %d entries (head seq %d)\n", r.Chain, r.Entries, r.HeadSeq)
			case r.Problem != "":
				outf(cmd, "chain %s: BROKEN at seq %d (%s): %s\n", r.Chain, r.BrokenSeq, r.Problem, r.Error)
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
}

// output is where a command writes its result: -o FILE, created new
// (never overwritten), or stdout.
type output struct {
	io.Writer
	f *os.File
}

// createOut opens -o FILE (refusing to overwrite) or returns stdout.
func createOut(cmd *cobra.Command, path string) (*output, error) {
	if path == "" || path == "-" {
		return &output{Writer: cmd.OutOrStdout()}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, usageError{fmt.Errorf("-o: %w", err)}
	}
	return &output{Writer: f, f: f}, nil
}

// close closes the file and returns err; after a failure (err not nil)
// it removes the file, so that a partial export or proof is never taken
// for a whole one.
func (o *output) close(err error) error {
	if o.f == nil {
		return err
	}
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(o.f.Name())
	}
	return err
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
			if serverURL() != "" {
				return remoteExport(cmd, chain, out)
			}
			return withService(cmd, func(svc *custody.Service) error {
				chains, err := chainsFor(cmd, svc, chain, false)
				if err != nil {
					return err
				}
				w, err := createOut(cmd, out)
				if err != nil {
					return err
				}
				var total uint64
				for _, ch := range chains {
					n, err := svc.ExportChain(cmd.Context(), ch, w)
					if err != nil {
						return w.close(err)
					}
					total += n
				}
				if err := w.close(nil); err != nil {
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
	return remoteCmd(cmd)
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
			if serverURL() != "" {
				return remoteCheckpoint(cmd, chain, out)
			}
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
				w, err := createOut(cmd, out)
				if err != nil {
					return err
				}
				_, err = w.Write(b)
				if err := w.close(err); err != nil {
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
	return remoteCmd(cmd)
}

func newAuditListCmd() *cobra.Command {
	var chain string
	var after uint64
	var limit int
	cmd := &cobra.Command{
		Use:   "list --chain ORG|system [--after SEQ] [--limit N]",
		Short: "List a chain's audit entries, a page at a time",
		Long: `List the entries of one chain after --after (default 0), at most --limit
(default 100, at most 1000; fewer once a page passes about 1 MiB), oldest
first, as they are stored: audit verify judges them. When more entries
follow, stderr says which --after gives the next page (--json: next_after).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > custody.MaxEntriesPage {
				return usageError{fmt.Errorf("--limit must be from 1 to %d", custody.MaxEntriesPage)}
			}
			if serverURL() != "" {
				c, err := remoteClient()
				if err != nil {
					return err
				}
				page, err := c.AuditEntries(cmd.Context(), chain, after, limit)
				if err != nil {
					return err
				}
				return printEntries(cmd, page)
			}
			return withService(cmd, func(svc *custody.Service) error {
				if _, err := chainsFor(cmd, svc, chain, false); err != nil {
					return err
				}
				entries, more, err := svc.Entries(cmd.Context(), chain, after, limit)
				if err != nil {
					return err
				}
				page := client.AuditPage{Chain: chain, Entries: entries}
				if more {
					page.NextAfter = &entries[len(entries)-1].Seq
				}
				return printEntries(cmd, page)
			})
		},
	}
	cmd.Flags().StringVar(&chain, "chain", "", `chain: an org ID or "system" (required)`)
	cmd.Flags().Uint64Var(&after, "after", 0, "list the entries after this sequence number")
	cmd.Flags().IntVar(&limit, "limit", 100, fmt.Sprintf("most entries listed (1 to %d)", custody.MaxEntriesPage))
	_ = cmd.MarkFlagRequired("chain")
	return remoteCmd(cmd)
}

// printEntries prints a page of entries: a table (every cell escaped) or,
// with --json, the page as the API answers it.
func printEntries(cmd *cobra.Command, page client.AuditPage) error {
	for i := range page.Entries {
		page.Entries[i].Time = page.Entries[i].Time.UTC()
	}
	if globals.json {
		if page.Entries == nil {
			page.Entries = []audit.Entry{}
		}
		return printJSON(cmd.OutOrStdout(), page)
	}
	rows := make([][]string, 0, len(page.Entries))
	for _, e := range page.Entries {
		subject := e.Subject.Org
		if e.Subject.Identity != "" {
			subject = e.Subject.Identity
			if e.Subject.Version != 0 {
				subject += " v" + strconv.Itoa(e.Subject.Version)
			}
		}
		details := make([]string, 0, len(e.Details))
		for _, k := range slices.Sorted(maps.Keys(e.Details)) {
			details = append(details, k+"="+e.Details[k])
		}
		rows = append(rows, []string{strconv.FormatUint(e.Seq, 10), fmtTime(e.Time), e.Actor.Kind + ":" + e.Actor.ID,
			string(e.Action), cmp.Or(subject, "-"), cmp.Or(strings.Join(details, " "), "-")})
	}
	if err := printTable(cmd.OutOrStdout(), []string{"SEQ", "TIME", "ACTOR", "ACTION", "SUBJECT", "DETAILS"}, rows); err != nil {
		return err
	}
	if page.NextAfter != nil {
		errf(cmd, "more entries follow: --after %d\n", *page.NextAfter)
	}
	return nil
}
