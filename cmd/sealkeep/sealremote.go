package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"sealkeep/internal/atomicfile"
	"sealkeep/internal/client"
	"sealkeep/internal/pdf"
)

// runRemoteSeal seals through the service: the document, the options and
// the user's TOTP code go to the seal route; the sealed PDF that comes
// back is written to out atomically.
func runRemoteSeal(cmd *cobra.Command, in, out string, f sealFlags) error {
	switch {
	case f.key != "" || f.keyURI != "" || f.certFile != "" || f.chainFile != "" || f.passFile != "" || f.passEnv != "":
		return usageError{errors.New("with --server the key is your identity in custody: --key, --key-uri, --cert, --chain and the passphrase flags are for keys you hold")}
	case f.org == "" || f.identity == "":
		return usageError{errors.New("--server needs --org ORG and --identity ID: the identity you seal with")}
	case f.tsa != "":
		return usageError{errors.New("--tsa: the service uses its own timestamp authority; ask for --level B-T")}
	case cmd.Flags().Changed("max-decoded"):
		return usageError{errors.New("--max-decoded: the service applies its own reading limits")}
	}
	options, image, err := remoteSealOptions(f)
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
	if !fi.Mode().IsRegular() {
		return inputError(cmd, "seal", fmt.Errorf("%s is not a regular file: %w", in, pdf.ErrInvalidInput))
	}
	dst, err := atomicfile.Create(out, atomicfile.Options{Overwrite: f.force, Inputs: []os.FileInfo{fi}})
	if err != nil {
		if errors.Is(err, atomicfile.ErrExists) {
			err = fmt.Errorf("%w; --force replaces it", err)
		}
		return inputError(cmd, "output", err)
	}
	defer dst.Abort()
	defer dst.AbortOnSignal(os.Interrupt, syscall.SIGTERM)()
	c, err := remoteClient()
	if err != nil {
		return err
	}
	code, err := f.code.read("TOTP code to seal " + filepath.Base(in) + " with " + f.identity + ": ")
	if err != nil {
		return err
	}
	defer code.Zero()
	bar := newByteBar("uploading")
	res, err := c.Seal(cmd.Context(), client.SealRequest{Org: f.org, Identity: f.identity, Document: src, Size: fi.Size(),
		Name: filepath.Base(in), Options: options, Image: image, Code: code, IdempotencyKey: f.idempotencyKey, Progress: bar.update}, dst.File)
	bar.done()
	if err != nil {
		return err
	}
	if err := dst.Commit(); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	if globals.json {
		return printJSON(cmd.OutOrStdout(), map[string]any{"input": in, "output": out, "size": res.Size, "server": c.URL(),
			"seal_entry": map[string]any{"chain": res.Chain, "seq": res.Seq, "entry_hash": res.EntryHash, "request_id": res.RequestID},
			"replayed":   res.Replayed})
	}
	outf(cmd, "sealed %s -> %s through %s\n", in, out, c.URL())
	outf(cmd, "  seal entry: %s #%d %s\n  request:    %s\n  size:       %d bytes\n", res.Chain, res.Seq, res.EntryHash, res.RequestID, res.Size)
	return nil
}

// remoteSealOptions are the seal route's options part and image from the
// flags, checked as for a local seal.
func remoteSealOptions(f sealFlags) (map[string]any, []byte, error) {
	local, err := documentOptions(f)
	if err != nil {
		return nil, nil, err
	}
	level := strings.ToUpper(f.level)
	if level != "" && level != "B-B" && level != "B-T" {
		return nil, nil, fmt.Errorf("--level %q: want B-B or B-T", f.level)
	}
	o := local.PDF
	m := map[string]any{}
	for k, v := range map[string]string{"name": o.Name, "reason": o.Reason, "location": o.Location, "contact": o.ContactInfo,
		"subfilter": string(o.SubFilter), "level": level} {
		if v != "" {
			m[k] = v
		}
	}
	if o.DocMDP != 0 {
		m["docmdp"] = o.DocMDP
	}
	var image []byte
	if v := o.Visible; v != nil {
		m["visible"] = map[string]any{"page": v.Page, "rect": v.Rect}
		image = v.Image
	}
	return m, image, nil
}
