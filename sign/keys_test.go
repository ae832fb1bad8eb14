package sign_test

import (
	"context"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/statepack/statepack/sign"
)

// pemBody returns a line of the base64 body of a PEM block, to check that no error repeats key material.
func pemBody(t *testing.T, b []byte) string {
	t.Helper()
	lines := strings.Split(string(b), "\n")
	if len(lines) < 3 {
		t.Fatalf("not a PEM block: %q", b)
	}
	return lines[1]
}

func TestLoadSigner(t *testing.T) {
	a, b := testKeys(t)
	for _, tc := range []struct {
		name     string
		ref      func(t *testing.T) string
		password []byte
		wantPub  []byte
		wantIs   error  // an error that errors.Is must find
		wantErr  string // the exact message, with {ref} standing for what ref returned; "" = no error
		contains bool   // wantErr is a part of the message, not all of it
	}{
		{
			name:     "encrypted key, right password",
			ref:      func(t *testing.T) string { return writeFile(t, "cosign.key", a.priv) },
			password: a.password,
			wantPub:  a.pub,
		},
		{
			name:     "encrypted key, wrong password",
			ref:      func(t *testing.T) string { return writeFile(t, "cosign.key", a.priv) },
			password: []byte("wrong horse"),
			wantErr:  "decrypting {ref}: wrong password? set COSIGN_PASSWORD",
		},
		{
			name:    "encrypted key, no password",
			ref:     func(t *testing.T) string { return writeFile(t, "cosign.key", a.priv) },
			wantErr: "decrypting {ref}: wrong password? set COSIGN_PASSWORD",
		},
		{
			name:    "key with empty password, nil password",
			ref:     func(t *testing.T) string { return writeFile(t, "cosign.key", b.priv) },
			wantPub: b.pub,
		},
		{
			name: "env:// key",
			ref: func(t *testing.T) string {
				t.Setenv("STATEPACK_TEST_COSIGN_KEY", string(a.priv))
				return "env://STATEPACK_TEST_COSIGN_KEY"
			},
			password: a.password,
			wantPub:  a.pub,
		},
		{
			name: "env:// key, wrong password",
			ref: func(t *testing.T) string {
				t.Setenv("STATEPACK_TEST_COSIGN_KEY", string(a.priv))
				return "env://STATEPACK_TEST_COSIGN_KEY"
			},
			password: []byte("wrong horse"),
			wantErr:  "decrypting {ref}: wrong password? set COSIGN_PASSWORD",
		},
		{
			name:    "env:// variable not set",
			ref:     func(t *testing.T) string { return "env://STATEPACK_TEST_NOT_SET" },
			wantErr: "loading private key {ref}: environment variable STATEPACK_TEST_NOT_SET is not set",
		},
		{
			name:     "URL with credentials",
			ref:      func(t *testing.T) string { return "https://user:s3cret@keys.example/cosign.key" },
			wantIs:   sign.ErrUnsupported,
			wantErr:  "loading private key https://user:xxxxx@keys.example/cosign.key: keys from URLs are not supported; download the key to a file",
			contains: true,
		},
		{
			name:    "public key instead of private",
			ref:     func(t *testing.T) string { return writeFile(t, "cosign.pub", a.pub) },
			wantErr: "loading private key {ref}: it holds a public key; signing needs the private key (cosign.key)",
		},
		{
			name: "unencrypted PKCS#8 key",
			ref: func(t *testing.T) string {
				return writeFile(t, "key.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}}))
			},
			wantErr: "loading private key {ref}: PEM type \"PRIVATE KEY\" is not an encrypted cosign private key; convert it with `cosign import-key-pair`",
		},
		{
			name:    "not PEM",
			ref:     func(t *testing.T) string { return writeFile(t, "cosign.key", []byte("hello")) },
			wantErr: "loading private key {ref}: not a PEM-encoded key",
		},
		{
			name:     "missing file",
			ref:      func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope.key") },
			wantIs:   fs.ErrNotExist,
			wantErr:  "loading private key: open {ref}: no such file or directory",
			password: a.password,
		},
		{
			name:    "no key",
			ref:     func(t *testing.T) string { return "" },
			wantErr: "loading private key: no key given",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := tc.ref(t)
			s, err := sign.Keys{LookupEnv: os.LookupEnv}.LoadSigner(context.Background(), ref, tc.password)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("LoadSigner(%q) = %v, want a signer", ref, err)
				}
				got, err := s.PublicKeyPEM()
				if err != nil || string(got) != string(tc.wantPub) {
					t.Errorf("PublicKeyPEM() = %s, %v; want\n%s", got, err, tc.wantPub)
				}
				return
			}
			if err == nil {
				t.Fatalf("LoadSigner(%q) = nil error, want %q", ref, tc.wantErr)
			}
			want := strings.ReplaceAll(tc.wantErr, "{ref}", ref)
			if (tc.contains && !strings.Contains(err.Error(), want)) || (!tc.contains && err.Error() != want) {
				t.Errorf("LoadSigner(%q) =\n%s\nwant\n%s", ref, err, want)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("LoadSigner(%q) = %v, want errors.Is %v", ref, err, tc.wantIs)
			}
			for _, secret := range []string{string(a.password), "wrong horse", "s3cret", pemBody(t, a.priv)} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("LoadSigner(%q) error %q contains a secret", ref, err)
				}
			}
		})
	}
}

// TestPackageReadsNoEnvironment: without a LookupEnv, an env:// key is refused, even when the variable is set.
func TestPackageReadsNoEnvironment(t *testing.T) {
	a, _ := testKeys(t)
	t.Setenv("STATEPACK_TEST_COSIGN_KEY", string(a.priv))
	t.Setenv("STATEPACK_TEST_COSIGN_PUB", string(a.pub))
	const want = "env:// keys are not supported here: this package reads no environment (use Keys with LookupEnv)"
	if _, err := sign.LoadSigner(context.Background(), "env://STATEPACK_TEST_COSIGN_KEY", a.password); !errors.Is(err, sign.ErrUnsupported) || !strings.Contains(err.Error(), want) {
		t.Errorf("LoadSigner(env://) = %v, want %q", err, want)
	}
	if _, err := sign.LoadVerifiers(context.Background(), "env://STATEPACK_TEST_COSIGN_PUB"); !errors.Is(err, sign.ErrUnsupported) || !strings.Contains(err.Error(), want) {
		t.Errorf("LoadVerifiers(env://) = %v, want %q", err, want)
	}
}

func TestLoadVerifiers(t *testing.T) {
	a, b := testKeys(t)
	for _, tc := range []struct {
		name    string
		refs    func(t *testing.T) []string
		want    int
		wantIs  error
		wantErr string
	}{
		{name: "file", refs: func(t *testing.T) []string { return []string{writeFile(t, "cosign.pub", a.pub)} }, want: 1},
		{name: "env://", refs: func(t *testing.T) []string {
			t.Setenv("STATEPACK_TEST_COSIGN_PUB", string(b.pub))
			return []string{"env://STATEPACK_TEST_COSIGN_PUB"}
		}, want: 1},
		{name: "several", refs: func(t *testing.T) []string {
			return []string{writeFile(t, "a.pub", a.pub), writeFile(t, "b.pub", b.pub)}
		}, want: 2},
		{name: "none", refs: func(t *testing.T) []string { return nil }, wantErr: "loading public keys: no key given"},
		{name: "private key instead of public", refs: func(t *testing.T) []string { return []string{writeFile(t, "cosign.key", a.priv)} },
			wantErr: "it holds a private key; verifying needs the public key (cosign.pub)"},
		{name: "not a key", refs: func(t *testing.T) []string { return []string{writeFile(t, "cosign.pub", []byte("hello"))} },
			wantErr: "loading public key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refs := tc.refs(t)
			vs, err := sign.Keys{LookupEnv: os.LookupEnv}.LoadVerifiers(context.Background(), refs...)
			if tc.wantErr == "" {
				if err != nil || len(vs) != tc.want {
					t.Fatalf("LoadVerifiers(%q) = %d verifiers, %v; want %d", refs, len(vs), err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("LoadVerifiers(%q) = %v, want an error containing %q", refs, err, tc.wantErr)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("LoadVerifiers(%q) = %v, want errors.Is %v", refs, err, tc.wantIs)
			}
			if strings.Contains(err.Error(), pemBody(t, a.priv)) {
				t.Errorf("LoadVerifiers(%q) error %q contains key material", refs, err)
			}
		})
	}
}

func TestGenerateKeyPair(t *testing.T) {
	t.Parallel()
	a, b := testKeys(t)
	for _, tc := range []struct {
		name string
		kp   keyPair
	}{{"with password", a}, {"empty password", b}} {
		t.Run(tc.name, func(t *testing.T) {
			priv, _ := pem.Decode(tc.kp.priv)
			pub, _ := pem.Decode(tc.kp.pub)
			if priv == nil || priv.Type != "ENCRYPTED SIGSTORE PRIVATE KEY" || pub == nil || pub.Type != "PUBLIC KEY" {
				t.Fatalf("GenerateKeyPair = PEM types %v, %v; want ENCRYPTED SIGSTORE PRIVATE KEY, PUBLIC KEY", priv, pub)
			}
			if got, err := loadSigner(t, tc.kp).PublicKeyPEM(); err != nil || string(got) != string(tc.kp.pub) {
				t.Errorf("the private key's public key = %s, %v; want the public key GenerateKeyPair returned", got, err)
			}
		})
	}
	if string(a.pub) == string(b.pub) {
		t.Errorf("two calls to GenerateKeyPair gave the same key")
	}
}
