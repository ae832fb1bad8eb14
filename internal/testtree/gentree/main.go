// Command gentree writes a generated kustomize tree for benchmarks: gentree DIR APPS OBJECTS_PER_APP [-finding].
// It prints the overlay's path. With -finding, the tree has one schema error (testtree.AddFinding).
package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/statepack/statepack/internal/testtree"
)

func main() {
	if len(os.Args) != 4 && (len(os.Args) != 5 || os.Args[4] != "-finding") {
		fmt.Fprintln(os.Stderr, "usage: gentree DIR APPS OBJECTS_PER_APP [-finding]")
		os.Exit(2)
	}
	apps, err1 := strconv.Atoi(os.Args[2])
	per, err2 := strconv.Atoi(os.Args[3])
	if err1 != nil || err2 != nil {
		fmt.Fprintln(os.Stderr, "APPS and OBJECTS_PER_APP must be numbers")
		os.Exit(2)
	}
	overlay, err := testtree.Kustomize(os.Args[1], apps, per)
	if err == nil && len(os.Args) == 5 {
		err = testtree.AddFinding(os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(overlay)
}
