// Command gentree writes a generated kustomize tree for benchmarks: gentree DIR APPS OBJECTS_PER_APP. It prints
// the overlay's path.
package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/statepack/statepack/internal/testtree"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: gentree DIR APPS OBJECTS_PER_APP")
		os.Exit(2)
	}
	apps, err1 := strconv.Atoi(os.Args[2])
	per, err2 := strconv.Atoi(os.Args[3])
	if err1 != nil || err2 != nil {
		fmt.Fprintln(os.Stderr, "APPS and OBJECTS_PER_APP must be numbers")
		os.Exit(2)
	}
	overlay, err := testtree.Kustomize(os.Args[1], apps, per)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(overlay)
}
