package schema

import "maps"

// withDefaults returns x with the defaults of n's properties applied, as the API server applies a CRD schema's
// defaults before it validates (k8s.io/apiextensions-apiserver's structural defaulting): an absent property, or a
// null one that is not nullable, takes its default, then defaulting goes on into every property, map value and list
// item. CEL rules read defaulted fields (Gateway API's backendRefs rules read group and kind, which default to ""
// and "Service"), so a rule judged on the object as written would refuse what the cluster accepts. x is not
// changed: maps and lists on the way to a default are copied. changed reports whether anything was.
func withDefaults(x any, n *node) (out any, changed bool) {
	if n == nil {
		return x, false
	}
	switch x := x.(type) {
	case map[string]any:
		var copied map[string]any
		set := func(k string, v any) {
			if copied == nil {
				copied = maps.Clone(x)
			}
			copied[k] = v
		}
		for k, p := range n.props {
			if v, found := x[k]; p.hasDef && (!found || (v == nil && !p.nullable)) {
				set(k, p.def)
			}
		}
		src := x
		if copied != nil {
			src = copied
		}
		for k, v := range src {
			p := n.props[k]
			if p == nil {
				p = n.additional
			}
			if nv, ok := withDefaults(v, p); ok {
				set(k, nv)
			}
		}
		if copied == nil {
			return x, false
		}
		return copied, true
	case []any:
		var copied []any
		for i, v := range x {
			if nv, ok := withDefaults(v, n.items); ok {
				if copied == nil {
					copied = append([]any(nil), x...)
				}
				copied[i] = nv
			}
		}
		if copied == nil {
			return x, false
		}
		return copied, true
	}
	return x, false
}
