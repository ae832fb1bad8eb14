package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/statepack/statepack"
)

// writeConsumers prints the consumer report as a matrix: one row per consumer with its verdict and why, and what
// the verdict assumes of the consumer's configuration on the line below, under the reason. Every cell is kept on
// its line.
func writeConsumers(w io.Writer, rep *statepack.ConsumerReport) error {
	listing := string(rep.Referrers)
	if listing == "" {
		listing = "unknown (" + rep.ReferrersError + ")"
	}
	sig := "no .sig"
	if rep.LegacySignature {
		sig = "a .sig"
	}
	bundles := fmt.Sprintf("%d sigstore bundles", rep.Bundles)
	switch rep.Bundles {
	case 0:
		bundles = "no sigstore bundle"
	case 1:
		bundles = "1 sigstore bundle"
	}
	fmt.Fprintf(w, "Consumers of %s (%s, %s; referrers listed through the %s):\n", oneLine(rep.Ref), bundles, sig, oneLine(listing))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  CONSUMER\tVERDICT\tWHY")
	for _, c := range rep.Consumers {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", oneLine(c.Name), strings.ToUpper(oneLine(string(c.Verdict))), oneLine(c.Reason))
		if c.Requires != "" {
			fmt.Fprintf(tw, "  \t\tassumes %s\n", oneLine(c.Requires))
		}
	}
	return tw.Flush()
}
