package build

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Input is one input of a render with the digest of its content. A directory (path ending in "/") is digested
// by the names the plain-YAML reader considers in it; a symlink kustomize followed (path ending in "@") by its
// target.
type Input struct {
	Path   string `json:"path"`
	Digest string `json:"digest"`
}

// HashInputs digests the inputs of a render as they are on disk now, under root. A file that is gone gets the
// digest "missing", so that it differs from any earlier digest.
func HashInputs(root string, paths []string) ([]Input, error) {
	out := make([]Input, 0, len(paths))
	for _, p := range paths {
		if strings.HasPrefix(p, "/") || slices.Contains(strings.Split(p, "/"), "..") {
			return nil, fmt.Errorf("%w: input %q is not a path under the source root", ErrInvalidInput, p)
		}
		abs := filepath.Join(root, filepath.FromSlash(strings.TrimSuffix(strings.TrimSuffix(p, "/"), "@")))
		var d string
		var err error
		switch {
		case strings.HasSuffix(p, "@"):
			var target string
			if target, err = os.Readlink(abs); err == nil {
				sum := sha256.Sum256([]byte(target))
				d = "sha256:" + hex.EncodeToString(sum[:])
			}
		case strings.HasSuffix(p, "/"):
			d, err = digestListing(abs)
		default:
			d, err = digestFile(abs)
		}
		if os.IsNotExist(err) {
			d, err = "missing", nil
		}
		if err != nil {
			return nil, fmt.Errorf("hashing input %s: %w", p, err)
		}
		out = append(out, Input{Path: p, Digest: d})
	}
	return out, nil
}

// InputsDigest combines inputs and a description of everything else that shapes the artifact (options, tool
// version) into one digest.
func InputsDigest(inputs []Input, settings string) string {
	h := sha256.New()
	fmt.Fprintf(h, "statepack inputs v1\n%s\n", settings)
	for _, in := range inputs {
		fmt.Fprintf(h, "%s\t%s\n", in.Path, in.Digest)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

func digestFile(path string) (string, error) {
	f, _, err := openRegular(path) // a pipe swapped in since the render must not hang the digest
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// digestListing digests the entries of dir that plain mode reads: manifest files and directories, not hidden.
func digestListing(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || (!e.IsDir() && !isManifestFile(e.Name()) && !slices.Contains(kustomizationFiles, e.Name())) {
			continue
		}
		fmt.Fprintf(h, "%s\t%v\n", e.Name(), e.IsDir())
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}
