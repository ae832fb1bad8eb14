package build

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// CustomResourceDefinitions reads the CustomResourceDefinition documents of every YAML and JSON file under dir,
// recursively, in lexical order, without building anything: a directory of CRDs is often a kustomization that
// installs a controller too (Flux's manifests/, say), and only its CRDs matter for validation. Kustomization files,
// hidden directories and documents of other kinds, or that are not objects, are skipped; a file is read only when
// it is a regular file of at most limit bytes (0 means DefaultMaxFileSize). A file that cannot be read or parsed is
// an error naming it, and so is a directory that holds no CRD at all when required.
func CustomResourceDefinitions(ctx context.Context, dir string, limit int64, required bool) ([]Object, error) {
	if limit <= 0 {
		limit = DefaultMaxFileSize
	}
	switch st, err := os.Stat(dir); {
	case errors.Is(err, fs.ErrNotExist):
		return nil, errors.New("does not exist")
	case err != nil:
		return nil, err
	case !st.IsDir():
		return nil, errors.New("is not a directory")
	}
	var crds []Object
	var errs []error
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case ctx.Err() != nil:
			return ctx.Err()
		case d.IsDir():
			if p != dir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		case !isManifestFile(d.Name()) || slices.Contains(kustomizationFiles, d.Name()):
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		data, err := readLimited(p, limit)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", rel, err))
			return nil
		}
		objs, findings := decodeStream(rel, data)
		for _, f := range findings {
			if f.Rule != "object/not-a-mapping" && f.Rule != "object/not-an-object" { // no object, no CRD either
				errs = append(errs, errors.New(f.String()))
			}
		}
		for _, o := range objs {
			if o.ID.Kind == "CustomResourceDefinition" && o.ID.Group == "apiextensions.k8s.io" {
				crds = append(crds, o)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if required && len(crds) == 0 {
		return nil, errors.New("holds no CustomResourceDefinition in its YAML or JSON files")
	}
	return crds, nil
}
