package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"sealkeep/internal/atomicfile"
	"sealkeep/internal/errs"
	"sealkeep/internal/keyfile"
	"sealkeep/internal/keypolicy"
	"sealkeep/internal/pdf"
	"sealkeep/internal/seal"
	"sealkeep/internal/signer"
	// Key URI providers the user's own credentials reach.
	_ "sealkeep/internal/signer/awskms"
	_ "sealkeep/internal/signer/azurekv"
	_ "sealkeep/internal/signer/gcpkms"
	_ "sealkeep/internal/signer/pkcs11"
)

func init() { register(newSealCmd) }

// sealFlags are the seal command's options.
type sealFlags struct {
	key, passFile, passEnv, keyURI, certFile, chainFile string
	name, reason, location, contact                     string
	level, tsa, subfilter                               string
	visiblePage                                         int
	visibleRect, sealImage                              string
	docMDP                                              int
	force                                               bool
	maxDecoded                                          maxDecodedFlag
	// The --server form: the custody identity and the step-up.
	org, identity, idempotencyKey string
	code                          codeFlags
}

func newSealCmd() *cobra.Command {
	var f sealFlags
	cmd := &cobra.Command{
		Use:   "seal IN.pdf OUT.pdf (--key FILE.p12|FILE.pem | --key-uri URI --cert FILE [--chain FILE] | --server URL --org ORG --identity ID)",
		Short: "Seal a PDF with a key you hold, or with your custody identity through the service (PAdES B-B or B-T)",
		Long: `Seal IN.pdf into OUT.pdf: the output is the input, byte for byte, followed by one
incremental update that holds a PAdES signature (ETSI.CAdES.detached; with
--subfilter pkcs7 the legacy adbe.pkcs7.detached). Earlier signatures stay
valid. Encrypted PDFs, documents whose certification (DocMDP P=1) forbids
changes and files too damaged to parse safely are refused; nothing is written
then.

OUT.pdf is written to a temporary file next to it (.OUT.pdf.sealkeep-tmp-*,
mode 0600), synced and renamed, so OUT.pdf is the whole sealed file or
untouched; the temporary file is removed on any failure and on SIGINT or
SIGTERM, and one left by a killed seal is reported. OUT.pdf may not be
IN.pdf (also through a link), a directory or a device, nor an existing file
unless --force (exit 2).

The signer is a key you hold:
  --key FILE            a PKCS#12 (.p12/.pfx) or PEM file with the key, its
                        certificate and chain; the passphrase comes from
                        --passphrase-file, --passphrase-env or a prompt
  --key-uri URI         a key your own credentials reach (pkcs11:, awskms:,
                        azurekv:, gcpkms:), with its certificate from --cert
                        and intermediates from --chain
The key and certificate must pass the key policy: an expired or not yet valid
certificate, a weak key or a certificate that may not sign is refused.

This command never unwraps a key held in sealkeep's custody: sealing with a
custody key goes through the authenticated, MFA-gated service:
  --server URL --org ORG --identity ID
                        seals through the service (after sealkeep login) with
                        your identity ID of ORG, on your current TOTP code,
                        asked on the terminal or read from --code-file or
                        --code-fd; the seal is an entry in ORG's audit chain
                        and OUT.pdf is written only after it committed. The
                        request carries an Idempotency-Key (--idempotency-key,
                        default random): a request cut off by the network is
                        sent again and never seals twice. --level B-T uses the
                        service's timestamp authority (--tsa is refused).

--level B-T (or --tsa URL alone) adds an RFC 3161 timestamp from the TSA.
--visible-page N places a visible seal on page N in --visible-rect
x1,y1,x2,y2 (points, default 36,36,252,108) with --seal-image (PNG or JPEG).
--docmdp 1|2|3 makes a certification signature (1: no changes, 2: form fill
and signing, 3: also annotations).

Reading the input is bounded as for sealkeep verify: --max-decoded SIZE
(default 256MiB) is the budget of decoded stream data; a file over a limit
is refused, "over the processing limit: ...", exit 2, and nothing is written.

A progress bar is shown on a terminal while large files are hashed.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSeal(cmd, args[0], args[1], f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.key, "key", "", "PKCS#12 or PEM file with the signing key, certificate and chain")
	fl.StringVar(&f.passFile, "passphrase-file", "", "file whose first line is the key file's passphrase")
	fl.StringVar(&f.passEnv, "passphrase-env", "", "environment variable holding the key file's passphrase")
	fl.StringVar(&f.keyURI, "key-uri", "", "key URI (pkcs11:, awskms:, azurekv:, gcpkms:)")
	fl.StringVar(&f.certFile, "cert", "", "PEM certificate of the --key-uri key (with --key-uri)")
	fl.StringVar(&f.chainFile, "chain", "", "PEM intermediates to embed (with --key-uri)")
	fl.StringVar(&f.name, "name", "", "signer name in the signature (default: the certificate's common name)")
	fl.StringVar(&f.reason, "reason", "", "reason for signing")
	fl.StringVar(&f.location, "location", "", "location of signing")
	fl.StringVar(&f.contact, "contact", "", "contact information")
	fl.StringVar(&f.level, "level", "", "PAdES level: B-B (default) or B-T (needs --tsa)")
	fl.StringVar(&f.tsa, "tsa", "", "RFC 3161 timestamp authority URL (implies B-T)")
	fl.StringVar(&f.subfilter, "subfilter", "cades", "signature encoding: cades (PAdES) or pkcs7 (legacy)")
	fl.IntVar(&f.visiblePage, "visible-page", 0, "page of a visible seal (default: invisible)")
	fl.StringVar(&f.visibleRect, "visible-rect", "", "rectangle x1,y1,x2,y2 of the visible seal, in points")
	fl.StringVar(&f.sealImage, "seal-image", "", "PNG or JPEG image of the visible seal")
	fl.IntVar(&f.docMDP, "docmdp", 0, "certify with DocMDP permissions 1, 2 or 3 (default: approval signature)")
	fl.BoolVar(&f.force, "force", false, "replace OUT.pdf if it exists (never the input, a directory or a device)")
	addMaxDecodedFlag(cmd, &f.maxDecoded)
	fl.StringVar(&f.org, "org", "", "with --server: the organization of --identity")
	fl.StringVar(&f.identity, "identity", "", "with --server: your signing identity in custody")
	fl.StringVar(&f.idempotencyKey, "idempotency-key", "", "with --server: the request's Idempotency-Key (default: random)")
	f.code.add(cmd)
	cmd.MarkFlagsMutuallyExclusive("key", "key-uri")
	cmd.MarkFlagsMutuallyExclusive("passphrase-file", "passphrase-env")
	return remoteCmd(cmd)
}

// sealError reports a failed step of the seal pipeline: a refused output,
// input document or key is the user's input (exit 2); anything else is an
// error of its own.
func sealError(cmd *cobra.Command, in string, err error) error {
	var se *seal.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Step {
	case seal.StepOutput:
		switch {
		case errors.Is(err, atomicfile.ErrExists):
			return inputError(cmd, "output", fmt.Errorf("%w; --force replaces it", se.Err))
		case errors.Is(err, atomicfile.ErrSameFile), errors.Is(err, atomicfile.ErrNotRegular):
			return inputError(cmd, "output", se.Err)
		}
		return fmt.Errorf("output: %w", se.Err)
	case seal.StepInput:
		return inputError(cmd, "seal", se.Err)
	case seal.StepKey:
		return inputError(cmd, "signer", se.Err)
	case seal.StepDocument:
		return inputError(cmd, "seal "+in, se.Err)
	}
	return fmt.Errorf("seal %s: %w", in, se.Err)
}

// inputError reports an error about the user's input (exit 2), unless it
// says that a service the input names could not be reached (a KMS, an HSM,
// a TSA: exit 5, the input may be fine and a retry may succeed).
func inputError(cmd *cobra.Command, what string, err error) error {
	errf(cmd, "sealkeep: %s: %v\n", what, err)
	if k := errs.KindOf(err); k == errs.Unavailable || k == errs.TooManyRequests {
		return &silentError{code: exitCodes[k]}
	}
	return &silentError{code: exitUsage}
}

func runSeal(cmd *cobra.Command, in, out string, f sealFlags) error {
	if serverURL() != "" {
		return runRemoteSeal(cmd, in, out, f)
	}
	if f.key == "" && f.keyURI == "" {
		return usageError{errors.New("--key FILE or --key-uri URI names the key you seal with (or --server URL --org ORG --identity ID your identity in custody)")}
	}
	for _, name := range []string{"org", "identity", "idempotency-key", "code-file", "code-fd"} {
		if cmd.Flags().Changed(name) {
			return usageError{fmt.Errorf("--%s goes with --server", name)}
		}
	}
	ctx := cmd.Context()
	opts, err := sealOptions(f)
	if err != nil {
		return usageError{err}
	}
	job, err := seal.Open(in, out, seal.Output{Force: f.force})
	if err != nil {
		return sealError(cmd, in, err)
	}
	defer job.Close()
	defer job.AbortOnSignal(os.Interrupt, syscall.SIGTERM)()
	for _, s := range job.Stale {
		errf(cmd, "sealkeep: warning: %s was left by an interrupted seal; it is not a sealed document: remove it\n", s)
	}
	key, err := loadSigner(ctx, f)
	if err != nil {
		return inputError(cmd, "signer", err)
	}
	bar := newByteBar("sealing")
	opts.Progress = bar.update
	res, err := job.Seal(ctx, key, opts)
	bar.done()
	if err != nil {
		return sealError(cmd, in, err)
	}
	if globals.json {
		return printJSON(cmd.OutOrStdout(), map[string]any{
			"input": in, "output": out, "field": res.Field, "byte_range": res.ByteRange,
			"size": res.Size, "signer_subject": res.Signer, "signer_sha256": res.Thumbprint,
			"level": res.Level, "subfilter": string(res.SubFilter), "warnings": nonNil(res.Warnings),
		})
	}
	outf(cmd, "sealed %s -> %s\n", in, out)
	outf(cmd, "  field:      %s\n  signer:     %s\n  thumbprint: %s\n  level:      PAdES %s (%s)\n  size:       %d bytes\n",
		res.Field, res.Signer, res.Thumbprint, res.Level, res.SubFilter, res.Size)
	for _, w := range res.Warnings {
		outf(cmd, "  warning:    %s\n", w)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// sealOptions checks the flags and builds the seal options (without the
// signer).
func sealOptions(f sealFlags) (seal.Options, error) {
	o, err := documentOptions(f)
	if err != nil {
		return o, err
	}
	o.TSA, o.PDF.Limits = f.tsa, f.maxDecoded.limits()
	switch strings.ToUpper(f.level) {
	case "", "B-B":
		if f.level != "" && f.tsa != "" {
			return o, fmt.Errorf("--level B-B with --tsa: a timestamp makes B-T")
		}
	case "B-T":
		if f.tsa == "" {
			return o, fmt.Errorf("--level B-T needs --tsa URL")
		}
	default:
		return o, fmt.Errorf("--level %q: want B-B or B-T", f.level)
	}
	if f.keyURI == "" && (f.certFile != "" || f.chainFile != "") {
		return o, fmt.Errorf("--cert and --chain go with --key-uri (a --key file carries its certificates)")
	}
	if f.keyURI != "" && f.certFile == "" {
		return o, fmt.Errorf("--key-uri needs --cert FILE: the key's certificate")
	}
	return o, nil
}

// documentOptions are the options that shape the signature in the
// document, of a local seal and a seal through the service alike: the
// signature dictionary's fields, the subfilter, DocMDP and the visible
// seal.
func documentOptions(f sealFlags) (seal.Options, error) {
	o := seal.Options{PDF: pdf.SealOptions{Name: f.name, Reason: f.reason, Location: f.location, ContactInfo: f.contact,
		DocMDP: f.docMDP}}
	opts := &o.PDF
	switch f.subfilter {
	case "cades", "":
		opts.SubFilter = pdf.CAdESDetached
	case "pkcs7":
		opts.SubFilter = pdf.PKCS7Detached
	default:
		return o, fmt.Errorf("--subfilter %q: want cades or pkcs7", f.subfilter)
	}
	if f.docMDP < 0 || f.docMDP > 3 {
		return o, fmt.Errorf("--docmdp %d: want 1, 2 or 3", f.docMDP)
	}
	if f.visiblePage == 0 {
		if f.visibleRect != "" || f.sealImage != "" {
			return o, fmt.Errorf("--visible-rect and --seal-image need --visible-page")
		}
		return o, nil
	}
	app := &pdf.Appearance{Page: f.visiblePage, Rect: [4]float64{36, 36, 252, 108}}
	if f.visibleRect != "" {
		parts := strings.Split(f.visibleRect, ",")
		if len(parts) != 4 {
			return o, fmt.Errorf("--visible-rect %q: want x1,y1,x2,y2", f.visibleRect)
		}
		for i, p := range parts {
			x, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
			if err != nil {
				return o, fmt.Errorf("--visible-rect %q: %v", f.visibleRect, err)
			}
			app.Rect[i] = x
		}
	}
	if f.sealImage != "" {
		img, err := os.ReadFile(f.sealImage)
		if err != nil {
			return o, fmt.Errorf("--seal-image: %w", err)
		}
		app.Image = img
	}
	opts.Visible = app
	return o, nil
}

// loadSigner opens the key file or the key URI with its certificates.
func loadSigner(ctx context.Context, f sealFlags) (seal.Key, error) {
	if f.key != "" {
		data, err := os.ReadFile(f.key)
		if err != nil {
			return seal.Key{}, fmt.Errorf("--key: %w", err)
		}
		b, err := keyfile.Parse(data, passphrase(f.passFile, f.passEnv))
		if err != nil {
			return seal.Key{}, err
		}
		return seal.Key{Signer: b.Key, Leaf: b.Leaf, Chain: b.Chain}, nil
	}
	if f.passFile != "" || f.passEnv != "" {
		return seal.Key{}, fmt.Errorf("--passphrase-file and --passphrase-env go with --key")
	}
	certs, err := readCerts("--cert", f.certFile)
	if err != nil {
		return seal.Key{}, err
	}
	if f.chainFile != "" {
		more, err := readCerts("--chain", f.chainFile)
		if err != nil {
			return seal.Key{}, err
		}
		certs = append(certs, more...)
	}
	key, err := signer.Open(ctx, f.keyURI)
	if err != nil {
		return seal.Key{}, err
	}
	b := seal.Key{Signer: key, Leaf: certs[0], Chain: certs[1:]}
	for i, c := range certs {
		if keypolicy.PublicKeysEqual(c.PublicKey, key.Public()) {
			b.Leaf, b.Chain = c, append(append([]*x509.Certificate{}, certs[:i]...), certs[i+1:]...)
			break
		}
	}
	return b, nil
}

// readCerts reads the PEM certificates of a file.
func readCerts(flag, path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, data = pem.Decode(data)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", flag, path, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s %s: no PEM CERTIFICATE blocks", flag, path)
	}
	return out, nil
}
