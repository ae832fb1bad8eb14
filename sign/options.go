package sign

import (
	"fmt"
	"log/slog"
	"maps"
)

// Format names how signatures are stored next to an artifact.
type Format string

const (
	// FormatLegacy is cosign's original format: a manifest tagged sha256-<hex>.sig in the artifact's repository,
	// one simple-signing layer per signature. It is the default and the one every verifier reads.
	FormatLegacy Format = "legacy"
	// FormatBundle is the sigstore bundle stored as an OCI 1.1 referrer. Not supported in this build yet.
	FormatBundle Format = "bundle"
	// FormatBoth writes the legacy format and the bundle. Not supported in this build yet.
	FormatBoth Format = "both"
)

// SignOption configures Signer.Sign. An option that is given a value it cannot use makes Sign fail before it
// signs or writes anything.
type SignOption func(*signOptions) error

type signOptions struct {
	annotations map[string]string
	logger      *slog.Logger
	format      Format
}

func makeSignOptions(opts []SignOption) (*signOptions, error) {
	o := &signOptions{logger: discardLogger(), format: FormatLegacy}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(o); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// WithAnnotations adds key=value pairs to the signed payload, in its "optional" section, as `cosign sign -a` does.
// They are covered by the signature, and Verify can require them (WithRequiredAnnotations). The default is none,
// which writes "optional": null as cosign does. Keys must not be empty.
func WithAnnotations(annotations map[string]string) SignOption {
	return func(o *signOptions) error {
		for k := range annotations {
			if k == "" {
				return fmt.Errorf("signature annotation with an empty key")
			}
		}
		if len(annotations) == 0 {
			o.annotations = nil
			return nil
		}
		o.annotations = maps.Clone(annotations)
		return nil
	}
}

// WithLogger makes Sign report what it does (signature written, already present) to l. The default, and a nil l,
// is silence.
func WithLogger(l *slog.Logger) SignOption {
	return func(o *signOptions) error {
		if l == nil {
			l = discardLogger()
		}
		o.logger = l
		return nil
	}
}

// WithFormat selects how the signature is stored. The default is FormatLegacy, the only format this build writes;
// FormatBundle and FormatBoth return an error wrapping ErrUnsupported.
func WithFormat(f Format) SignOption {
	return func(o *signOptions) error {
		switch f {
		case FormatLegacy, "":
			o.format = FormatLegacy
			return nil
		case FormatBundle, FormatBoth:
			return fmt.Errorf("signature format %q: %w in this build yet (use %q)", f, ErrUnsupported, FormatLegacy)
		default:
			return fmt.Errorf("unknown signature format %q (want %q, %q or %q)", f, FormatLegacy, FormatBundle, FormatBoth)
		}
	}
}

// VerifyOption configures Verify. An option that is given a value it cannot use makes Verify fail before it reads
// anything.
type VerifyOption func(*verifyOptions) error

type verifyOptions struct {
	annotations map[string]string
	logger      *slog.Logger
}

func makeVerifyOptions(opts []VerifyOption) (*verifyOptions, error) {
	o := &verifyOptions{logger: discardLogger()}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(o); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// WithRequiredAnnotations makes Verify accept only signatures whose payload carries every one of these key=value
// pairs, as `cosign verify -a` does. The default is to require none.
func WithRequiredAnnotations(annotations map[string]string) VerifyOption {
	return func(o *verifyOptions) error {
		for k := range annotations {
			if k == "" {
				return fmt.Errorf("required annotation with an empty key")
			}
		}
		if len(annotations) == 0 {
			o.annotations = nil
			return nil
		}
		o.annotations = maps.Clone(annotations)
		return nil
	}
}

// WithVerifyLogger makes Verify report each signature it checks to l. The default, and a nil l, is silence.
func WithVerifyLogger(l *slog.Logger) VerifyOption {
	return func(o *verifyOptions) error {
		if l == nil {
			l = discardLogger()
		}
		o.logger = l
		return nil
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// anyMap converts annotations to the map type cosign's payload and claim checks use; nil stays nil.
func anyMap(m map[string]string) map[string]interface{} {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]interface{}, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
