package sign

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/cosign/v2/pkg/oci"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	sigopts "github.com/sigstore/sigstore/pkg/signature/options"
)

// maxKeyFileSize bounds what a key reference may hold: a PEM key is a few hundred bytes, so anything larger is not
// a key and is refused before it is read into memory.
const maxKeyFileSize = 1 << 20

// Signer signs artifacts, with a private key (LoadSigner) or keyless with a Fulcio certificate (LoadKeylessSigner).
// It is safe for concurrent use.
type Signer struct {
	impl   payloadSigner
	source string
}

// payloadSigner signs a payload and returns it as a cosign signature, ready to be stored in any format: keySigner
// with a private key, keylessSigner with an ephemeral key that Fulcio certified, attaching its certificate chain and
// Rekor entry to the signature it returns.
type payloadSigner interface {
	signPayload(ctx context.Context, payload []byte) (oci.Signature, error)
	// verifier checks signatures this signer made; Sign uses it to recognise a signature that is already there.
	verifier() signature.Verifier
	publicKey() (crypto.PublicKey, error)
}

var _ payloadSigner = (*keySigner)(nil)

// keySigner signs with a private key, as `cosign sign --key` does: one held in memory, or one that stays in a KMS,
// sv then being the provider's SignerVerifier that asks the KMS to sign.
type keySigner struct {
	sv signature.SignerVerifier
}

func (k *keySigner) signPayload(ctx context.Context, payload []byte) (oci.Signature, error) {
	raw, err := k.sv.SignMessage(bytes.NewReader(payload), sigopts.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	return static.NewSignature(payload, base64.StdEncoding.EncodeToString(raw))
}

func (k *keySigner) verifier() signature.Verifier { return k.sv }

func (k *keySigner) publicKey() (crypto.PublicKey, error) { return k.sv.PublicKey() }

// LoadSigner reads a cosign private key (the cosign.key that `cosign generate-key-pair` or GenerateKeyPair writes)
// from keyRef, a file path or "env://VAR" for the PEM held in the environment variable VAR, and decrypts it with
// password; nil means the empty password. It never prompts. The caller reads COSIGN_PASSWORD, not this package.
//
// keyRef may also name a key held in a KMS, as cosign takes it: awskms://[ENDPOINT]/ID-OR-ALIAS-OR-ARN,
// gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K[/cryptoKeyVersions/V], azurekms://VAULT.vault.azure.net/KEY,
// hashivault://KEY. The key never leaves the KMS: each signature is one request to it, with the credentials its
// provider finds in the environment as the cloud's own CLI does (AWS_*, GOOGLE_APPLICATION_CREDENTIALS, AZURE_*,
// VAULT_ADDR and VAULT_TOKEN). password is not used. LoadSigner asks the KMS for the public key, so that a missing
// key or missing permission fails here. The providers are linked only into a build with the kms build tag
// (`go build -tags kms`); without it, these references give an error wrapping ErrUnsupported that says so.
//
// A wrong password gives an error that names the key and suggests COSIGN_PASSWORD; no error ever contains the
// password, key material or a credential. Kubernetes and Git-hosting references, PKCS#11 tokens and URLs give an
// error wrapping ErrUnsupported.
//
// LoadSigner reads no environment: an env://VAR reference needs Keys.LoadSigner with a LookupEnv.
func LoadSigner(ctx context.Context, keyRef string, password []byte) (*Signer, error) {
	return Keys{}.LoadSigner(ctx, keyRef, password)
}

// Keys loads keys by reference as LoadSigner and LoadVerifiers do, resolving "env://VAR" references through
// LookupEnv: this package reads no environment variable of its own, so the caller says how (the CLI passes its
// own environment). With LookupEnv nil, an env:// reference is refused with ErrUnsupported.
type Keys struct {
	LookupEnv func(name string) (value string, ok bool)
}

// LoadSigner is the package's LoadSigner, with env://VAR resolved through k.LookupEnv.
func (k Keys) LoadSigner(ctx context.Context, keyRef string, password []byte) (*Signer, error) {
	if hasKMSProvider(keyRef) {
		sv, source, err := loadKMS(ctx, keyRef, "private key")
		if err != nil {
			return nil, err
		}
		return &Signer{impl: &keySigner{sv: sv}, source: source}, nil
	}
	data, source, err := k.readKeyRef(keyRef, "private key")
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("loading private key %s: not a PEM-encoded key", source)
	}
	switch block.Type {
	case cosign.CosignPrivateKeyPemType, cosign.SigstorePrivateKeyPemType:
	case "PUBLIC KEY":
		return nil, fmt.Errorf("loading private key %s: it holds a public key; signing needs the private key (cosign.key)", source)
	default:
		return nil, fmt.Errorf("loading private key %s: PEM type %q is not an encrypted cosign private key; convert it with `cosign import-key-pair`", source, block.Type)
	}
	if password == nil {
		password = []byte{}
	}
	sv, err := cosign.LoadPrivateKey(data, password, nil)
	if err != nil {
		// cosign.LoadPrivateKey says "decrypt: ..." when the password does not open the key. Its message is not
		// repeated: it adds nothing a user can act on.
		if strings.HasPrefix(err.Error(), "decrypt") {
			return nil, fmt.Errorf("decrypting %s: wrong password? set COSIGN_PASSWORD", source)
		}
		return nil, fmt.Errorf("loading private key %s: %w", source, err)
	}
	return &Signer{impl: &keySigner{sv: sv}, source: source}, nil
}

// String names where the signer's key came from (a path, env://VAR or a KMS URI), never the key itself.
func (s *Signer) String() string { return s.source }

// Verifier returns a verifier for this signer's signatures when its key lasts beyond one run (a key pair or a KMS
// key); a keyless signer's key is ephemeral, and ok is false.
func (s *Signer) Verifier() (v signature.Verifier, ok bool) {
	if k, isKey := s.impl.(*keySigner); isKey {
		return k.sv, true
	}
	return nil, false
}

// PublicKeyPEM returns the signer's public key, PEM-encoded as cosign writes cosign.pub.
func (s *Signer) PublicKeyPEM() ([]byte, error) {
	pub, err := s.impl.publicKey()
	if err != nil {
		return nil, fmt.Errorf("public key of %s: %w", s.source, err)
	}
	return cryptoutils.MarshalPublicKeyToPEM(pub)
}

// LoadVerifiers reads PEM public keys (cosign.pub) from each keyRef, a file path or "env://VAR", or gets them from a
// KMS for a KMS URI as LoadSigner takes it (in a build with the kms tag; the KMS provider's verifier is used, as
// `cosign verify --key awskms://…` does). Verify accepts a signature that any of them verifies, as Flux does with
// every *.pub in its Secret. Unsupported references (KMS in a build without the providers, and the like) give an
// error wrapping ErrUnsupported.
// LoadVerifiers reads no environment: an env://VAR reference needs Keys.LoadVerifiers with a LookupEnv.
func LoadVerifiers(ctx context.Context, keyRefs ...string) ([]signature.Verifier, error) {
	return Keys{}.LoadVerifiers(ctx, keyRefs...)
}

// LoadVerifiers is the package's LoadVerifiers, with env://VAR resolved through k.LookupEnv.
func (k Keys) LoadVerifiers(ctx context.Context, keyRefs ...string) ([]signature.Verifier, error) {
	if len(keyRefs) == 0 {
		return nil, errors.New("loading public keys: no key given")
	}
	verifiers := make([]signature.Verifier, 0, len(keyRefs))
	for _, ref := range keyRefs {
		if hasKMSProvider(ref) {
			sv, _, err := loadKMS(ctx, ref, "public key")
			if err != nil {
				return nil, err
			}
			verifiers = append(verifiers, sv)
			continue
		}
		data, source, err := k.readKeyRef(ref, "public key")
		if err != nil {
			return nil, err
		}
		if block, _ := pem.Decode(data); block != nil && strings.Contains(block.Type, "PRIVATE KEY") {
			return nil, fmt.Errorf("loading public key %s: it holds a private key; verifying needs the public key (cosign.pub)", source)
		}
		pub, err := cryptoutils.UnmarshalPEMToPublicKey(data)
		if err != nil {
			return nil, fmt.Errorf("loading public key %s: %w", source, err)
		}
		v, err := signature.LoadVerifier(pub, crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("loading public key %s: %w", source, err)
		}
		verifiers = append(verifiers, v)
	}
	return verifiers, nil
}

// GenerateKeyPair makes a new ECDSA P-256 key pair in cosign's format: the private key encrypted with password
// (nil means the empty password) as cosign.key, and the public key as cosign.pub.
func GenerateKeyPair(password []byte) (privatePEM, publicPEM []byte, err error) {
	if password == nil {
		password = []byte{}
	}
	kb, err := cosign.GenerateKeyPair(func(bool) ([]byte, error) { return password, nil })
	if err != nil {
		return nil, nil, fmt.Errorf("generating key pair: %w", err)
	}
	return kb.PrivateBytes, kb.PublicBytes, nil
}

// readKeyRef reads the PEM that ref names and says, for error messages, where it came from: the path, env://VAR, or
// a redacted URL. kind ("private key", "public key") goes into the messages.
func (k Keys) readKeyRef(ref, kind string) (data []byte, source string, err error) {
	if ref == "" {
		return nil, "", fmt.Errorf("loading %s: no key given", kind)
	}
	if strings.HasPrefix(ref, "pkcs11:") {
		return nil, "pkcs11:…", fmt.Errorf("loading %s pkcs11:…: hardware keys are %w in this build yet", kind, ErrUnsupported)
	}
	if scheme, rest, ok := strings.Cut(ref, "://"); ok {
		switch {
		case scheme == "env":
			return k.readEnvKey(rest, kind)
		case kmsSchemes[scheme]:
			// A linked provider would have taken ref before it got here (hasKMSProvider).
			return nil, redactURL(ref), fmt.Errorf("loading %s %s: KMS keys are %w: %s", kind, redactURL(ref), ErrUnsupported, kmsBuildHint)
		case scheme == "http" || scheme == "https":
			return nil, redactURL(ref), fmt.Errorf("loading %s %s: keys from URLs are %w; download the key to a file", kind, redactURL(ref), ErrUnsupported)
		default:
			return nil, redactURL(ref), fmt.Errorf("loading %s %s: key references with scheme %s:// are %w in this build yet", kind, redactURL(ref), scheme, ErrUnsupported)
		}
	}
	f, err := os.Open(ref)
	if err != nil {
		return nil, ref, fmt.Errorf("loading %s: %w", kind, err)
	}
	defer f.Close()
	data, err = io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, ref, fmt.Errorf("loading %s %s: %w", kind, ref, err)
	}
	if len(data) > maxKeyFileSize {
		return nil, ref, fmt.Errorf("loading %s %s: file is larger than %d bytes, not a key", kind, ref, maxKeyFileSize)
	}
	return data, ref, nil
}

func (k Keys) readEnvKey(name, kind string) ([]byte, string, error) {
	source := "env://" + name
	if name == "" {
		return nil, source, fmt.Errorf("loading %s %s: no variable name after env://", kind, source)
	}
	if k.LookupEnv == nil {
		return nil, source, fmt.Errorf("loading %s %s: env:// keys are %w here: this package reads no environment (use Keys with LookupEnv)", kind, source, ErrUnsupported)
	}
	v, ok := k.LookupEnv(name)
	if !ok {
		return nil, source, fmt.Errorf("loading %s %s: environment variable %s is not set", kind, source, name)
	}
	if v == "" {
		return nil, source, fmt.Errorf("loading %s %s: environment variable %s is empty", kind, source, name)
	}
	return []byte(v), source, nil
}

// redactURL drops credentials from a URL before it goes into an error: the password (or a user name standing alone,
// which is often a token) and the values of the query, where signed URLs carry theirs.
func redactURL(ref string) string {
	u, err := url.Parse(ref)
	if err != nil {
		scheme, _, _ := strings.Cut(ref, "://")
		return scheme + "://…"
	}
	if u.User != nil {
		if _, hasPassword := u.User.Password(); !hasPassword {
			u.User = url.User("xxxxx")
		}
	}
	if u.RawQuery != "" {
		q := u.Query()
		for _, vs := range q {
			for i := range vs {
				vs[i] = "xxxxx"
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}
