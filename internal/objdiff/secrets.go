package objdiff

import (
	"encoding/json"
	"reflect"

	sigsyaml "sigs.k8s.io/yaml"
)

// Sensitive replaces every value of a Secret in a diff, as kubectl diff does: "***" for a value that is the same on
// both sides or only on one, "*** (before)" and "*** (after)" for one that changed.
const Sensitive = "***"

// lastApplied is the annotation kubectl apply leaves on an object: the whole object as JSON, values included.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// isSecret reports whether id is a core-group Secret, whose values no diff shows.
func isSecret(id ID) bool { return id.Group == "" && id.Kind == "Secret" }

// maskSecrets returns the YAML of two versions of a Secret (nil for a side it is missing from) with each value
// under data and stringData, and kubectl's last-applied-configuration annotation, replaced by Sensitive, marked
// "(before)" and "(after)" where the two sides differ. The keys stay, so a diff shows which were added, removed or
// changed, and nothing of what they hold: not even a hash, which would give away a short password to a guess.
// SOPS-encrypted values are masked alike. A side that does not decode is replaced as a whole.
func maskSecrets(from, to []byte) (string, string) {
	a, errA := decodeSecret(from)
	b, errB := decodeSecret(to)
	if errA != nil || errB != nil {
		return wholeSecret(from, errA, to, errB)
	}
	for _, field := range []string{"data", "stringData"} {
		maskField(a, b, field)
	}
	maskField(annotations(a), annotations(b), lastApplied)
	ya, errA := encodeSecret(a)
	yb, errB := encodeSecret(b)
	if errA != nil || errB != nil {
		return wholeSecret(from, errA, to, errB)
	}
	return ya, yb
}

// decodeSecret decodes canonical YAML, keeping numbers as written so that the other fields encode back unchanged.
func decodeSecret(y []byte) (map[string]any, error) {
	if y == nil {
		return nil, nil
	}
	var m map[string]any
	err := sigsyaml.Unmarshal(y, &m, func(d *json.Decoder) *json.Decoder { d.UseNumber(); return d })
	return m, err
}

func encodeSecret(m map[string]any) (string, error) {
	if m == nil {
		return "", nil
	}
	y, err := sigsyaml.Marshal(m)
	return string(y), err
}

// wholeSecret stands for two versions of a Secret of which one did not decode: each side that exists becomes a
// single line, marked when the bytes differ.
func wholeSecret(from []byte, errFrom error, to []byte, errTo error) (string, string) {
	line := func(y []byte, err error, mark string) string {
		switch {
		case y == nil:
			return ""
		case err != nil:
			return Sensitive + mark + " (the Secret does not decode, so all of it is hidden)\n"
		}
		return Sensitive + mark + " (the Secret is hidden, as the other side does not decode)\n"
	}
	if from != nil && to != nil && string(from) != string(to) {
		return line(from, errFrom, " (before)"), line(to, errTo, " (after)")
	}
	return line(from, errFrom, ""), line(to, errTo, "")
}

// annotations returns the annotations mapping of an object, or nil.
func annotations(obj map[string]any) map[string]any {
	meta, _ := obj["metadata"].(map[string]any)
	a, _ := meta["annotations"].(map[string]any)
	return a
}

// maskField masks the value at key in a and b (either may be nil): per entry when both are mappings or one is
// missing, as a whole otherwise.
func maskField(a, b map[string]any, key string) {
	va, okA := a[key]
	vb, okB := b[key]
	ma, mapA := va.(map[string]any)
	mb, mapB := vb.(map[string]any)
	switch {
	case (mapA || !okA || va == nil) && (mapB || !okB || vb == nil):
		maskPairs(ma, mb)
	default:
		changed := okA && okB && !reflect.DeepEqual(va, vb)
		if okA {
			a[key] = Sensitive + suffix(changed, " (before)")
		}
		if okB {
			b[key] = Sensitive + suffix(changed, " (after)")
		}
	}
}

// maskPairs replaces every value of a and b (either may be nil), kubectl's way.
func maskPairs(a, b map[string]any) {
	for k, va := range a {
		vb, ok := b[k]
		changed := ok && !reflect.DeepEqual(va, vb)
		a[k] = Sensitive + suffix(changed, " (before)")
		if ok {
			b[k] = Sensitive + suffix(changed, " (after)")
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			b[k] = Sensitive
		}
	}
}

func suffix(on bool, s string) string {
	if on {
		return s
	}
	return ""
}
