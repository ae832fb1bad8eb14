// Package substitute is Flux's postBuild variable substitution as kustomize-controller applies it to every object of
// a build (fluxcd/pkg/kustomize kustomize_varsub.go): ${var}, ${var:=default}, ${var:-default} and the other bash
// forms of github.com/fluxcd/pkg/envsubst, $${var} as an escape, strict mode off (an unset variable becomes the empty
// string) unless asked for (StrictPostBuildSubstitutions: an unset variable without a default fails), and an object
// labelled or annotated kustomize.toolkit.fluxcd.io/substitute: disabled left alone. It also finds the placeholders a
// value holds, so that a check that cannot hold before substitution is reported as pending, and reads the variables
// of a file given with --substitute-from.
//
// It does not render, validate or decide which findings to report.
package substitute

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/fluxcd/pkg/envsubst"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/statepack/statepack/internal/manifest"
)

const (
	// OptOut is the label or annotation key whose value Disabled makes Flux skip an object.
	OptOut = "kustomize.toolkit.fluxcd.io/substitute"
	// Disabled is the value of OptOut that opts an object out of substitution.
	Disabled = "disabled"
	// RulePending is the rule of a check that cannot hold before substitution: a warning naming the placeholder.
	RulePending = "flux/substitution-pending"
	// RuleFailed is the rule of an object that Flux's substitution would refuse (an unterminated ${, say).
	RuleFailed = "flux/substitution"
)

// varName is Flux's varsubRegex: the names it accepts for variables.
var varName = regexp.MustCompile(`^[_[:alpha:]][_[:alpha:][:digit:]]*$`)

// CheckNames refuses a variable name that Flux refuses ("'x-y' var name is invalid").
func CheckNames(vars map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		if !varName.MatchString(k) {
			return fmt.Errorf("variable name %q is invalid: Flux takes letters, digits and '_', not starting with a digit", k)
		}
	}
	return nil
}

// Placeholders returns the ${…} expressions in s as written, in order; nil when there are none. A $$ is an escaped
// dollar, as envsubst reads it: $${var} is the literal text ${var}, not a placeholder. An expression without its
// closing brace runs to the end of s.
func Placeholders(s string) []string {
	var out []string
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			continue
		}
		run := i
		for run < len(s) && s[run] == '$' {
			run++
		}
		if (run-i)%2 == 0 || run >= len(s) || s[run] != '{' {
			i = run - 1
			continue
		}
		start, depth, end := run-1, 0, len(s)
		for j := run; j < len(s); j++ {
			if s[j] == '{' && s[j-1] == '$' {
				depth++
			} else if s[j] == '}' {
				if depth--; depth == 0 {
					end = j + 1
					break
				}
			}
		}
		out = append(out, s[start:end])
		i = end - 1
	}
	return out
}

// OptedOut says whether an object carries the label or annotation that opts it out of substitution.
func OptedOut(content map[string]any) bool {
	meta, _ := content["metadata"].(map[string]any)
	for _, field := range []string{"labels", "annotations"} {
		m, _ := meta[field].(map[string]any)
		if v, _ := m[OptOut].(string); v == Disabled {
			return true
		}
	}
	return false
}

// Pending returns the placeholders of s that Flux has yet to substitute in o: none when o was substituted already
// (what is left is literal text) or opts out.
func Pending(o manifest.Object, s string) []string {
	if o.Substituted || !strings.Contains(s, "${") || OptedOut(o.Content) {
		return nil
	}
	return Placeholders(s)
}

// PendingMessage is the message of a RulePending finding: what holds the placeholders, which check waits for the
// substitution, and how to run it now.
func PendingMessage(what string, placeholders []string, check string) string {
	name := placeholders[0]
	if n := strings.TrimPrefix(name, "${"); n != name {
		name = n[:len(n)-len(strings.TrimLeft(n, "_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))]
	}
	return fmt.Sprintf("%s holds the Flux postBuild placeholder %s, so %s can only be checked once Flux substitutes it: give its value with --substitute %s=VALUE (or --substitute-from FILE) to check it now",
		what, strings.Join(placeholders, ", "), check, orDefault(name, "NAME"))
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// YAML substitutes vars into an object's YAML text as Flux does: the whole serialised object, then parsed again, so
// that replicas: ${replicas} becomes an integer. Newlines in values are dropped, as Flux drops them. Without strict
// an unset variable is the empty string; with strict (kustomize-controller's StrictPostBuildSubstitutions feature
// gate) a variable with neither a value nor a default (${var}, or ${var^^} and the other operators that read it, but
// not ${var:=default} and the operators that supply one) fails the substitution with an *UnsetError naming every such
// variable, where envsubst stops at the first.
func YAML(data []byte, vars map[string]string, strict bool) ([]byte, error) {
	t, err := envsubst.Parse(string(data))
	if err != nil {
		return nil, err
	}
	var unset []string
	for {
		missed := ""
		out, err := t.Execute(func(k string) (string, bool) {
			v, ok := vars[k]
			if !ok && strict && !slices.Contains(unset, k) {
				missed = k
				return "", false
			}
			return strings.ReplaceAll(v, "\n", ""), true
		})
		switch {
		case err == nil && len(unset) > 0:
			return nil, &UnsetError{Names: unset}
		case err == nil:
			return []byte(out), nil
		case missed == "" || !strings.HasSuffix(err.Error(), strconv.Quote(missed)):
			return nil, err
		}
		// envsubst stopped at missed; take it as set (to the empty string) and run again for the next one.
		unset = append(unset, missed)
	}
}

// UnsetError is the error of a strict substitution (YAML) of text that refers to variables with neither a value nor
// a default. Its message ends as kustomize-controller's does.
type UnsetError struct {
	// Names are the variables, in the order the text first refers to them.
	Names []string
}

func (e *UnsetError) Error() string {
	quoted := make([]string, len(e.Names))
	for i, n := range e.Names {
		quoted[i] = strconv.Quote(n)
	}
	return "variable not set (strict mode): " + strings.Join(quoted, ", ")
}

// Refers says whether the placeholder p (a ${…} expression as Placeholders returns it) reads the variable name.
func Refers(p, name string) bool {
	rest, ok := strings.CutPrefix(p, "${")
	if !ok {
		return false
	}
	rest = strings.TrimLeft(rest, "#!") // ${#var} (length), ${!var}
	after, ok := strings.CutPrefix(rest, name)
	return ok && after != "" && !strings.ContainsAny(after[:1], "_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
}

// ReadFile reads the variables of a --substitute-from file: a dotenv file (KEY=VALUE lines, # comments, values
// optionally quoted), or YAML holding ConfigMaps (data) and Secrets (data, base64-decoded, and stringData), as
// Flux's substituteFrom reads them from the cluster. Later keys win.
func ReadFile(name string, data []byte) (map[string]string, error) {
	vars, _, err := ReadFileSecrets(name, data)
	return vars, err
}

// ReadFileSecrets is ReadFile that also says which variables came from a Secret, whose values must not be shown
// (a finding quoting a substituted value would print them).
func ReadFileSecrets(name string, data []byte) (vars map[string]string, secret map[string]bool, err error) {
	if ext := strings.ToLower(name); strings.HasSuffix(ext, ".yaml") || strings.HasSuffix(ext, ".yml") || strings.HasSuffix(ext, ".json") {
		return readObjects(name, data)
	}
	vars, err = readDotenv(name, data)
	return vars, map[string]bool{}, err
}

func readDotenv(name string, data []byte) (map[string]string, error) {
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(text, "export "), "=")
		k = strings.TrimSpace(k)
		if !ok || !varName.MatchString(k) {
			return nil, fmt.Errorf("%s:%d: not a KEY=VALUE line with a variable name of letters, digits and '_'", name, line)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		vars[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return vars, nil
}

func readObjects(name string, data []byte) (map[string]string, map[string]bool, error) {
	vars, secret := map[string]string{}, map[string]bool{}
	found := false
	for i, doc := range splitDocuments(data) {
		var obj struct {
			Kind       string            `json:"kind"`
			Data       map[string]string `json:"data"`
			StringData map[string]string `json:"stringData"`
		}
		if err := sigsyaml.Unmarshal(doc, &obj); err != nil {
			return nil, nil, fmt.Errorf("%s: document %d: %w", name, i+1, err)
		}
		switch obj.Kind {
		case "":
			continue
		case "ConfigMap":
			maps.Copy(vars, obj.Data)
			for k := range obj.Data {
				secret[k] = false
			}
		case "Secret":
			for k, v := range obj.Data {
				b, err := base64.StdEncoding.DecodeString(v)
				if err != nil {
					return nil, nil, fmt.Errorf("%s: document %d: Secret data %s is not base64: put clear text under stringData", name, i+1, k)
				}
				vars[k], secret[k] = string(b), true
			}
			maps.Copy(vars, obj.StringData)
			for k := range obj.StringData {
				secret[k] = true
			}
		default:
			return nil, nil, fmt.Errorf("%s: document %d is a %s: give ConfigMaps and Secrets, or a KEY=VALUE file", name, i+1, obj.Kind)
		}
		found = true
	}
	if !found {
		return nil, nil, errors.New(name + " holds no ConfigMap or Secret: give ConfigMaps and Secrets, or a KEY=VALUE file")
	}
	if err := CheckNames(vars); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return vars, secret, nil
}

// splitDocuments splits a YAML stream at its --- lines.
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	var cur []byte
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		if t := bytes.TrimRight(line, " \r\n"); bytes.Equal(t, []byte("---")) {
			docs = append(docs, cur)
			cur = nil
			continue
		}
		cur = append(cur, line...)
	}
	return append(docs, cur)
}

// minMaskedPrefix is the shortest beginning of a secret value that Mask hides when a message shows the value cut
// short (a finding quotes long values up to a length, then "…").
const minMaskedPrefix = 8

// Mask hides in msg the secret values that substitution put into objects, as a finding that quotes a substituted
// value would show them: each value whole (values of three bytes or more: a shorter one would hide every digit or
// word it matches, and says little of a secret), in its quoted form (escapes), and its beginning when cut short
// (eight bytes or more). Each becomes "***".
func Mask(msg string, secrets []string) string {
	for _, v := range secrets {
		for _, form := range []string{v, strings.Trim(strconv.Quote(v), `"`)} {
			if len(form) < 3 {
				continue
			}
			msg = strings.ReplaceAll(msg, form, "***")
			if !strings.Contains(msg, "…") {
				continue // nothing cut short: no beginning to look for
			}
			for n := len(form) - 1; n >= minMaskedPrefix; n-- {
				if prefix := form[:n]; utf8.ValidString(prefix) && strings.Contains(msg, prefix+"…") {
					msg = strings.ReplaceAll(msg, prefix+"…", "***…")
				}
			}
		}
	}
	return msg
}
