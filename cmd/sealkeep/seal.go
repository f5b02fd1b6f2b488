package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"sealkeep/internal/atomicfile"
	"sealkeep/internal/cms"
	"sealkeep/internal/keyfile"
	"sealkeep/internal/keypolicy"
	"sealkeep/internal/pdf"
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
}

func newSealCmd() *cobra.Command {
	var f sealFlags
	cmd := &cobra.Command{
		Use:   "seal IN.pdf OUT.pdf (--key FILE.p12|FILE.pem | --key-uri URI --cert FILE [--chain FILE])",
		Short: "Seal a PDF with a key you hold (PAdES B-B or B-T, incremental update)",
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
custody key goes through the authenticated, MFA-gated service.

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
	cmd.MarkFlagsMutuallyExclusive("key", "key-uri")
	cmd.MarkFlagsOneRequired("key", "key-uri")
	cmd.MarkFlagsMutuallyExclusive("passphrase-file", "passphrase-env")
	return cmd
}

// createOutput checks the output path (not the input, not a directory or
// a device, not an existing file unless force) and creates its temporary
// file; it warns about temporary files that an earlier, killed seal left.
func createOutput(cmd *cobra.Command, out string, in os.FileInfo, force bool) (*atomicfile.File, error) {
	if stale, err := atomicfile.Stale(out); err == nil {
		for _, s := range stale {
			errf(cmd, "sealkeep: warning: %s was left by an interrupted seal; it is not a sealed document: remove it\n", s)
		}
	}
	dst, err := atomicfile.Create(out, atomicfile.Options{Overwrite: force, Inputs: []os.FileInfo{in}})
	if err != nil {
		return nil, outputError(cmd, err)
	}
	return dst, nil
}

// outputError reports a refused output (exit 2) or another failure to
// write it (exit 4).
func outputError(cmd *cobra.Command, err error) error {
	switch {
	case errors.Is(err, atomicfile.ErrExists):
		return inputError(cmd, "output", fmt.Errorf("%w; --force replaces it", err))
	case errors.Is(err, atomicfile.ErrSameFile), errors.Is(err, atomicfile.ErrNotRegular):
		return inputError(cmd, "output", err)
	}
	return fmt.Errorf("output: %w", err)
}

// inputError reports an error about the user's input (exit 2).
func inputError(cmd *cobra.Command, what string, err error) error {
	errf(cmd, "sealkeep: %s: %v\n", what, err)
	return &silentError{code: exitUsage}
}

func runSeal(cmd *cobra.Command, in, out string, f sealFlags) error {
	ctx := cmd.Context()
	opts, err := sealOptions(f)
	if err != nil {
		return usageError{err}
	}
	src, err := os.Open(in)
	if err != nil {
		return inputError(cmd, "seal", err)
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return inputError(cmd, "seal", err)
	}
	dst, err := createOutput(cmd, out, fi, f.force)
	if err != nil {
		return err
	}
	defer dst.Abort()
	defer dst.AbortOnSignal(os.Interrupt, syscall.SIGTERM)()

	bundle, err := loadSigner(ctx, f)
	if err != nil {
		return inputError(cmd, "signer", err)
	}
	if err := bundle.Validate(time.Now()); err != nil {
		return inputError(cmd, "signer", err)
	}
	so := cms.SignOptions{Signer: bundle.Key, Certificate: bundle.Leaf, Chain: bundle.Chain,
		Digest: cms.AutoDigest(bundle.Leaf.PublicKey), Legacy: opts.SubFilter == pdf.PKCS7Detached}
	opts.Digest = so.Digest
	if f.tsa != "" {
		tsa := f.tsa
		so.Timestamp = func(ctx context.Context, sig []byte) ([]byte, error) {
			return cms.RequestTimestamp(ctx, tsa, nil, sig, so.Digest)
		}
	}
	if opts.Name == "" {
		opts.Name = bundle.Leaf.Subject.CommonName
	}
	if opts.Visible != nil {
		opts.Visible.Lines = []string{opts.Name, "Digitally sealed", time.Now().UTC().Format("2006-01-02 15:04 MST")}
	}
	size, err := cms.EstimateSize(so)
	if err != nil {
		return inputError(cmd, "signer", err)
	}
	opts.ContentsSize = size

	bar := newByteBar("sealing")
	ra := &countingReaderAt{r: src, total: fi.Size(), bar: bar}
	res, err := pdf.SealTo(ctx, ra, fi.Size(), dst.File, opts, func(ctx context.Context, digest []byte) ([]byte, error) {
		return cms.SignDetached(ctx, digest, so)
	})
	bar.done()
	if err != nil {
		for _, e := range []error{pdf.ErrMalformed, pdf.ErrLimit, pdf.ErrEncrypted, pdf.ErrCertified, pdf.ErrInvalidInput} {
			if errors.Is(err, e) {
				return inputError(cmd, "seal "+in, err)
			}
		}
		return fmt.Errorf("seal %s: %w", in, err)
	}
	if err := dst.Commit(); err != nil {
		return outputError(cmd, err)
	}
	thumb := keypolicy.Thumbprint(bundle.Leaf.Raw)
	if globals.json {
		return printJSON(cmd.OutOrStdout(), map[string]any{
			"input": in, "output": out, "field": res.FieldName, "byte_range": res.ByteRange,
			"size": res.Size, "signer_subject": bundle.Leaf.Subject.String(), "signer_sha256": thumb,
			"level": level(f), "subfilter": string(opts.SubFilter), "warnings": nonNil(res.Warnings),
		})
	}
	outf(cmd, "sealed %s -> %s\n", in, out)
	outf(cmd, "  field:      %s\n  signer:     %s\n  thumbprint: %s\n  level:      PAdES %s (%s)\n  size:       %d bytes\n",
		res.FieldName, bundle.Leaf.Subject.String(), thumb, level(f), opts.SubFilter, res.Size)
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

func level(f sealFlags) string {
	if f.tsa != "" {
		return "B-T"
	}
	return "B-B"
}

// sealOptions checks the flags and builds the seal options (without the
// signer).
func sealOptions(f sealFlags) (pdf.SealOptions, error) {
	opts := pdf.SealOptions{Name: f.name, Reason: f.reason, Location: f.location, ContactInfo: f.contact, DocMDP: f.docMDP,
		Limits: f.maxDecoded.limits()}
	switch strings.ToUpper(f.level) {
	case "", "B-B":
		if f.level != "" && f.tsa != "" {
			return opts, fmt.Errorf("--level B-B with --tsa: a timestamp makes B-T")
		}
	case "B-T":
		if f.tsa == "" {
			return opts, fmt.Errorf("--level B-T needs --tsa URL")
		}
	default:
		return opts, fmt.Errorf("--level %q: want B-B or B-T", f.level)
	}
	switch f.subfilter {
	case "cades", "":
		opts.SubFilter = pdf.CAdESDetached
	case "pkcs7":
		opts.SubFilter = pdf.PKCS7Detached
	default:
		return opts, fmt.Errorf("--subfilter %q: want cades or pkcs7", f.subfilter)
	}
	if f.docMDP < 0 || f.docMDP > 3 {
		return opts, fmt.Errorf("--docmdp %d: want 1, 2 or 3", f.docMDP)
	}
	if f.keyURI == "" && (f.certFile != "" || f.chainFile != "") {
		return opts, fmt.Errorf("--cert and --chain go with --key-uri (a --key file carries its certificates)")
	}
	if f.keyURI != "" && f.certFile == "" {
		return opts, fmt.Errorf("--key-uri needs --cert FILE: the key's certificate")
	}
	if f.visiblePage == 0 {
		if f.visibleRect != "" || f.sealImage != "" {
			return opts, fmt.Errorf("--visible-rect and --seal-image need --visible-page")
		}
		return opts, nil
	}
	app := &pdf.Appearance{Page: f.visiblePage, Rect: [4]float64{36, 36, 252, 108}}
	if f.visibleRect != "" {
		parts := strings.Split(f.visibleRect, ",")
		if len(parts) != 4 {
			return opts, fmt.Errorf("--visible-rect %q: want x1,y1,x2,y2", f.visibleRect)
		}
		for i, p := range parts {
			x, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
			if err != nil {
				return opts, fmt.Errorf("--visible-rect %q: %v", f.visibleRect, err)
			}
			app.Rect[i] = x
		}
	}
	if f.sealImage != "" {
		img, err := os.ReadFile(f.sealImage)
		if err != nil {
			return opts, fmt.Errorf("--seal-image: %w", err)
		}
		app.Image = img
	}
	opts.Visible = app
	return opts, nil
}

// loadSigner opens the key file or the key URI with its certificates.
func loadSigner(ctx context.Context, f sealFlags) (*keyfile.Bundle, error) {
	if f.key != "" {
		data, err := os.ReadFile(f.key)
		if err != nil {
			return nil, fmt.Errorf("--key: %w", err)
		}
		return keyfile.Parse(data, passphrase(f.passFile, f.passEnv))
	}
	if f.passFile != "" || f.passEnv != "" {
		return nil, fmt.Errorf("--passphrase-file and --passphrase-env go with --key")
	}
	certs, err := readCerts("--cert", f.certFile)
	if err != nil {
		return nil, err
	}
	if f.chainFile != "" {
		more, err := readCerts("--chain", f.chainFile)
		if err != nil {
			return nil, err
		}
		certs = append(certs, more...)
	}
	key, err := signer.Open(ctx, f.keyURI)
	if err != nil {
		return nil, err
	}
	b := &keyfile.Bundle{Key: key, Leaf: certs[0], Chain: certs[1:]}
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

// countingReaderAt reports the progress of the sealer's copy pass (the
// large sequential reads) to a progress bar.
type countingReaderAt struct {
	r     io.ReaderAt
	total int64
	high  atomic.Int64
	bar   *byteBar
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	if len(p) >= 32<<10 {
		end := off + int64(n)
		if end > c.high.Load() {
			c.high.Store(end)
			c.bar.update(end, c.total)
		}
	}
	return n, err
}
