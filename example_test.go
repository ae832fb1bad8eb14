package statepack_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/statepack/statepack"
	"github.com/statepack/statepack/publish"
	"github.com/statepack/statepack/sign"
)

// Example embeds statepack in a Go program: the demo tree is published into a local OCI layout, signed with a key
// and attested (SLSA provenance and inventory), in the order that never leaves a tag on unsigned content, then
// verified as Flux would. The tree is copied out of the repository so that no git metadata goes into the artifact,
// and the creation time is fixed (SOURCE_DATE_EPOCH): the digest is the same on any machine and day, and the same
// as `statepack publish` prints for the same tree (TestLibraryAndCLIPublishAlike in internal/cli).
func Example() {
	ctx := context.Background()
	work, _ := os.MkdirTemp("", "statepack-example-")
	defer os.RemoveAll(work)
	tree := filepath.Join(work, "tree")
	_ = os.CopyFS(tree, os.DirFS("testdata/demo"))

	// A throwaway key pair, as `statepack generate-key-pair` writes one.
	priv, pub, _ := sign.GenerateKeyPair(nil)
	_ = os.WriteFile(filepath.Join(work, "cosign.key"), priv, 0o600)
	_ = os.WriteFile(filepath.Join(work, "cosign.pub"), pub, 0o644)
	signer, err := sign.LoadSigner(ctx, filepath.Join(work, "cosign.key"), nil)
	if err != nil {
		panic(err)
	}

	ref, _ := publish.ParseRef("oci:" + filepath.Join(work, "layout") + ":main")
	epoch := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	res, err := statepack.Publish(ctx, filepath.Join(tree, "production"), ref, statepack.PublishOptions{
		Load:    statepack.LoadOptions{Root: tree},
		Signer:  signer,
		Attest:  true,
		Context: statepack.BuildContext{Version: "example", SourceDateEpoch: &epoch},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Digest, res.Tags, res.Objects, "objects")

	v, err := statepack.NewVerifier(ctx, statepack.Policy{Keys: []string{filepath.Join(work, "cosign.pub")}, Attestations: statepack.AttestationTypes})
	if err != nil {
		panic(err)
	}
	if _, err := statepack.Verify(ctx, ref, v, statepack.ReadOptions{}); err != nil {
		panic(err)
	}
	fmt.Println("signature and attestations verified")
	// Output:
	// sha256:ef25efe49ca7b1fb3f2b3ba955fccb00a3d1fc9ea94ae3092de4fc2a6a8584ae [main] 4 objects
	// signature and attestations verified
}
