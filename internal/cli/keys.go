package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/statepack/statepack/sign"
)

func newGenerateKeyPairCmd(env *Env, g *globalOptions) *cobra.Command {
	var prefix string
	cmd := &cobra.Command{
		Use:   "generate-key-pair",
		Short: "Write a cosign key pair (PREFIX.key encrypted with COSIGN_PASSWORD, PREFIX.pub)",
		Args:  argsUsage(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			priv, pub, err := sign.GenerateKeyPair([]byte(env.getenv("COSIGN_PASSWORD")))
			if err != nil {
				return err
			}
			keyFile, pubFile := prefix+".key", prefix+".pub"
			for _, f := range []string{keyFile, pubFile} {
				if _, err := os.Lstat(f); err == nil {
					return usagef("%s exists: statepack does not overwrite keys; remove it or choose --output-key-prefix", f)
				}
			}
			if err := writeNew(keyFile, priv, 0o600); err != nil {
				return err
			}
			if err := writeNew(pubFile, pub, 0o644); err != nil {
				return err
			}
			if g.json() {
				return writeJSON(env.Stdout, map[string]string{"privateKey": keyFile, "publicKey": pubFile})
			}
			fmt.Fprintf(env.Stdout, "Private key written to %s\nPublic key written to %s\n", keyFile, pubFile)
			return nil
		},
	}
	cmd.Flags().StringVar(&prefix, "output-key-prefix", "cosign", "file name prefix of the key pair")
	return cmd
}

// writeNew creates a file that must not exist yet, so that a symlink planted at the path cannot redirect a private
// key elsewhere.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
