package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"sealkeep/internal/audit"
	"sealkeep/internal/config"
	"sealkeep/internal/redact"
	"sealkeep/internal/store"
	"sealkeep/internal/textsafe"
)

// globals are the persistent flags shared by every command.
var globals struct {
	dataDir  string
	json     bool
	logLevel string
	logger   *slog.Logger
	server   string
	serverCA string
}

func addGlobalFlags(root *cobra.Command) {
	f := root.PersistentFlags()
	f.StringVar(&globals.dataDir, "data-dir", "", "data directory (default $SEALKEEP_HOME or ~/.sealkeep)")
	f.BoolVar(&globals.json, "json", false, "print JSON for scripts instead of tables")
	f.StringVar(&globals.logLevel, "log-level", "warn", "log level on stderr: debug, info, warn, error")
	f.StringVar(&globals.server, "server", "", "run as a client of the sealkeep service at URL (default $SEALKEEP_SERVER; commands that support it)")
	f.StringVar(&globals.serverCA, "server-ca", "", "PEM trust anchors of the service's TLS certificate (default: the system's)")
}

// dataDir returns the data directory chosen by --data-dir or the default.
func dataDir() string {
	if globals.dataDir != "" {
		return globals.dataDir
	}
	return config.DefaultDir()
}

// actor is the CLI's audit actor: the OS user running the command.
func actor() audit.Actor {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	} else if v := os.Getenv("USER"); v != "" {
		name = v
	}
	return audit.Actor{Kind: "cli", ID: name}
}

// isTerminal reports whether f is a terminal (progress and prompts only
// appear on one).
func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// printJSON writes v as indented JSON. Strings keep their exact value;
// characters a terminal would interpret (controls, bidi overrides,
// invisible format characters) are written as \u escapes, so that the raw
// JSON is safe to show too (textsafe.JSON).
func printJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(textsafe.JSON(buf.Bytes()))
	return err
}

// printTable writes rows under header, aligned. Every cell is escaped
// (textsafe.Escape): names, owners and subjects come from the database,
// certificates and PDFs, and a tab or newline in one would also break the
// table.
func printTable(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(textsafe.EscapeAll(header), "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(textsafe.EscapeAll(r), "\t"))
	}
	return tw.Flush()
}

// printFields writes "name: value" lines, aligned and escaped like
// printTable's cells.
func printFields(w io.Writer, kv [][2]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	for _, p := range kv {
		fmt.Fprintf(tw, "%s:\t%s\n", textsafe.Escape(p[0]), textsafe.Escape(p[1]))
	}
	return tw.Flush()
}

// progress prints "label n/total" on stderr when stderr is a terminal; it
// returns a callback for long work and a function that ends the line.
func progress(label string) (func(done, total int), func()) {
	if !isTerminal(os.Stderr) {
		return func(int, int) {}, func() {}
	}
	shown := false
	return func(done, total int) {
			shown = true
			if total > 0 {
				fmt.Fprintf(os.Stderr, "\r%s %d/%d", label, done, total)
			} else {
				fmt.Fprintf(os.Stderr, "\r%s %d", label, done)
			}
		}, func() {
			if shown {
				fmt.Fprintln(os.Stderr)
			}
		}
}

// setupLogging builds the logger for --log-level.
func setupLogging(*cobra.Command) error {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(globals.logLevel)); err != nil {
		return usageError{fmt.Errorf("--log-level: want debug, info, warn or error")}
	}
	globals.logger = slog.New(redact.NewHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})))
	return nil
}

// fmtTime formats a time for tables.
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func fmtTimePtr(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return fmtTime(*t)
}

// short abbreviates a hex thumbprint for tables.
func short(s string) string {
	if len(s) > 16 {
		return s[:16] + "…"
	}
	if s == "" {
		return "-"
	}
	return s
}

func orgJSON(o store.Org) map[string]any {
	return map[string]any{"id": o.ID, "name": o.Name, "created_at": o.CreatedAt}
}

func identityJSON(i store.Identity) map[string]any {
	return map[string]any{"id": i.ID, "org": i.OrgID, "owner": i.Owner, "name": i.Name, "created_at": i.CreatedAt}
}

// outf writes to the command's stdout (cobra's Printf writes to stderr).
// The format is the command's own text; every argument is escaped
// (safeArgs), since names, subjects, paths and errors can come from a PDF,
// a certificate or the database.
func outf(cmd *cobra.Command, format string, args ...any) {
	fmt.Fprintf(cmd.OutOrStdout(), format, safeArgs(args)...)
}

// outln writes the command's own literal text to stdout, unescaped: values
// go through outf.
func outln(cmd *cobra.Command, args ...any) { fmt.Fprintln(cmd.OutOrStdout(), args...) }

// errf is outf for the command's stderr.
func errf(cmd *cobra.Command, format string, args ...any) {
	fmt.Fprintf(cmd.ErrOrStderr(), format, safeArgs(args)...)
}

// errorText is err's message for a terminal, on one line: each line of it
// (errors.Join puts one error per line) escaped, joined by "; ".
func errorText(err error) string {
	lines := strings.Split(err.Error(), "\n")
	for i, l := range lines {
		lines[i] = textsafe.Escape(l)
	}
	return strings.Join(lines, "; ")
}

// safeArgs returns args with every string in them escaped for a terminal
// (textsafe.Escape); errors and fmt.Stringers become their escaped text.
func safeArgs(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case error:
			out[i] = errorText(v)
		case fmt.Stringer:
			out[i] = textsafe.Escape(v.String())
		default:
			out[i] = textsafe.EscapeAll(a)
		}
	}
	return out
}

// group returns a command that only holds subcommands: run without one (or
// with an unknown one) it prints its help and fails with a usage error.
func group(use, short string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_ = cmd.Help()
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())}
			}
			return usageError{fmt.Errorf("%s needs a subcommand", cmd.CommandPath())}
		},
	}
}
