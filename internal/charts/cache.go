package charts

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// cache is a content-addressed store on disk: blobs/sha256/<hex> holds bytes whose sha256 is <hex> (chart
// archives, and OCI manifests, which tie a pinned manifest digest to its chart layer). Nothing else is stored, so
// a cache entry can be trusted only as far as its bytes hash to its name, and that is checked on every read: a
// corrupted or tampered file is a miss, removed and fetched again.
type cache struct{ dir string }

func digestOf(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// path is the file for a digest; digests are checked against digestPattern first (they come from lock files and
// registries), so no name can leave the directory.
func (c *cache) path(digest string) (string, bool) {
	if c == nil || !digestPattern.MatchString(digest) {
		return "", false
	}
	return filepath.Join(c.dir, "blobs", "sha256", strings.TrimPrefix(digest, "sha256:")), true
}

// get returns the bytes stored under digest when they hash to it.
func (c *cache) get(digest string) ([]byte, bool) {
	p, ok := c.path(digest)
	if !ok {
		return nil, false
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, false
	}
	if digestOf(data) != digest {
		_ = os.Remove(p)
		return nil, false
	}
	return data, true
}

// put stores data under its digest, atomically (a temporary file renamed), so that a concurrent reader or a
// killed process never leaves a partial entry under a digest's name.
func (c *cache) put(data []byte) error {
	p, ok := c.path(digestOf(data))
	if !ok {
		return nil
	}
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("writing the chart cache %s: %w", c.dir, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return fmt.Errorf("writing the chart cache %s: %w", c.dir, err)
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("writing the chart cache %s: %w", c.dir, err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil && !errors.Is(err, fs.ErrExist) {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("writing the chart cache %s: %w", c.dir, err)
	}
	return nil
}
