package build

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Media types of format v1.
const (
	// LayerMediaType is the default layer type: Argo CD's default allow-list accepts it and Flux takes layers[0].
	LayerMediaType = ocispec.MediaTypeImageLayerGzip
	// FluxLayerMediaType is Flux's own content type, selectable for Flux-only fleets.
	FluxLayerMediaType = "application/vnd.cncf.flux.content.v1.tar+gzip"
	// ConfigMediaType is the config type `flux push artifact` writes; it is never Helm's.
	ConfigMediaType = "application/vnd.cncf.flux.config.v1+json"
)

// Annotation keys statepack writes on the manifest.
const (
	// AnnotationInputs is the digest of everything the render read plus the settings (see InputsDigest); an
	// incremental publish compares it to skip unchanged targets.
	AnnotationInputs = "dev.statepack.inputs.digest"
	// AnnotationSequence orders the artifacts of one source: the committer time of the commit they were made from,
	// in seconds since the Unix epoch, a decimal integer. `statepack verify --not-older-than` refuses an artifact
	// whose sequence is lower than a reference artifact's: a tag moved back to older, validly signed content.
	AnnotationSequence = "dev.statepack.sequence"
	AnnotationSource   = ocispec.AnnotationSource
	AnnotationRevision = ocispec.AnnotationRevision
	AnnotationCreated  = ocispec.AnnotationCreated
)

// Bundle is a packaged artifact: the bytes of its layer, config and manifest, ready to push.
type Bundle struct {
	Manifest, Config, Layer                               []byte
	ManifestDescriptor, ConfigDescriptor, LayerDescriptor ocispec.Descriptor
	// Files lists the archive's entries in archive order.
	Files []File
	// Annotations are the manifest's annotations.
	Annotations map[string]string
}

// File is one entry of the archive: one object.
type File struct {
	Name   string        `json:"name"`
	Object ObjectID      `json:"object"`
	Digest digest.Digest `json:"digest"`
}

// PackageOption configures Package.
type PackageOption func(*packageOptions) error

type packageOptions struct {
	layerMediaType string
	annotations    map[string]string
	inputs         []Input
}

// WithLayerMediaType sets the layer media type: LayerMediaType (the default) or FluxLayerMediaType.
func WithLayerMediaType(mt string) PackageOption {
	return func(o *packageOptions) error {
		if mt != LayerMediaType && mt != FluxLayerMediaType {
			return fmt.Errorf("layer media type %q is not supported: use %s (default, Flux and Argo CD) or %s (Flux only)",
				mt, LayerMediaType, FluxLayerMediaType)
		}
		o.layerMediaType = mt
		return nil
	}
}

// WithAnnotations adds manifest annotations (later calls override earlier keys). The created annotation, when
// given, must be RFC 3339 in UTC: the caller decides the time, never the wall clock.
func WithAnnotations(a map[string]string) PackageOption {
	return func(o *packageOptions) error {
		for k := range a {
			if k == "" {
				return fmt.Errorf("annotation keys must not be empty")
			}
		}
		if c, ok := a[AnnotationCreated]; ok {
			t, err := time.Parse(time.RFC3339, c)
			if err != nil || t.Location() != time.UTC {
				return fmt.Errorf("annotation %s=%q must be an RFC 3339 time in UTC", AnnotationCreated, c)
			}
		}
		maps.Copy(o.annotations, a)
		return nil
	}
}

// WithInputs records what the render read: the list goes into the config blob (which Flux and Argo CD do not
// read) and their combined digest into the AnnotationInputs annotation. Default: config "{}" and no annotation.
func WithInputs(inputs []Input, digest string) PackageOption {
	return func(o *packageOptions) error {
		if !strings.HasPrefix(digest, "sha256:") {
			return fmt.Errorf("inputs digest %q is not sha256:…", digest)
		}
		o.inputs = inputs
		o.annotations[AnnotationInputs] = digest
		return nil
	}
}

// ConfigInputs reads the inputs a config blob records (nil for an artifact without them).
func ConfigInputs(config []byte) ([]Input, error) {
	var c artifactConfig
	if err := json.Unmarshal(config, &c); err != nil {
		return nil, fmt.Errorf("decoding the artifact config: %w", err)
	}
	return c.Inputs, nil
}

// artifactConfig is the config blob: empty, or the inputs of the render.
type artifactConfig struct {
	Inputs []Input `json:"inputs,omitempty"`
}

// Package writes objs as a format-v1 artifact: a flat gzip'd tar with one YAML file per object, named from kind,
// group, namespace and name; a config blob; and an image manifest. The result depends only on the objects and the
// options: entries are sorted, modes fixed, owners and times zeroed, and the gzip header carries no name or time.
func Package(objs []Object, opts ...PackageOption) (*Bundle, error) {
	o := packageOptions{layerMediaType: LayerMediaType, annotations: map[string]string{}}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("%w: the source tree rendered no objects: an empty artifact would delete everything an agent applied before", ErrInvalidInput)
	}
	names := fileNames(objs)
	files := make([]File, len(objs))
	byName := make(map[string]*Object, len(objs))
	for i := range objs {
		sum := sha256.Sum256(objs[i].YAML)
		files[i] = File{Name: names[i], Object: objs[i].ID, Digest: digest.NewDigestFromBytes(digest.SHA256, sum[:])}
		byName[names[i]] = &objs[i]
	}
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Name, b.Name) })
	for i := 1; i < len(files); i++ {
		if files[i].Name == files[i-1].Name {
			return nil, fmt.Errorf("%w: %s is defined twice", ErrInvalidInput, files[i].Object)
		}
	}

	layer, err := archive(files, byName)
	if err != nil {
		return nil, err
	}
	config, err := json.Marshal(artifactConfig{Inputs: o.inputs})
	if err != nil {
		return nil, err
	}
	b := &Bundle{Layer: layer, Config: config, Files: files, Annotations: o.annotations}
	b.LayerDescriptor = ocispec.Descriptor{MediaType: o.layerMediaType, Digest: digest.FromBytes(b.Layer), Size: int64(len(b.Layer))}
	b.ConfigDescriptor = ocispec.Descriptor{MediaType: ConfigMediaType, Digest: digest.FromBytes(b.Config), Size: int64(len(b.Config))}
	m := ocispec.Manifest{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		MediaType:   ocispec.MediaTypeImageManifest,
		Config:      b.ConfigDescriptor,
		Layers:      []ocispec.Descriptor{b.LayerDescriptor},
		Annotations: o.annotations,
	}
	if len(m.Annotations) == 0 {
		m.Annotations = nil
	}
	// encoding/json writes map keys sorted, so the manifest bytes are stable.
	b.Manifest, err = json.Marshal(m)
	if err != nil {
		return nil, err
	}
	b.ManifestDescriptor = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest,
		Digest: digest.FromBytes(b.Manifest), Size: int64(len(b.Manifest))}
	return b, nil
}

// archive writes the reproducible tar+gzip layer.
func archive(files []File, byName map[string]*Object) ([]byte, error) {
	var buf bytes.Buffer
	gz, err := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	// The gzip header keeps its zero values: no name, no modification time, OS "unknown".
	tw := tar.NewWriter(gz)
	epoch := time.Unix(0, 0).UTC()
	for _, f := range files {
		data := byName[f.Name].YAML
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     f.Name,
			Size:     int64(len(data)),
			Mode:     0o644,
			ModTime:  epoch,
			Format:   tar.FormatPAX,
		}
		if len(f.Name) < 100 {
			hdr.Format = tar.FormatUSTAR
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("archiving %s: %w", f.Name, err)
		}
		if _, err := tw.Write(data); err != nil {
			return nil, fmt.Errorf("archiving %s: %w", f.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// unsafeChars are replaced in file names; what is left is portable on every file system.
var unsafeChars = regexp.MustCompile(`[^a-z0-9.-]+`)

// fileNames names each object's file "<kind>[.<group>]_[<namespace>_]<name>.yaml", lower case, with characters
// outside [a-z0-9.-] replaced by "-". When two objects would get the same name (names that differ only in case or
// in replaced characters), each of them gets a suffix from a hash of its full identity, so the result does not
// depend on the order of objs.
func fileNames(objs []Object) []string {
	base := make([]string, len(objs))
	count := map[string]int{}
	for i, o := range objs {
		kind := strings.ToLower(o.ID.Kind)
		if o.ID.Group != "" {
			kind += "." + strings.ToLower(o.ID.Group)
		}
		parts := []string{sanitize(kind)}
		if o.ID.Namespace != "" {
			parts = append(parts, sanitize(o.ID.Namespace))
		}
		name := o.ID.Name
		if name == "" { // a hook named by metadata.generateName, which the server completes
			name = generateName(o)
		}
		parts = append(parts, sanitize(name))
		base[i] = strings.Join(parts, "_")
		count[base[i]]++
	}
	names := make([]string, len(objs))
	for i, o := range objs {
		if count[base[i]] > 1 {
			id := o.ID.Group + "\x00" + o.ID.Kind + "\x00" + o.ID.Namespace + "\x00" + o.ID.Name + "\x00" + o.APIVersion
			if o.ID.Name == "" {
				id += "\x00" + string(o.YAML) // hooks of one generateName differ by content only
			}
			sum := sha256.Sum256([]byte(id))
			base[i] += "-" + hex.EncodeToString(sum[:4])
		}
		names[i] = base[i] + ".yaml"
	}
	return names
}

// generateName is an object's metadata.generateName, "" when it has none.
func generateName(o Object) string {
	meta, _ := o.Content["metadata"].(map[string]any)
	name, _ := meta["generateName"].(string)
	return name
}

func sanitize(s string) string {
	s = unsafeChars.ReplaceAllString(strings.ToLower(s), "-")
	if s == "" || s == "." || s == ".." {
		return "-"
	}
	return s
}
