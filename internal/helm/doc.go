// Package helm loads Helm charts and renders them in-process with the Helm SDK (helm.sh/helm/v4), as
// `helm template` and Flux's helm-controller render them, with no helm binary, no cluster and no network.
//
// # Where it sits
//
// docs/architecture.md puts a stage that changes what a tree becomes (charts rendered) in Load/Publish of the
// root package, and the network access of such a stage in a package of its own (the pin stage), so that build
// renders offline from what was fetched. This package is the offline half: it reads a chart directory or the
// bytes of a chart archive that someone else fetched and checked, and renders it. It does no I/O but reading the
// directory it is given, imports no statepack package, and so can be reached from build (a chart directory in a
// tree) as well as from the root package (a chart the pin stage fetched). It is internal because its types wrap
// the SDK's, which has no stability promise across minor versions; what statepack promises is the options that
// name a chart and its values in LoadOptions, not this API.
//
// Fetching (an HTTP repository's index.yaml, a semver range resolved against it, the archive's digest checked
// against the index; an OCI chart pulled by digest) belongs to the pin stage, which hands LoadArchive the bytes.
//
// # What it guards against
//
// A chart is code from someone else. Archives are read entry by entry with limits on entries, sizes and nesting,
// refusing links, absolute names and "..", and the SDK's archive reader (process-wide limits, per archive) is not
// used; chart directories are read through an os.Root. Rendering has a deadline and an output limit, Sprig's
// allocating functions are bounded, lookup finds nothing, DNS and the environment are out of reach, and
// values.schema.json cannot make the SDK read a file or a URL (see Render for what a deadline cannot stop).
package helm
