package main

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"sealkeep/internal/audit"
	"sealkeep/internal/cms"
	"sealkeep/internal/config"
	"sealkeep/internal/custody"
	"sealkeep/internal/errs"
	"sealkeep/internal/pdf/verify"
	"sealkeep/internal/textsafe"
)

func init() { register(newVerifyCmd) }

func newVerifyCmd() *cobra.Command {
	var trustFile, at string
	var maxDecoded maxDecodedFlag
	cmd := &cobra.Command{
		Use:   "verify FILE.pdf [--trust ROOTS.pem] [--at TIME] [--max-decoded SIZE] [--json]",
		Short: "Verify the signatures of a PDF (exit 0 valid, 1 invalid/modified/untrusted, 2 not judged)",
		Long: `Verify every signature of a PDF: the byte range covers its whole revision
except the /Contents hex string; the digest matches; the CMS signature, ESS
signing-certificate-v2 and any timestamp verify; the signer certificate chains
to the anchors in --trust (a PEM bundle; without it nothing is trusted) at the
validation time; and every later incremental update is classified (signature,
DSS, metadata, form filling, annotations, other) with DocMDP and FieldMDP
enforced. The known attacks (universal signature forgery, incremental saving,
signature wrapping, shadow attacks) are reported invalid or modified.

--at TIME (RFC 3339, or YYYY-MM-DD) validates certificate chains as of that
time instead of now, so that a seal made while its certificate was valid can
be checked after the certificate expired; the report always says when it
expired.

When a data directory is configured (--data-dir or $SEALKEEP_HOME, initialised
by sealkeep init), each signature also shows the custody status of its
certificate version at the signing time. A version that was revoked needs
proof that the signature existed before the revocation (a trusted RFC 3161
timestamp; a claimed /M or signingTime is no proof): without it the signature
is INDETERMINATE (REVOKED_NO_POE). A custody status that cannot be
established (the store or trail cannot be read) is INDETERMINATE too.

Each signature carries an ETSI EN 319 102-1 indication (TOTAL_PASSED,
TOTAL_FAILED, INDETERMINATE) and sub-indication; only TOTAL_PASSED is valid.

Reading the file is bounded: the decoded bytes of its streams (object and
cross-reference streams) count against a budget, 256MiB by default or
--max-decoded SIZE (e.g. 1GiB), every decoding counted, and each stream is
capped at 32MiB decoded; nesting, object counts and updates are bounded too.
A file over a limit is not judged: "over the processing limit: ...", exit 2.

--json prints the report in the format documented in docs/verify-json.md.
Exit codes: 0 every signature valid (TOTAL_PASSED); 1 a signature is invalid,
modified or untrusted (TOTAL_FAILED or INDETERMINATE), or the file has no
signature; 2 the file could not be judged (not a PDF, truncated, damaged
beyond repair, over the processing limit) or a usage error.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if serverURL() != "" {
				if trustFile != "" || at != "" || cmd.Flags().Changed("max-decoded") {
					return usageError{errors.New("with --server the service's trust anchors, time and limits apply: --trust, --at and --max-decoded are local only")}
				}
				return verifyRemote(cmd, args[0])
			}
			opts := verify.Options{Limits: maxDecoded.limits()}
			if trustFile != "" {
				pool, err := readTrust(trustFile)
				if err != nil {
					return usageError{err}
				}
				opts.Roots = pool
			}
			if at != "" {
				t, err := parseAt(at)
				if err != nil {
					return usageError{err}
				}
				opts.At = t
			}
			lookup, closeLookup, err := custodyLookup(cmd.Context())
			switch {
			case err != nil:
				// A configured custody store that cannot be opened fails
				// closed: every signature is INDETERMINATE.
				errf(cmd, "sealkeep: custody status unavailable: %v\n", err)
				opts.Custody = unavailableCustody{err}
			case lookup != nil:
				defer closeLookup()
				opts.Custody = lookup
			}
			bar := newByteBar("verifying")
			opts.Progress = bar.update
			rep, err := verify.File(cmd.Context(), args[0], opts)
			bar.done()
			if err != nil {
				if globals.json {
					_ = printJSON(cmd.OutOrStdout(), map[string]any{"file": args[0], "verdict": "error", "error": err.Error()})
				}
				errf(cmd, "sealkeep: verify %s: %v\n", args[0], err)
				return &silentError{code: exitUsage}
			}
			return showReport(cmd, rep)
		},
	}
	cmd.Flags().StringVar(&trustFile, "trust", "", "PEM bundle of trust anchors (default: none; every signature is at best untrusted)")
	cmd.Flags().StringVar(&at, "at", "", "validation time for certificate chains (RFC 3339 or YYYY-MM-DD; default now)")
	addMaxDecodedFlag(cmd, &maxDecoded)
	return remoteCmd(cmd)
}

// showReport prints a verification report (JSON or the table) and
// returns the verdict's exit status.
func showReport(cmd *cobra.Command, rep *verify.Report) error {
	if globals.json {
		if err := printJSON(cmd.OutOrStdout(), rep); err != nil {
			return err
		}
	} else {
		// Every string in the report can come from the PDF or a
		// certificate: all are escaped for the terminal.
		printReport(cmd.OutOrStdout(), textsafe.EscapeAll(rep))
	}
	if rep.Verdict != verify.Valid {
		return &silentError{code: exitVerify}
	}
	return nil
}

// verifyRemote verifies file through the service's public POST
// /api/v1/verify (no login needed): the service's trust anchors and
// custody store judge it. A file the service cannot judge exits 2, as
// locally.
func verifyRemote(cmd *cobra.Command, file string) error {
	c, err := anonymousClient()
	if err != nil {
		return err
	}
	bar := newByteBar("uploading")
	rep, err := c.Verify(cmd.Context(), file, bar.update)
	bar.done()
	if err != nil {
		if globals.json && errs.KindOf(err) == errs.Invalid {
			_ = printJSON(cmd.OutOrStdout(), map[string]any{"file": file, "verdict": "error", "error": err.Error()})
		}
		return err
	}
	rep.File = file
	return showReport(cmd, rep)
}

// readTrust reads a PEM bundle of anchor certificates.
func readTrust(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--trust: %w", err)
	}
	pool := x509.NewCertPool()
	n := 0
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		// Read like the certificates embedded in signatures: an old
		// anchor with a negative serial number is accepted.
		c, _, err := cms.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("--trust %s: certificate %d: %w", path, n+1, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("--trust %s: no PEM CERTIFICATE blocks", path)
	}
	return pool, nil
}

// parseAt parses --at.
func parseAt(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--at %q: want RFC 3339 (2025-01-02T15:04:05Z) or YYYY-MM-DD", s)
}

// custodyLookup opens the custody store when a data directory is
// configured explicitly (--data-dir or $SEALKEEP_HOME) and initialised.
// Only the database is opened: verification needs no key.
func custodyLookup(ctx context.Context) (verify.CustodyLookup, func(), error) {
	if globals.dataDir == "" && os.Getenv(config.EnvHome) == "" {
		return nil, nil, nil
	}
	c, err := config.Load(dataDir())
	if errors.Is(err, config.ErrNotInitialized) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	st, err := config.OpenStore(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	return newStoreCustody(st, globals.logger), func() { st.Close() }, nil
}

// storeCustody adapts custody's certificate lookup to the verifier.
type storeCustody struct{ svc *custody.Service }

func (s storeCustody) StatusAt(ctx context.Context, thumb string, t time.Time) (verify.CustodyStatus, bool, error) {
	cs, found, err := s.svc.CertificateStatus(ctx, actor(), thumb, t)
	if err != nil || !found {
		return verify.CustodyStatus{}, found, err
	}
	out := verify.CustodyStatus{Identity: cs.Identity, Version: cs.Version, Status: string(cs.At), Current: string(cs.Current)}
	if !cs.RevokedAt.IsZero() {
		ra := cs.RevokedAt
		out.RevokedAt = &ra
	}
	out.Summary = custodySummary(out, t)
	return out, true, nil
}

// SealReceipt finds a signature's seal entry through custody's receipt
// index (verify.SealReceiptLookup).
func (s storeCustody) SealReceipt(ctx context.Context, thumb, sigSHA256 string) (verify.SealReceipt, bool, error) {
	r, found, err := s.svc.SealReceipt(ctx, thumb, sigSHA256)
	if err != nil || !found {
		return verify.SealReceipt{}, found, err
	}
	out := verify.SealReceipt{KeyOrigin: r.KeyOrigin, Org: r.Org, Identity: r.Identity, Version: r.Version}
	if e := r.Entry; e != nil {
		t := e.Time.UTC()
		out.Found, out.Chain, out.Seq, out.EntryHash, out.Time = true, e.Chain, e.Seq, e.Hash.String(), &t
		out.Actor, out.MFAMethod, out.RequestID = e.Actor.ID, e.Details[audit.DetailMFAMethod], e.Details[audit.DetailRequestID]
		out.DocumentSHA256, out.SealedSHA256 = e.Details[audit.DetailDocumentSHA256], e.Details[audit.DetailSealedSHA256]
		out.ActorLogin = r.ActorLogin
	}
	if a := r.Approval; a != nil && r.Entry != nil {
		out.Approval = &verify.SealApproval{Method: r.Entry.Details[audit.DetailMFAMethod], Approver: a.Login}
		if p := a.Passkey; p != nil {
			out.Approval.Passkey, out.Approval.CredentialID = p.Name, base64.RawURLEncoding.EncodeToString(p.CredentialID)
		}
	}
	return out, true, nil
}

// unavailableCustody answers every lookup with the error that kept the
// configured custody store from opening.
type unavailableCustody struct{ err error }

func (u unavailableCustody) StatusAt(context.Context, string, time.Time) (verify.CustodyStatus, bool, error) {
	return verify.CustodyStatus{}, false, u.err
}

// custodySummary says the custody status at signing time in words.
func custodySummary(c verify.CustodyStatus, t time.Time) string {
	switch {
	case c.Status == string(audit.StatusNone):
		return fmt.Sprintf("not yet in custody at signing (%s now)", c.Current)
	case c.Status == string(audit.StatusRevoked) || (c.RevokedAt != nil && !c.RevokedAt.After(t)):
		return "revoked before signing"
	case c.RevokedAt != nil:
		return fmt.Sprintf("%s at signing; revoked after signing (%s)", c.Status, fmtTime(*c.RevokedAt))
	case c.Status == c.Current:
		return c.Status + " at signing"
	}
	return fmt.Sprintf("%s at signing, %s now", c.Status, c.Current)
}

// printReport writes the report for people.
func printReport(w io.Writer, rep *verify.Report) {
	fmt.Fprintf(w, "File:      %s\n", rep.File)
	fmt.Fprintf(w, "SHA-256:   %s\n", rep.SHA256)
	fmt.Fprintf(w, "Verdict:   %s (%d signature(s), %d revision(s))\n", strings.ToUpper(rep.Verdict), len(rep.Signatures), rep.Revisions)
	for _, r := range rep.Reasons {
		if len(rep.Signatures) == 0 {
			fmt.Fprintf(w, "  - %s\n", r)
		}
	}
	for _, wn := range rep.Warnings {
		fmt.Fprintf(w, "Warning:   %s\n", wn)
	}
	for i, s := range rep.Signatures {
		fmt.Fprintf(w, "\nSignature %d (field %q): %s\n", i+1, s.Field, strings.ToUpper(s.Verdict))
		kv := [][2]string{
			{"Indication", strings.TrimSuffix(s.Indication+" / "+s.SubIndication, " / ")},
			{"Signer", orDash(s.SignerSubject)},
			{"Thumbprint", orDash(s.SignerSHA256)},
			{"Signing time", signingTime(s)},
			{"Coverage", coverage(s, rep.Revisions)},
			{"Integrity", integrity(s)},
			{"Trust", trust(s, rep.ValidatedAt)},
			{"Modifications", modifications(s)},
		}
		if s.SignerNotAfter != nil {
			kv = append(kv, [2]string{"Valid until", fmtTime(*s.SignerNotAfter)})
		}
		if s.Timestamp != nil {
			ts := "invalid: " + s.Timestamp.Error
			if s.Timestamp.Valid {
				ts = fmt.Sprintf("%s by %s (TSA %s)", fmtTime(s.Timestamp.GenTime), s.Timestamp.TSASubject, map[bool]string{true: "trusted", false: "not trusted"}[s.Timestamp.Trusted])
			}
			kv = append(kv, [2]string{"Timestamp", ts})
		}
		if s.Custody != nil {
			kv = append(kv, [2]string{"Custody", fmt.Sprintf("%s v%d: %s", s.Custody.Identity, s.Custody.Version, s.Custody.Summary)})
		}
		if s.Receipt != nil {
			kv = append(kv, [2]string{"Seal receipt", s.Receipt.Summary})
		}
		for _, p := range [][2]string{{"Reason", s.Reason}, {"Location", s.Location}, {"Name", s.Name}} {
			if p[1] != "" {
				kv = append(kv, p)
			}
		}
		for _, p := range kv {
			fmt.Fprintf(w, "  %-14s %s\n", p[0]+":", p[1])
		}
		for _, r := range s.Reasons {
			fmt.Fprintf(w, "  - %s\n", r)
		}
		for _, n := range s.Notes {
			fmt.Fprintf(w, "  note: %s\n", n)
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func signingTime(s verify.Signature) string {
	if s.SigningTime == nil {
		return "-"
	}
	src := map[string]string{verify.SourceTimestamp: "from the timestamp", verify.SourceSigningTime: "claimed, signingTime attribute",
		verify.SourceDictionaryM: "claimed, /M"}[s.SigningTimeSource]
	return fmt.Sprintf("%s (%s)", fmtTime(*s.SigningTime), src)
}

func coverage(s verify.Signature, revs int) string {
	switch s.Coverage {
	case verify.EntireFile:
		return fmt.Sprintf("entire file (revision %d of %d)", s.Revision+1, revs)
	case verify.EntireRevision:
		return fmt.Sprintf("entire revision %d of %d", s.Revision+1, revs)
	}
	return "partial"
}

func integrity(s verify.Signature) string {
	switch {
	case s.Intact && s.Valid:
		return "intact, signature valid"
	case s.Intact:
		return "intact, signature NOT valid"
	case s.SubIndication == verify.HashFailure:
		return "NOT intact"
	}
	return "not established (the signature could not be checked)"
}

func trust(s verify.Signature, at time.Time) string {
	if s.Trusted {
		return "trusted at " + fmtTime(at)
	}
	return "NOT trusted at " + fmtTime(at)
}

func modifications(s verify.Signature) string {
	if len(s.Updates) == 0 {
		return "none"
	}
	var parts []string
	for _, u := range s.Updates {
		parts = append(parts, fmt.Sprintf("revision %d: %s", u.Revision+1, u.Class))
	}
	m := s.Modification
	if !s.DocMDPOK {
		m += ", not allowed by DocMDP"
	}
	return m + " (" + strings.Join(parts, "; ") + ")"
}

// byteBar is a progress bar for hashing on a terminal; it prints nothing
// when stderr is not a terminal.
type byteBar struct {
	label string
	on    bool
	last  int
}

func newByteBar(label string) *byteBar {
	return &byteBar{label: label, on: isTerminal(os.Stderr), last: -1}
}

// update draws the bar when the percentage changes, for work over 8 MiB.
func (b *byteBar) update(done, total int64) {
	if !b.on || total < 8<<20 {
		return
	}
	pct := int(done * 100 / total)
	if pct == b.last {
		return
	}
	b.last = pct
	const width = 30
	fill := pct * width / 100
	fmt.Fprintf(os.Stderr, "\r%s [%s%s] %3d%% %d/%d MiB", b.label, strings.Repeat("=", fill), strings.Repeat(" ", width-fill), pct, done>>20, total>>20)
}

// done ends the bar's line.
func (b *byteBar) done() {
	if b.on && b.last >= 0 {
		fmt.Fprintln(os.Stderr)
	}
}
