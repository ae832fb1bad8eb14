// Package objdiff compares two sets of Kubernetes objects by identity, the way an agent applying them sees the
// difference: objects are matched by group, kind, namespace and name, and each object that differs is shown as a
// unified diff of its canonical YAML, so that the order of objects and files and the formatting of the source do not
// show as changes.
//
// It is for showing people what changed between two desired states (statepack diff); the hunks are for reading, not
// for patching. It does not read archives (publish.ReadArchive does) nor decode YAML: callers give each
// object's canonical serialisation (build.Object.YAML), so that both sides were written by the same encoder, and it
// knows nothing of registries. The values of Secrets never show: they are masked before diffing, as kubectl diff
// masks them, so that a diff can go into logs, pull-request comments and job summaries.
package objdiff

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"

	"github.com/statepack/statepack/internal/manifest"
)

// ID identifies an object as Kubernetes does: build's object identity, so that the objects of a render and of an
// artifact compare without conversion.
type ID = manifest.ObjectID

func compareIDs(a, b ID) int {
	return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Group, b.Group),
		cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}

// Object is one side's version of an object.
type Object struct {
	ID ID
	// YAML is the object's canonical serialisation; objects are equal when these bytes are.
	YAML []byte
}

// Status says how an object differs.
type Status string

// The statuses of an Entry.
const (
	Added   Status = "added"   // only in "to"
	Removed Status = "removed" // only in "from"
	Changed Status = "changed" // in both, with different YAML
)

// Entry is one object that differs.
type Entry struct {
	Status Status
	ID     ID
	// Occurrence tells apart objects that share an ID on one side (a source that defines an object twice): 0 for
	// the first, 1 for the second, and so on. Occurrences are matched in order.
	Occurrence int
	// Diff is the unified diff from the "from" YAML to the "to" YAML, with headers "--- a/ID" and "+++ b/ID"
	// ("/dev/null" for the side the object is missing from). For a core-group Secret, each value under data and
	// stringData is replaced by Sensitive first (see Compare).
	Diff string
}

// Name is the ID as a string, with "#N" appended for the second and later occurrences of an ID.
func (e Entry) Name() string {
	if e.Occurrence > 0 {
		return fmt.Sprintf("%s#%d", e.ID, e.Occurrence+1)
	}
	return e.ID.String()
}

// Report is the outcome of Compare.
type Report struct {
	// Entries are the objects that differ, sorted by kind, group, namespace and name.
	Entries []Entry
	// Unchanged counts the objects that are the same on both sides.
	Unchanged int
	// From and To count the objects on each side.
	From, To int
}

// Equal reports whether no object differs.
func (r *Report) Equal() bool { return len(r.Entries) == 0 }

// Count returns how many entries have status s.
func (r *Report) Count(s Status) int {
	n := 0
	for _, e := range r.Entries {
		if e.Status == s {
			n++
		}
	}
	return n
}

// Option configures Compare.
type Option func(*options) error

type options struct {
	context int
}

// WithContext sets the number of unchanged lines shown around each change. Default: 3, as diff -u.
func WithContext(lines int) Option {
	return func(o *options) error {
		if lines < 0 {
			return fmt.Errorf("the number of context lines must not be negative, got %d", lines)
		}
		o.context = lines
		return nil
	}
}

type key struct {
	id         ID
	occurrence int
}

// Compare matches the objects of from and to by ID and returns those that differ, each with its unified diff. The
// order of either slice does not matter.
//
// Secrets (kind Secret in the core group) are compared by their bytes, but diffed with every value under data and
// stringData replaced, as kubectl diff does: "***" for a value that is the same on both sides or only on one,
// "*** (before)" and "*** (after)" for one that changed. The keys stay, so the diff shows which changed.
func Compare(from, to []Object, opts ...Option) (*Report, error) {
	o := options{context: 3}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	index := func(objs []Object) map[key][]byte {
		m := make(map[key][]byte, len(objs))
		seen := make(map[ID]int, len(objs))
		for _, obj := range objs {
			k := key{obj.ID, seen[obj.ID]}
			seen[obj.ID]++
			m[k] = obj.YAML
		}
		return m
	}
	a, b := index(from), index(to)
	r := &Report{From: len(from), To: len(to)}
	for k, ya := range a {
		yb, ok := b[k]
		switch {
		case !ok:
			from, _ := shown(k.id, ya, nil)
			r.Entries = append(r.Entries, Entry{Status: Removed, ID: k.id, Occurrence: k.occurrence,
				Diff: Unified(from, "", "a/"+name(k), "/dev/null", o.context)})
		case bytes.Equal(ya, yb):
			r.Unchanged++
		default:
			from, to := shown(k.id, ya, yb)
			r.Entries = append(r.Entries, Entry{Status: Changed, ID: k.id, Occurrence: k.occurrence,
				Diff: Unified(from, to, "a/"+name(k), "b/"+name(k), o.context)})
		}
	}
	for k, yb := range b {
		if _, ok := a[k]; !ok {
			_, to := shown(k.id, nil, yb)
			r.Entries = append(r.Entries, Entry{Status: Added, ID: k.id, Occurrence: k.occurrence,
				Diff: Unified("", to, "/dev/null", "b/"+name(k), o.context)})
		}
	}
	slices.SortFunc(r.Entries, func(x, y Entry) int {
		return cmp.Or(compareIDs(x.ID, y.ID), cmp.Compare(x.Occurrence, y.Occurrence))
	})
	return r, nil
}

// shown returns the texts to diff for the two versions of an object (nil for a side it is missing from): the YAML
// as given, or with the values masked for a Secret.
func shown(id ID, from, to []byte) (string, string) {
	if isSecret(id) {
		return maskSecrets(from, to)
	}
	return string(from), string(to)
}

func name(k key) string { return Entry{ID: k.id, Occurrence: k.occurrence}.Name() }
