package publish

import (
	"context"
	"fmt"
	"slices"

	"oras.land/oras-go/v2/registry"
)

// Tags lists the tags of the target's repository, sorted, following the registry's pagination. Failures are
// wrapped as the other Target methods wrap them: ErrNotFound for a repository the registry does not know,
// ErrUnauthorized with the hint to log in.
func (t *Target) Tags(ctx context.Context) ([]string, error) {
	lister, ok := t.storage.(registry.TagLister)
	if !ok {
		return nil, fmt.Errorf("listing the tags of %s: the target cannot list tags", t.ref.Name())
	}
	tags, err := registry.Tags(ctx, lister)
	if err != nil {
		return nil, t.wrap(err, "listing the tags of %s", t.ref.Name())
	}
	slices.Sort(tags)
	return tags, nil
}
