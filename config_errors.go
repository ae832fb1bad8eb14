package statepack

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/statepack/statepack/internal/strictyaml"
)

// configSchema is what a config decodes into, for explaining why the strict decoder refused one
// (internal/strictyaml): the config's types and the words for them in messages.
var configSchema = &strictyaml.Schema{
	Root: reflect.TypeFor[Config](),
	Nouns: map[reflect.Type]strictyaml.Noun{
		reflect.TypeFor[Config]():         {Fields: "the config's fields", Plural: "configs"},
		reflect.TypeFor[Target]():         {Fields: "a target's fields", Plural: "targets"},
		reflect.TypeFor[SignConfig]():     {Fields: "sign's fields", Plural: "sign settings"},
		reflect.TypeFor[ValidateConfig](): {Fields: "validate's fields", Plural: "validate settings"},
		reflect.TypeFor[Allowance]():      {Fields: "an allow entry is a rule, or a mapping of its fields", Plural: "rules, or {rule: RULE, reason: WHY}"},
		reflect.TypeFor[ImagesConfig]():   {Fields: "images' fields", Plural: "images settings"},
		reflect.TypeFor[ImageRule]():      {Fields: "an image rule's fields", Plural: "image rules"},
		reflect.TypeFor[ImageIdentity]():  {Fields: "an identity's fields", Plural: "identities"},
		reflect.TypeFor[ImageSkip]():      {Fields: "skip's fields", Plural: "skip settings"},
	},
	// Allowance.UnmarshalJSON takes a rule, or a mapping of its fields.
	Either: map[reflect.Type]string{reflect.TypeFor[Allowance](): "a rule, or {rule: RULE, reason: WHY}"},
}

// configDecodeError explains err, sigs.k8s.io/yaml's strict refusal of a config's data: a *lineError naming the
// line, the path of the field and what to write instead when the walk finds the problem.
func configDecodeError(data []byte, err error) error {
	line, msg, ok := configSchema.Explain(data, err)
	if !ok {
		return fmt.Errorf("not a statepack config: %s", msg)
	}
	return &lineError{line: line, err: errors.New(msg)}
}
