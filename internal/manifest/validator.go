package manifest

import "context"

// Validator checks rendered objects. Structural checks are built in; schema and policy validators plug in here.
type Validator interface {
	// Validate returns findings about objs. It must not modify them.
	Validate(ctx context.Context, objs []Object) Findings
}

// ValidatorFunc adapts a function to Validator.
type ValidatorFunc func(ctx context.Context, objs []Object) Findings

// Validate calls f.
func (f ValidatorFunc) Validate(ctx context.Context, objs []Object) Findings { return f(ctx, objs) }
