package statepack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/objdiff"
	"github.com/statepack/statepack/publish"
)

// DiffSide is one side of a comparison: a rendered tree or a published artifact, as objects.
type DiffSide struct {
	// Label names the side in a report: the tree's path, or the artifact's reference with its digest.
	Label    string `json:"-"`
	Ref      string `json:"ref,omitempty"`
	Digest   string `json:"digest,omitempty"`
	Path     string `json:"path,omitempty"`
	Objects  int    `json:"objects"`
	Verified bool   `json:"verified,omitempty"`
	objects  []objdiff.Object
}

// DiffReport is the object-level difference between two sides.
type DiffReport = objdiff.Report

// TreeSide is a loaded tree as the new side of a comparison: its objects, and what the Helm releases it keeps
// (HelmPin) render, so that a chart or values change shows object by object (ReadOptions.Helm does the same for
// an artifact).
func TreeSide(s *Source) *DiffSide {
	objs := s.Rendering.Objects
	for _, c := range s.Charts {
		if !c.Hydrated {
			objs = append(slices.Clone(objs), c.Objects...)
		}
	}
	return &DiffSide{Label: s.Path, Path: s.Path, Objects: len(s.Rendering.Objects), objects: diffObjects(objs)}
}

// UnpublishedSide is the side of an artifact that does not exist yet: no objects.
func UnpublishedSide(ref publish.Ref) *DiffSide {
	return &DiffSide{Label: ref.String() + " (not published yet)", Ref: ref.String()}
}

// Compare compares two sides object by object, with context lines of context around each change.
func Compare(from, to *DiffSide, context int) (*DiffReport, error) {
	rep, err := objdiff.Compare(from.objects, to.objects, objdiff.WithContext(context))
	if err != nil {
		return nil, invalidf("%w", err)
	}
	return rep, nil
}

// LoadTreeSide renders and validates a tree as Publish does, for a comparison. Validation findings do not stop the
// comparison, they come back in the source; a tree whose render has errors is refused, since its objects are
// incomplete.
func LoadTreeSide(ctx context.Context, path string, o LoadOptions) (*DiffSide, *Source, error) {
	s, err := Load(ctx, path, o)
	if err != nil {
		return nil, nil, err
	}
	if s.Rendering.Findings.HasErrors() {
		errs, _ := s.Rendering.Findings.Count()
		return nil, s, fmt.Errorf("%s does not render (%d error(s), listed above): nothing was compared", path, errs)
	}
	return TreeSide(s), s, nil
}

// LoadArtifactSide reads the objects of the artifact ref names (a tag or a digest), verified first when v is not
// nil. With missingOK, an artifact that does not exist yet (no layout, repository or tag) gives nil and no error.
func LoadArtifactSide(ctx context.Context, ref publish.Ref, v *Verifier, missingOK bool, o ReadOptions) (*DiffSide, error) {
	log := logger(o.Logger)
	t, desc, err := o.openResolved(ctx, ref)
	if missingOK && errors.Is(err, publish.ErrNotFound) {
		log.Debug("not published yet", "ref", ref.String())
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return readArtifactSide(ctx, log, t, ref, desc, v, o.Helm)
}

// Changes is what publishing a tree changes, object by object, against the artifact its tag named before, as diff
// compares them: what a job summary shows.
type Changes struct {
	// Since is the tag compared with: the tag in the reference, else the first of the tags.
	Since string `json:"since"`
	// Previous is the digest the tag named before; empty on a first publish.
	Previous string `json:"previous,omitempty"`
	// FirstPublish is set when the tag did not exist yet.
	FirstPublish bool `json:"firstPublish,omitempty"`
	Added        int  `json:"added"`
	Removed      int  `json:"removed"`
	Changed      int  `json:"changed"`
	Unchanged    int  `json:"unchanged"`
	// Error says what kept the comparison from finishing; a publish goes on without it.
	Error string `json:"error,omitempty"`
	// Report is the comparison itself, nil when there was none.
	Report *DiffReport `json:"-"`
}

// ChangesSince compares the objects of s, a tree about to be published to ref, with the artifact the tag names (the
// tag in ref, else the first of tags). It never fails: what kept it from comparing is logged and recorded in
// Error. nil when the publish writes no tag.
func ChangesSince(ctx context.Context, ref publish.Ref, tags []string, s *Source, o ReadOptions) *Changes {
	if ref.Tag == "" {
		if len(tags) == 0 {
			return nil
		}
		ref.Tag = tags[0]
	}
	ch := &Changes{Since: ref.Tag}
	if len(s.Charts) > 0 {
		o.Helm = &s.opts.Helm // the tree side holds what its releases render: so does the artifact's
	}
	prev, err := LoadArtifactSide(ctx, ref, nil, true, o)
	if err == nil && prev == nil {
		ch.FirstPublish = true
		return ch
	}
	var rep *DiffReport
	if err == nil {
		rep, err = Compare(prev, TreeSide(s), 3)
	}
	if err != nil {
		logger(o.Logger).Warn("comparing with the artifact published before: the summary will not show what changed", "ref", ref.String(), "error", err)
		ch.Error = err.Error()
		return ch
	}
	ch.Previous, ch.Report = prev.Digest, rep
	ch.Added, ch.Removed, ch.Changed, ch.Unchanged = rep.Count(objdiff.Added), rep.Count(objdiff.Removed), rep.Count(objdiff.Changed), rep.Unchanged
	return ch
}

// readArtifactSide reads the objects of the manifest desc, which ref resolved to in t: every .yaml, .yml and .json
// file of layer 0, decoded and serialised by the code that renders a tree, so that both sides are written alike.
func readArtifactSide(ctx context.Context, log *slog.Logger, t *publish.Target, ref publish.Ref, desc ocispec.Descriptor, v *Verifier, helm *HelmOptions) (*DiffSide, error) {
	full := ref.WithDigest(desc.Digest.String())
	side := &DiffSide{Label: full, Ref: full, Digest: desc.Digest.String()}
	if v != nil {
		if _, _, err := v.Check(ctx, log, t.Storage(), desc); err != nil {
			return nil, fmt.Errorf("verifying %s before reading it: %w", full, err)
		}
		log.Info("signature verified", "ref", full)
		side.Verified = true
	}
	m, _, err := t.FetchManifest(ctx, desc)
	if err != nil {
		return nil, err
	}
	layer, err := ContentLayer(m, full)
	if err != nil {
		return nil, err
	}
	if layer.Size > maxDiffLayer {
		return nil, fmt.Errorf("reading %s: %w: layer 0 is %d bytes, more than the %d diff reads", full, publish.ErrTooLarge, layer.Size, maxDiffLayer)
	}
	rc, err := t.FetchBlob(ctx, layer)
	if err != nil {
		return nil, err
	}
	blob, err := io.ReadAll(io.LimitReader(rc, layer.Size+1)) // to the end: the reader verifies the digest there
	rc.Close()
	if err != nil {
		return nil, err
	}
	objs, err := readLayerObjects(ctx, log, blob)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", full, err)
	}
	side.Objects = len(objs)
	if helm != nil && helm.mode() == HelmPin {
		objs = artifactCharts(ctx, log, full, objs, *helm)
	}
	side.objects = diffObjects(objs)
	return side, nil
}

// artifactCharts adds to an artifact's objects what the Helm releases among them render from the exact charts they
// name (the artifact's own pins; no lock file is read). A release that cannot be rendered (a chart directory of the
// source tree, a repository out of reach) is compared as the object it is, and logged.
func artifactCharts(ctx context.Context, log *slog.Logger, ref string, objs []build.Object, o HelmOptions) []build.Object {
	o.ignoreLock = true
	s := &Source{Rendering: &build.Rendering{Objects: slices.Clone(objs)}, opts: LoadOptions{Helm: o}}
	s.helmStage(ctx)
	for _, f := range s.Rendering.Findings {
		if f.Severity == build.SeverityError {
			log.Warn("a Helm release of the artifact is compared as written, not by what it renders", "ref", ref, "release", f.Object, "reason", f.Message)
		}
	}
	out := objs // the artifact's objects as published: pinning them here would hide a floating reference
	for _, c := range s.Charts {
		out = append(slices.Clone(out), c.Objects...)
	}
	return out
}

// maxDiffLayer bounds the compressed layer diff holds in memory.
const maxDiffLayer = 512 << 20

// maxDiffManifests bounds the uncompressed manifests diff decodes: decoded objects take several times their YAML in
// memory (900 MiB of YAML took 6.2 GB), and a layer of a few MB can hold that much. 128 MiB is some 25 times the
// YAML of a 5,000-object tree.
const maxDiffManifests = 128 << 20

// isKustomizationName says whether kustomize would take a file of this name as a kustomization.
func isKustomizationName(name string) bool {
	base := path.Base(name)
	return base == "kustomization.yaml" || base == "kustomization.yml" || base == "Kustomization"
}

// readLayerObjects decodes the manifests of a layer. An artifact is data: its files are decoded as objects and
// never built, so a kustomization in it is left out (with a warning), never run — it could name remote bases, and
// what it fetched would reach the report. Writing an artifact's files to disk one by one is what costs most on
// many file systems (a file per object), so it first reads the archive in memory and hands build's decoder all
// YAML files as one stream and all JSON files as another, which decodes to the same objects as reading them one by
// one. It falls back to extracting the files and reading the directory, which names the archive's own files in
// errors, whenever the shortcut would not be exactly that: files that do not decode.
func readLayerObjects(ctx context.Context, log *slog.Logger, blob []byte) ([]build.Object, error) {
	limits := publish.Limits{MaxTotal: maxDiffManifests}
	files, err := publish.ReadArchive(bytes.NewReader(blob), limits)
	if errors.Is(err, publish.ErrTooLarge) {
		return nil, fmt.Errorf("%w (diff decodes at most %d MiB of manifests: their objects take several times that in memory)", err, maxDiffManifests>>20)
	}
	if err == nil {
		for _, f := range files {
			if isKustomizationName(f.Name) {
				log.Warn("the artifact holds a kustomization: diff reads an artifact's files as objects and never builds them", "file", f.Name)
			}
		}
		objs, ok, err := decodeBatched(ctx, files)
		if err != nil || ok {
			return objs, err
		}
	}
	log.Debug("reading the artifact file by file", "reason", err)
	tmp, err := os.MkdirTemp("", "statepack-diff-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "artifact")
	if _, err := publish.Extract(bytes.NewReader(blob), dir, limits); err != nil {
		return nil, err
	}
	// The extracted kustomizations go, so that reading the directory cannot build one.
	if err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && isKustomizationName(p) {
			return os.Remove(p)
		}
		return err
	}); err != nil {
		return nil, err
	}
	r, err := build.Render(ctx, dir, build.WithRoot(dir))
	if err != nil {
		return nil, err
	}
	if r.Findings.HasErrors() {
		var msgs []string
		for _, f := range r.Findings {
			if f.Severity == build.SeverityError {
				msgs = append(msgs, f.String())
			}
		}
		return nil, fmt.Errorf("its files do not decode:\n  %s", strings.Join(msgs, "\n  "))
	}
	return r.Objects, nil
}

// decodeBatched decodes the manifest files of an archive as two streams; ok is false when the result would not be
// what reading the extracted files gives (see readLayerObjects). Kustomizations are left out.
func decodeBatched(ctx context.Context, files []publish.File) (objs []build.Object, ok bool, err error) {
	tmp, err := os.MkdirTemp("", "statepack-diff-")
	if err != nil {
		return nil, false, err
	}
	defer os.RemoveAll(tmp)
	bom := []byte("\xef\xbb\xbf")
	var yamlStream, jsonStream bytes.Buffer
	largest := int64(0)
	for i, f := range files {
		if slices.ContainsFunc(strings.Split(f.Name, "/"), func(e string) bool { return strings.HasPrefix(e, ".") }) {
			continue // hidden, as Render skips them
		}
		if isKustomizationName(f.Name) {
			continue
		}
		ext := strings.ToLower(path.Ext(f.Name))
		switch {
		case ext == ".json":
			// JSON values are decoded one by one wherever they stand in a stream.
			jsonStream.Write(bytes.TrimPrefix(f.Data, bom))
			jsonStream.WriteByte('\n')
		case ext != ".yaml" && ext != ".yml":
		case bytes.IndexByte(f.Data, '&') < 0 && (len(f.Data) == 0 || f.Data[len(f.Data)-1] == '\n'):
			// A file becomes documents of its own after a document marker, its byte-order mark dropped (the decoder
			// drops one only at the start of a stream). Files that could define an anchor (a later file's alias
			// would see it) or that end without a line end (a block scalar there would gain one) stay apart.
			yamlStream.WriteString("---\n")
			yamlStream.Write(bytes.TrimPrefix(f.Data, bom))
		default:
			largest = max(largest, int64(len(f.Data)))
			if err := os.WriteFile(filepath.Join(tmp, fmt.Sprintf("file-%06d%s", i, ext)), f.Data, 0o600); err != nil {
				return nil, false, err
			}
		}
	}
	for name, data := range map[string][]byte{"objects.yaml": yamlStream.Bytes(), "objects.json": jsonStream.Bytes()} {
		largest = max(largest, int64(len(data)))
		if len(data) > 0 {
			if err := os.WriteFile(filepath.Join(tmp, name), data, 0o600); err != nil {
				return nil, false, err
			}
		}
	}
	r, err := build.Render(ctx, tmp, build.WithRoot(tmp), build.WithMaxFileSize(max(largest, build.DefaultMaxFileSize)))
	if err != nil {
		return nil, false, err
	}
	if r.Findings.HasErrors() {
		return nil, false, nil
	}
	return r.Objects, true, nil
}

func diffObjects(objs []build.Object) []objdiff.Object {
	out := make([]objdiff.Object, len(objs))
	for i, obj := range objs {
		out[i] = objdiff.Object{ID: obj.ID, YAML: obj.YAML}
	}
	return out
}
