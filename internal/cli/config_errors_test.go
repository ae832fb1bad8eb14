package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestTargetsConfigErrorNamesTheLine: a statepack.yaml the strict decoder refuses is a usage error (exit 2) whose
// first line names the file, the line of the offending key or value, the field's path and what to write.
func TestTargetsConfigErrorNamesTheLine(t *testing.T) {
	t.Parallel()
	head := "apiVersion: statepack.dev/v1alpha1\nkind: Config\ntargets:\n- name: eu\n  path: clusters/eu\n  ref: 'oci:out:eu'\n"
	tests := []struct{ name, config, want string }{
		{"unknown field", head + "  sgin: {key: cosign.key}\n",
			`:7: unknown field "sgin" in targets[0] (a target's fields: name, path, ref, tags, layerMediaType, annotations, sign, validate, immutableTags, helm, ignorePaths); did you mean "sign"?`},
		{"wrong type", head + "  immutableTags: \"yes\"\n",
			`:7: targets[0].immutableTags must be true or false, not the string "yes": remove the quotes`},
		{"YAML syntax", head + "  tags: [main\n", `:7: not valid YAML: did not find expected ',' or ']'`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			config := filepath.Join(writeTree(t, map[string]string{"statepack.yaml": tc.config, "clusters/eu/cm.yaml": "{}\n"}), "statepack.yaml")
			r := mustRun(t, 2, nil, "targets", "--config", config)
			first, _, _ := strings.Cut(r.stderr, "\n")
			if want := "statepack: error: " + config + tc.want; first != want {
				t.Errorf("statepack targets --config: first line of stderr\n%s\nwant\n%s", first, want)
			}
			if r.stdout != "" {
				t.Errorf("statepack targets --config printed %q on stdout, want nothing", r.stdout)
			}
		})
	}
}
