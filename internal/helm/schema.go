package helm

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"helm.sh/helm/v4/pkg/chart/common"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
)

// validateSchemas checks values against the chart's values.schema.json and, for each subchart that has values,
// the subchart's against its own, as the SDK's ValidateAgainstSchema does (pkg/chart/common/util/jsonschema.go),
// with one difference: the schemas are compiled with offlineLoader, so that a chart cannot make the render read
// a file of the machine or reach the network through a $ref.
func validateSchemas(ch *chartv2.Chart, values map[string]any) error {
	var sb strings.Builder
	if ch.Schema != nil {
		if err := validateSchema(values, ch.Schema); err != nil {
			fmt.Fprintf(&sb, "%s:\n%s", ch.Name(), err.Error())
		}
	}
	for _, sub := range ch.Dependencies() {
		raw, ok := values[sub.Name()]
		if !ok || raw == nil {
			continue
		}
		subValues, ok := asMap(raw)
		if !ok {
			fmt.Fprintf(&sb, "%s:\ninvalid type for values: expected object (map), got %T\n", sub.Name(), raw)
			continue
		}
		if err := validateSchemas(sub, subValues); err != nil {
			sb.WriteString(err.Error())
		}
	}
	if sb.Len() > 0 {
		return errors.New(sb.String())
	}
	return nil
}

func asMap(v any) (map[string]any, bool) {
	switch t := v.(type) {
	case map[string]any:
		return t, true
	case common.Values:
		return t, true
	}
	return nil, false
}

func validateSchema(values map[string]any, schemaJSON []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("unable to validate schema: %v", r)
		}
	}()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		return err
	}
	const url = "file:///values.schema.json"
	compiler := jsonschema.NewCompiler()
	compiler.UseLoader(offlineLoader{})
	if err := compiler.AddResource(url, doc); err != nil {
		return err
	}
	schema, err := compiler.Compile(url)
	if err != nil {
		return err
	}
	if err := schema.Validate(common.Values(values).AsMap()); err != nil {
		// As the SDK's JSONSchemaValidationError prints it.
		return errors.New(strings.TrimPrefix(err.Error(), "jsonschema validation failed with '"+url+"#'\n") + "\n")
	}
	return nil
}

// offlineLoader loads no schema: a $ref to another document fails, except a urn:, which the SDK resolves (when
// no resolver is registered) to a schema that accepts everything.
type offlineLoader struct{}

func (offlineLoader) Load(url string) (any, error) {
	if strings.HasPrefix(url, "urn:") {
		return jsonschema.UnmarshalJSON(strings.NewReader("true"))
	}
	return nil, fmt.Errorf("values.schema.json refers to %s: a chart's schemas are read from the chart alone, never from files or the network", url)
}
