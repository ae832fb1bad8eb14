package main

// edit replaces the one occurrence of old in file (a slash path below the module's root, as upstream has it) with
// new; an edit whose old is empty adds file, which upstream does not have. Edits keep kustomize's output and errors
// byte for byte: they change how often a build reads a resource's id (kind, name, namespace from its YAML), which
// kustomize does for every resource already in a map each time it adds, checks or looks up one — quadratic in the
// number of resources, and 60 % of a 2,000-object build's CPU. Every edit keeps the order in which resources are
// visited and the first error reported.
type edit struct {
	file, why, old, new string
}

var edits = []edit{
	{file: "resmap/idindex.go", why: "ids compared by key", new: `// Copyright 2019 The Kubernetes Authors.
// SPDX-License-Identifier: Apache-2.0

package resmap

import (
	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/kyaml/resid"
)

// IdKey is what resid.ResId.Equals compares: two ids are Equal exactly when their keys are equal, so a set of
// keys answers "is an Equal id present" without comparing with every id.
type IdKey struct {
	group, version, kind, name, namespace string
}

// KeyOf returns the key of id.
func KeyOf(id resid.ResId) IdKey {
	return IdKey{id.Group, id.Version, id.Kind, id.Name, id.EffectiveNamespace()}
}

// AppendAllResources appends rs to m in order, failing as m.Append would on the first id already present, and
// reads each id once.
func AppendAllResources(m ResMap, rs []*resource.Resource) error {
	if w, ok := m.(*resWrangler); ok {
		return w.appendAll(rs)
	}
	for _, r := range rs {
		if err := m.Append(r); err != nil {
			return err
		}
	}
	return nil
}

// IdCache holds the current ids of a map's resources while a transformer changes no resource but the one it works
// on; Refresh reads that one's id again after the change.
type IdCache struct {
	m       *resWrangler
	ids     map[*resource.Resource]cachedId
	prevIds map[*resource.Resource][]resid.ResId
	// subsets holds the referral subset of a referrer in each effective namespace: the same for every referrer
	// there that is neither cluster-scoped nor a RoleBinding, until an id changes.
	subsets map[string]ResMap
}

type cachedId struct {
	id        resid.ResId
	namespace string // what GetNamespace returns, which is not always id.Namespace
}

// NewIdCache reads the ids of m's resources.
func NewIdCache(m ResMap) *IdCache {
	c := &IdCache{
		ids:     map[*resource.Resource]cachedId{},
		prevIds: map[*resource.Resource][]resid.ResId{},
		subsets: map[string]ResMap{},
	}
	c.m, _ = m.(*resWrangler)
	for _, r := range m.Resources() {
		c.Refresh(r)
	}
	return c
}

// Refresh reads r's id again, and its previous ids when next asked.
func (c *IdCache) Refresh(r *resource.Resource) {
	id := cachedId{r.CurId(), r.GetNamespace()}
	if old, ok := c.ids[r]; ok && old != id {
		clear(c.subsets)
	}
	c.ids[r] = id
	delete(c.prevIds, r)
}

// PrevIds returns r.PrevIds(), read the first time it is asked (r.PrevIds panics on some annotations: it does so
// for the same resources as before).
func (c *IdCache) PrevIds(r *resource.Resource) []resid.ResId {
	ids, ok := c.prevIds[r]
	if !ok {
		ids = r.PrevIds()
		c.prevIds[r] = ids
	}
	return ids
}

func (c *IdCache) idOf(r *resource.Resource) (resid.ResId, string) {
	if id, ok := c.ids[r]; ok {
		return id.id, id.namespace
	}
	return liveId(r)
}

// SubsetThatCouldBeReferencedByResource is the map's SubsetThatCouldBeReferencedByResource with the cached ids;
// referrers in one namespace share one subset, which nothing changes (the name reference filter reads it).
func (c *IdCache) SubsetThatCouldBeReferencedByResource(referrer *resource.Resource) (ResMap, error) {
	if c.m == nil {
		return nil, fmt.Errorf("bad cast to resWrangler in IdCache")
	}
	id, _ := c.idOf(referrer)
	if id.IsClusterScoped() || referrer.GetKind() == "RoleBinding" {
		return c.m.subsetThatCouldBeReferencedByResource(referrer, c.idOf)
	}
	ns := id.EffectiveNamespace()
	if s, ok := c.subsets[ns]; ok {
		return s, nil
	}
	s, err := c.m.subsetThatCouldBeReferencedByResource(referrer, c.idOf)
	if err == nil {
		c.subsets[ns] = s
	}
	return s, err
}

func liveId(r *resource.Resource) (resid.ResId, string) {
	return r.CurId(), r.GetNamespace()
}
`},
	{file: "resmap/idindex.go", why: "ids compared by key: imports", old: `import (
	"sigs.k8s.io/kustomize/api/resource"`, new: `import (
	"fmt"

	"sigs.k8s.io/kustomize/api/resource"`},
	{file: "resmap/reswrangler.go", why: "appendAll reads each id once", old: `func (m *resWrangler) appendAll(list []*resource.Resource) error {
	for _, res := range list {
		if err := m.Append(res); err != nil {
			return err
		}
	}
	return nil
}`, new: `// statepack: the ids already present are put in a set once, instead of being read again for every resource
// appended.
func (m *resWrangler) appendAll(list []*resource.Resource) error {
	if len(list) == 0 {
		return nil
	}
	present := make(map[IdKey]bool, len(m.rList)+len(list))
	for _, r := range m.rList {
		present[KeyOf(r.CurId())] = true
	}
	for _, res := range list {
		id := res.CurId()
		k := KeyOf(id)
		if present[k] {
			return fmt.Errorf(
				"may not add resource with an already registered id: %s", id)
		}
		m.append(res)
		present[k] = true
	}
	return nil
}`},
	{file: "resmap/reswrangler.go", why: "the referral subset with ids from a cache", old: `func (m *resWrangler) SubsetThatCouldBeReferencedByResource(
	referrer *resource.Resource) (ResMap, error) {
	referrerId := referrer.CurId()`, new: `func (m *resWrangler) SubsetThatCouldBeReferencedByResource(
	referrer *resource.Resource) (ResMap, error) {
	return m.subsetThatCouldBeReferencedByResource(referrer, liveId)
}

// statepack: subsetThatCouldBeReferencedByResource takes the ids from idOf, which IdCache answers from a cache.
func (m *resWrangler) subsetThatCouldBeReferencedByResource(
	referrer *resource.Resource,
	idOf func(*resource.Resource) (resid.ResId, string)) (ResMap, error) {
	referrerId, _ := idOf(referrer)`},
	{file: "resmap/reswrangler.go", why: "the referral subset with ids from a cache: targets", old: `	for _, possibleTarget := range m.rList {
		id := possibleTarget.CurId()
		if id.IsClusterScoped() {
			// A cluster-scoped resource can be referred to by anything.`, new: `	for _, possibleTarget := range m.rList {
		id, namespace := idOf(possibleTarget)
		if id.IsClusterScoped() {
			// A cluster-scoped resource can be referred to by anything.`},
	{file: "resmap/reswrangler.go", why: "the referral subset with ids from a cache: role bindings", old: `		if roleBindingNamespaces[possibleTarget.GetNamespace()] {`, new: `		if roleBindingNamespaces[namespace] {`},
	{file: "resmap/factory.go", why: "a map from a slice reads each id once", old: `	result := New()
	for _, res := range resources {
		err := result.Append(res)
		if err != nil {
			return nil, err
		}
	}
	return result, nil`, new: `	result := New()
	if err := AppendAllResources(result, resources); err != nil {
		return nil, err
	}
	return result, nil`},
	{file: "internal/builtins/SortOrderTransformer.go", why: "sorted resources appended reading each id once", old: `		m.Clear()
		for _, r := range s.resources {
			err := m.Append(r)
			if err != nil {
				return errors.WrapPrefixf(err, "SortOrderTransformer: Failed to append to resources")
			}
		}`, new: `		m.Clear()
		if err := resmap.AppendAllResources(m, s.resources); err != nil {
			return errors.WrapPrefixf(err, "SortOrderTransformer: Failed to append to resources")
		}`},
	{file: "internal/builtins/NamespaceTransformer.go", why: "conflicts counted by key", old: `	for _, r := range m.Resources() {
		if r.IsNilOrEmpty() {
			// Don't mutate empty objects?
			continue
		}`, new: `	// statepack: how many resources have each id, kept as each resource moves, instead of comparing every id with
	// the moved one's; the error lists the matches as before.
	count := make(map[resmap.IdKey]int, m.Size())
	for _, r := range m.Resources() {
		count[resmap.KeyOf(r.CurId())]++
	}
	for _, r := range m.Resources() {
		if r.IsNilOrEmpty() {
			// Don't mutate empty objects?
			continue
		}`},
	{file: "internal/builtins/NamespaceTransformer.go", why: "conflicts counted by key: the check", old: `		r.StorePreviousId()
		if err := r.ApplyFilter(namespace.Filter{
			Namespace:              p.Namespace,
			FsSlice:                p.FieldSpecs,
			SetRoleBindingSubjects: p.SetRoleBindingSubjects,
			UnsetOnly:              p.UnsetOnly,
		}); err != nil {
			return err
		}
		matches := m.GetMatchingResourcesByCurrentId(r.CurId().Equals)
		if len(matches) != 1 {`, new: `		r.StorePreviousId()
		before := resmap.KeyOf(r.CurId())
		if err := r.ApplyFilter(namespace.Filter{
			Namespace:              p.Namespace,
			FsSlice:                p.FieldSpecs,
			SetRoleBindingSubjects: p.SetRoleBindingSubjects,
			UnsetOnly:              p.UnsetOnly,
		}); err != nil {
			return err
		}
		id := r.CurId()
		count[before]--
		count[resmap.KeyOf(id)]++
		if count[resmap.KeyOf(id)] != 1 {
			matches := m.GetMatchingResourcesByCurrentId(id.Equals)`},
	{file: "internal/accumulator/namereferencetransformer.go", why: "referral subsets from cached ids", old: `	for r, fList := range fMap {
		c, err := m.SubsetThatCouldBeReferencedByResource(r)
		if err != nil {
			return err
		}
		for _, f := range fList {
			f.Referrer = r
			f.ReferralCandidates = c
			if err := f.Referrer.ApplyFilter(f); err != nil {
				return err
			}
		}
	}`, new: `	// statepack: the ids of m's resources are read once; a referrer's filters change no resource's id but maybe
	// the referrer's own (they write its fields, and an annotation of the referral), so that one is read again.
	ids := resmap.NewIdCache(m)
	for r, fList := range fMap {
		c, err := ids.SubsetThatCouldBeReferencedByResource(r)
		if err != nil {
			return err
		}
		for _, f := range fList {
			f.Referrer = r
			f.ReferralCandidates = c
			f.Ids = ids
			if err := f.Referrer.ApplyFilter(f); err != nil {
				return err
			}
		}
		ids.Refresh(r)
	}`},
	{file: "filters/nameref/nameref.go", why: "previous ids from a cache: the field", old: `	// Set of resources to scan to find the ReferralTarget.
	ReferralCandidates resmap.ResMap
}`, new: `	// Set of resources to scan to find the ReferralTarget.
	ReferralCandidates resmap.ResMap

	// statepack: Ids, when set, answers the candidates' previous ids from a cache.
	Ids *resmap.IdCache
}

func (f Filter) prevIds(r *resource.Resource) []resid.ResId {
	if f.Ids != nil {
		return f.Ids.PrevIds(r)
	}
	return r.PrevIds()
}`},
	{file: "filters/nameref/nameref.go", why: "previous ids from a cache: by name", old: `func previousNameMatches(name string) sieveFunc {
	return func(r *resource.Resource) bool {
		for _, id := range r.PrevIds() {`, new: `func previousNameMatches(name string, prevIds func(*resource.Resource) []resid.ResId) sieveFunc {
	return func(r *resource.Resource) bool {
		for _, id := range prevIds(r) {`},
	{file: "filters/nameref/nameref.go", why: "previous ids from a cache: by kind", old: `func previousIdSelectedByGvk(gvk *resid.Gvk) sieveFunc {
	return func(r *resource.Resource) bool {
		for _, id := range r.PrevIds() {`, new: `func previousIdSelectedByGvk(gvk *resid.Gvk, prevIds func(*resource.Resource) []resid.ResId) sieveFunc {
	return func(r *resource.Resource) bool {
		for _, id := range prevIds(r) {`},
	{file: "filters/nameref/nameref.go", why: "previous ids from a cache: role refs", old: `	return previousIdSelectedByGvk(roleRefGvk)`, new: `	return previousIdSelectedByGvk(roleRefGvk, f.prevIds)`},
	{file: "filters/nameref/nameref.go", why: "previous ids from a cache: referrals", old: `	candidates = doSieve(candidates, previousNameMatches(oldName))
	candidates = doSieve(candidates, previousIdSelectedByGvk(&f.ReferralTarget))`, new: `	candidates = doSieve(candidates, previousNameMatches(oldName, f.prevIds))
	candidates = doSieve(candidates, previousIdSelectedByGvk(&f.ReferralTarget, f.prevIds))`},
	{file: "internal/target/kusttarget_configplugin.go", why: "no label transformer without labels", old: `		var c labelStruct

		c.Labels = kt.kustomization.CommonLabels
		c.FieldSpecs = tc.CommonLabels`, new: `		// statepack: a label transformer without labels does nothing (its Transform returns at once), and configuring
		// it costs a YAML round trip of every default field spec, for each kustomization that sets only labels.
		if len(kt.kustomization.CommonLabels) == 0 {
			return
		}
		var c labelStruct

		c.Labels = kt.kustomization.CommonLabels
		c.FieldSpecs = tc.CommonLabels`},
	{file: "internal/builtins/LabelTransformer.go", why: "labels configured without a YAML round trip", old: `func (p *LabelTransformerPlugin) Transform(`, new: `// statepack: ConfigureDirect sets what Config sets from the YAML of a struct{Labels; FieldSpecs} holding labels and
// fss, without writing and reading that YAML (a round trip of every default field spec, for every labels entry
// of every kustomization): the labels, and field specs as decoding makes them (their kinds' scope unset).
func (p *LabelTransformerPlugin) ConfigureDirect(labels map[string]string, fss []types.FieldSpec) {
	p.Labels = nil
	if labels != nil {
		p.Labels = make(map[string]string, len(labels))
		for k, v := range labels {
			p.Labels[k] = v
		}
	}
	p.FieldSpecs = nil
	for _, fs := range fss {
		p.FieldSpecs = append(p.FieldSpecs, types.FieldSpec{
			Gvk:                resid.Gvk{Group: fs.Group, Version: fs.Version, Kind: fs.Kind},
			Path:               fs.Path,
			CreateIfNotPresent: fs.CreateIfNotPresent,
		})
	}
}

func (p *LabelTransformerPlugin) Transform(`},
	{file: "internal/builtins/LabelTransformer.go", why: "labels configured without a YAML round trip: imports", old: `	"sigs.k8s.io/kustomize/api/types"
`, new: `	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/resid"
`},
	{file: "internal/target/kusttarget_configplugin.go", why: "labels configured without a YAML round trip: the call", old: `			c.FieldSpecs = fss
			p := f()
			err = kt.configureBuiltinPlugin(p, c, bpt)`, new: `			c.FieldSpecs = fss
			p := f()
			if lp, ok := p.(interface {
				ConfigureDirect(map[string]string, []types.FieldSpec)
			}); ok {
				lp.ConfigureDirect(c.Labels, c.FieldSpecs)
			} else {
				err = kt.configureBuiltinPlugin(p, c, bpt)
			}`},
}
