package atomicfile_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"sealkeep/internal/atomicfile"
)

func ExampleCreate() {
	dir, err := os.MkdirTemp("", "atomicfile")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "sealed.pdf")

	f, err := atomicfile.Create(out, atomicfile.Options{})
	if err != nil {
		panic(err)
	}
	defer f.Abort()                                        // on any early return
	defer f.AbortOnSignal(os.Interrupt, syscall.SIGTERM)() // Ctrl-C, kill
	fmt.Fprint(f, "%PDF-1.7 ...")
	if err := f.Commit(); err != nil {
		panic(err)
	}

	_, err = atomicfile.Create(out, atomicfile.Options{})
	fmt.Println(errors.Is(err, atomicfile.ErrExists))
	_, err = atomicfile.Create(dir, atomicfile.Options{Overwrite: true})
	fmt.Println(errors.Is(err, atomicfile.ErrNotRegular))
	// Output:
	// true
	// true
}
