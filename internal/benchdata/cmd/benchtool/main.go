// Command benchtool is the helper behind scripts/bench: it generates the
// large benchmark PDFs, runs the copy-and-hash floor, and turns the output
// of go test -bench and of the CLI measurements into the summary table.
//
// # Usage
//
//	benchtool gen -size BYTES -pages N OUT.pdf
//	benchtool copyhash IN OUT
//	benchtool readhash IN
//	benchtool hostile DIR
//	benchtool report -go BENCH.txt [-cli CLI.tsv] [-failed FAILED.txt] [-note TEXT] [-extra FILE] [-out FILE.md]
//
// gen writes [benchdata.WritePDF]'s file. copyhash and readhash are the
// floors of the large-file measurements of seal and verify
// ([benchdata.CopyHash], [benchdata.ReadHash]); run them under
// /usr/bin/time -v like the CLI they are compared with. hostile writes the
// hostile files of the bounded-cost benchmark ([benchdata.HostileFiles])
// to DIR as NAME.pdf and prints one line per file: its name, size in bytes
// and what it does, tab-separated. report reads the
// go test -bench output (several packages, -count n: the median of each
// metric is used), the CLI measurements (tab-separated lines: size label,
// kind, wall seconds, peak RSS in KB, exit status) and the list of
// benchmark runs that failed, and appends the text of -extra (another
// tool's output) as a code block; it prints the summary as Markdown and writes it
// to -out. Every goal is reported PASS or MISS; report itself fails only on
// unreadable input.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"sealkeep/internal/benchdata"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchtool:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage: benchtool gen|copyhash|readhash|hostile|report [flags] [args]")

func run(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	switch args[0] {
	case "gen":
		fs := flag.NewFlagSet("gen", flag.ContinueOnError)
		size := fs.String("size", "", "file size in bytes, or with a suffix MB")
		pages := fs.Int("pages", 4, "page count")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		n, err := parseSize(*size)
		if err != nil || fs.NArg() != 1 {
			return fmt.Errorf("gen -size BYTES|NMB -pages N OUT.pdf: %v", err)
		}
		return benchdata.CreatePDF(fs.Arg(0), n, *pages)
	case "copyhash":
		if len(args) != 3 {
			return errors.New("copyhash IN OUT")
		}
		sum, err := benchdata.CopyHash(args[1], args[2])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%x\n", sum)
		return nil
	case "readhash":
		if len(args) != 2 {
			return errors.New("readhash IN")
		}
		sum, err := benchdata.ReadHash(args[1])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%x\n", sum)
		return nil
	case "hostile":
		if len(args) != 2 {
			return errors.New("hostile DIR")
		}
		return writeHostile(args[1], stdout)
	case "report":
		fs := flag.NewFlagSet("report", flag.ContinueOnError)
		goOut := fs.String("go", "", "go test -bench output")
		cli := fs.String("cli", "", "CLI measurements (TSV)")
		failed := fs.String("failed", "", "benchmark runs that failed, one a line")
		note := fs.String("note", "", "a line about the machine and its load")
		out := fs.String("out", "", "write the Markdown summary here too")
		extra := fs.String("extra", "", "append this file's text as a code block")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *goOut == "" {
			return errors.New("report: -go is required")
		}
		return report(stdout, *goOut, *cli, *failed, *note, *extra, *out)
	}
	return errUsage
}

// parseSize reads "1048576" or "50MB" (MiB).
func parseSize(s string) (int64, error) {
	mult := int64(1)
	if n := len(s); n > 2 && (s[n-2:] == "MB" || s[n-2:] == "mb") {
		s, mult = s[:n-2], 1<<20
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

// writeHostile writes every hostile file to dir.
func writeHostile(dir string, stdout io.Writer) error {
	for _, h := range benchdata.HostileFiles() {
		f, err := os.Create(filepath.Join(dir, h.Name+".pdf"))
		if err != nil {
			return err
		}
		n, err := h.Write(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
		fmt.Fprintf(stdout, "%s\t%d\t%s\n", h.Name, n, h.What)
	}
	return nil
}
