// Package testsigstore runs Fulcio's real server code in-process, with a test OIDC issuer, for offline keyless tests.
//
// Start wires Fulcio v1.8.4 the way its own cmd/app does: an ephemeral CA (ephemeralca.NewEphemeralCA) behind
// server.NewGRPCCAServer on a loopback gRPC listener, the legacy v1 service (server.NewLegacyGRPCCAServer) on a second
// one, and the grpc-gateway HTTP front end that serves both /api/v2/signingCert and /api/v1/signingCert, with the
// same header handling as cmd/app (bearer token to gRPC metadata, status code and SCT header from gRPC metadata).
// The OIDC issuers are httptest servers serving /.well-known/openid-configuration and a JWKS, whose tokens are
// signed with go-jose; Fulcio trusts them as a GitHub Actions issuer and an email issuer.
//
// By default there is no certificate-transparency log (so certificates carry no SCT: sign with InsecureSkipSCT and
// verify with IgnoreSCT); WithCannedCTLog adds a stand-in whose SCT Fulcio embeds in its certificates, and which
// never verifies. There is no Rekor (a local Rekor needs Trillian and MySQL). It is for tests only: nothing in the product
// imports it.
package testsigstore

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	ctclient "github.com/google/certificate-transparency-go/client"
	"github.com/google/certificate-transparency-go/jsonclient"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/sigstore/fulcio/pkg/ca/ephemeralca"
	"github.com/sigstore/fulcio/pkg/config"
	fulciopb "github.com/sigstore/fulcio/pkg/generated/protobuf"
	fulciolegacypb "github.com/sigstore/fulcio/pkg/generated/protobuf/legacy"
	fulciolog "github.com/sigstore/fulcio/pkg/log"
	"github.com/sigstore/fulcio/pkg/server"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// Audience is the audience Fulcio requires of identity tokens (its issuers' ClientID), as public Sigstore does.
const Audience = "sigstore"

// maxRequestSize is cmd/app's limit on a request body.
const maxRequestSize = 1 << 22

// init quiets Fulcio's process-wide logger down to warnings (why a token or key was refused), without stack traces.
// It is set once, before any server runs, because Fulcio's handlers read it unsynchronised.
func init() {
	cfg := zap.NewDevelopmentConfig()
	cfg.Level = zap.NewAtomicLevelAt(zap.WarnLevel)
	cfg.DisableStacktrace = true
	cfg.DisableCaller = true
	if l, err := cfg.Build(); err == nil {
		fulciolog.Logger = l.Sugar()
	}
}

// Sigstore is a running Fulcio with its OIDC issuers.
type Sigstore struct {
	// FulcioURL is the base URL of Fulcio's HTTP API ("http://127.0.0.1:PORT"): what --fulcio-url takes.
	FulcioURL string
	// GitHubIssuer is the URL of the OIDC issuer Fulcio reads as GitHub Actions (type github-workflow): its tokens
	// give certificates whose identity is https://github.com/<job_workflow_ref>.
	GitHubIssuer string
	// EmailIssuer is the URL of the OIDC issuer Fulcio reads as an email provider: its tokens give certificates
	// whose identity is the verified email claim.
	EmailIssuer string
	// Root is the ephemeral CA's root certificate, the whole chain Fulcio certifies with.
	Root *x509.Certificate

	signer jose.Signer
}

// Option configures Start.
type Option func(*options)

type options struct {
	cannedCTLog bool
}

// WithCannedCTLog gives Fulcio a CT log that answers every submission with the same canned SCT, as Fulcio's own
// server tests do: Fulcio (whose ephemeral CA issues precertificates) embeds that SCT in the certificate, and since
// it was not made for the certificate, nor by a log anyone trusts, a signer that verifies SCTs must refuse it.
func WithCannedCTLog() Option { return func(o *options) { o.cannedCTLog = true } }

// Start runs Fulcio and its issuers for the duration of the test t.
func Start(t testing.TB, opts ...Option) *Sigstore {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	s, stop, err := start(o)
	if err != nil {
		t.Fatalf("starting an in-process Fulcio: %v", err)
	}
	t.Cleanup(stop)
	return s
}

func start(o options) (s *Sigstore, stop func(), err error) {
	var cleanups []func()
	stop = func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()

	// The OIDC issuers: one key, two issuer URLs under one server.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, stop, err
	}
	const kid = "testsigstore"
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, stop, err
	}
	jwks := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: kid, Algorithm: string(jose.RS256), Use: "sig"}}}
	mux := http.NewServeMux()
	oidc := httptest.NewServer(mux)
	cleanups = append(cleanups, oidc.Close)
	s = &Sigstore{GitHubIssuer: oidc.URL + "/github", EmailIssuer: oidc.URL + "/email", signer: signer}
	for _, issuer := range []string{s.GitHubIssuer, s.EmailIssuer} {
		path := strings.TrimPrefix(issuer, oidc.URL)
		mux.HandleFunc("GET "+path+"/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, map[string]any{
				"issuer":                                issuer,
				"jwks_uri":                              issuer + "/keys",
				"response_types_supported":              []string{"id_token"},
				"subject_types_supported":               []string{"public"},
				"id_token_signing_alg_values_supported": []string{string(jose.RS256)},
			})
		})
		mux.HandleFunc("GET "+path+"/keys", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, jwks) })
	}

	// Fulcio's configuration: config.Read fetches each issuer's discovery document, so the issuers run first.
	cfgJSON, err := json.Marshal(map[string]any{"OIDCIssuers": map[string]any{
		s.GitHubIssuer: map[string]string{"IssuerURL": s.GitHubIssuer, "ClientID": Audience, "Type": string(config.IssuerTypeGithubWorkflow)},
		s.EmailIssuer:  map[string]string{"IssuerURL": s.EmailIssuer, "ClientID": Audience, "Type": string(config.IssuerTypeEmail)},
	}})
	if err != nil {
		return nil, stop, err
	}
	cfg, err := config.Read(cfgJSON)
	if err != nil {
		return nil, stop, fmt.Errorf("fulcio config: %w", err)
	}
	eca, err := ephemeralca.NewEphemeralCA()
	if err != nil {
		return nil, stop, fmt.Errorf("ephemeral CA: %w", err)
	}
	certs, _ := eca.GetSignerWithChain()
	s.Root = certs[len(certs)-1]
	algorithms, err := signature.NewAlgorithmRegistryConfig([]protocommon.PublicKeyDetails{
		protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256,
		protocommon.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384,
		protocommon.PublicKeyDetails_PKIX_ECDSA_P521_SHA_512,
		protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_2048_SHA256,
		protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_3072_SHA256,
		protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_4096_SHA256,
		protocommon.PublicKeyDetails_PKIX_ED25519,
	})
	if err != nil {
		return nil, stop, err
	}
	// Without a CT log client Fulcio issues certificates without an SCT.
	var ct *ctclient.LogClient
	if o.cannedCTLog {
		log := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, cannedSCT)
		}))
		cleanups = append(cleanups, log.Close)
		if ct, err = ctclient.New(log.URL, &http.Client{Timeout: 30 * time.Second}, jsonclient.Options{}); err != nil {
			return nil, stop, err
		}
	}
	ca := server.NewGRPCCAServer(ct, eca, algorithms, server.NewIssuerPool(cfg))

	// The v2 gRPC service and the legacy v1 one, each on its own loopback listener, with cmd/app's interceptor that
	// puts the configuration in each request's context.
	serve := func(register func(*grpc.Server)) (string, error) {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		g := grpc.NewServer(grpc.UnaryInterceptor(passConfig(cfg)), grpc.MaxRecvMsgSize(maxRequestSize))
		register(g)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = g.Serve(lis)
		}()
		cleanups = append(cleanups, func() { g.Stop(); <-done })
		return lis.Addr().String(), nil
	}
	v2Addr, err := serve(func(g *grpc.Server) { fulciopb.RegisterCAServer(g, ca) })
	if err != nil {
		return nil, stop, err
	}
	legacyAddr, err := serve(func(g *grpc.Server) { fulciolegacypb.RegisterCAServer(g, server.NewLegacyGRPCCAServer(ca)) })
	if err != nil {
		return nil, stop, err
	}

	// The HTTP gateway, as cmd/app's createHTTPServer builds it.
	ctx, cancel := context.WithCancel(context.Background())
	cleanups = append(cleanups, cancel)
	gw := runtime.NewServeMux(runtime.WithMetadata(tokenFromAuthHeader), runtime.WithForwardResponseOption(setResponseCode))
	dial := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if err := fulciopb.RegisterCAHandlerFromEndpoint(ctx, gw, v2Addr, dial); err != nil {
		return nil, stop, err
	}
	if err := fulciolegacypb.RegisterCAHandlerFromEndpoint(ctx, gw, legacyAddr, dial); err != nil {
		return nil, stop, err
	}
	fulcio := httptest.NewServer(server.WithMaxBytes(gw, maxRequestSize))
	cleanups = append(cleanups, fulcio.Close)
	s.FulcioURL = fulcio.URL
	return s, stop, nil
}

// cannedSCT is the add-chain answer of the fake CT log in Fulcio's pkg/server tests.
const cannedSCT = `{"sct_version":0,"id":"KHYaGJAn++880NYaAY12sFBXKcenQRvMvfYE9F1CYVM=","timestamp":1337,"extensions":"",` +
	`"signature":"BAMARjBEAiAIc21J5ZbdKZHw5wLxCP+MhBEsV5+nfvGyakOIv6FOvAIgWYMZb6Pw///uiNM7QTg2Of1OqmK1GbeGuEl9VJN8v8c="}`

// passConfig is cmd/app's PassFulcioConfigThruContext.
func passConfig(cfg *config.FulcioConfig) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		return handler(config.With(ctx, cfg), req)
	}
}

// tokenFromAuthHeader is cmd/app's extractOIDCTokenFromAuthHeader.
func tokenFromAuthHeader(_ context.Context, req *http.Request) metadata.MD {
	token := strings.Replace(req.Header.Get("Authorization"), "Bearer ", "", 1)
	return metadata.Pairs(server.MetadataOIDCTokenKey, token)
}

// setResponseCode is cmd/app's setResponseCodeModifier: the SCT header and the status code the services put in
// the gRPC header metadata become HTTP ones, and no other gRPC header leaks out.
func setResponseCode(ctx context.Context, w http.ResponseWriter, _ proto.Message) error {
	md, ok := runtime.ServerMetadataFromContext(ctx)
	if !ok {
		return nil
	}
	if vals := md.HeaderMD.Get(server.SCTMetadataKey); len(vals) > 0 {
		delete(md.HeaderMD, server.SCTMetadataKey)
		delete(w.Header(), "Grpc-Metadata-sct")
		w.Header().Set("SCT", vals[0])
	}
	for k := range w.Header() {
		if strings.HasPrefix(k, "Grpc-") {
			delete(w.Header(), k)
		}
	}
	if vals := md.HeaderMD.Get(server.HTTPResponseCodeMetadataKey); len(vals) > 0 {
		code, err := strconv.Atoi(vals[0])
		if err != nil {
			return err
		}
		delete(md.HeaderMD, server.HTTPResponseCodeMetadataKey)
		w.WriteHeader(code)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// RootPEM returns the Fulcio CA's root certificate, PEM-encoded: what --fulcio-root (or SIGSTORE_ROOT_FILE) names.
func (s *Sigstore) RootPEM() []byte {
	b, err := cryptoutils.MarshalCertificateToPEM(s.Root)
	if err != nil {
		panic(err) // a parsed certificate always marshals
	}
	return b
}

// TrustedRootJSON returns a sigstore trusted_root.json that trusts this Fulcio and nothing else: no transparency
// log, no CT log, no timestamp authority. Verifying with it needs IgnoreTlog and IgnoreSCT.
func (s *Sigstore) TrustedRootJSON(t testing.TB) []byte {
	t.Helper()
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01,
		[]root.CertificateAuthority{&root.FulcioCertificateAuthority{
			Root:                s.Root,
			ValidityPeriodStart: s.Root.NotBefore,
			URI:                 s.FulcioURL,
		}}, nil, nil, nil)
	if err != nil {
		t.Fatalf("trusted root: %v", err)
	}
	b, err := tr.MarshalJSON()
	if err != nil {
		t.Fatalf("trusted root: %v", err)
	}
	return b
}

// GitHubWorkflow names a GitHub Actions workflow run that a token is issued to.
type GitHubWorkflow struct {
	// Repository is "owner/name".
	Repository string
	// Path is the workflow file, ".github/workflows/release.yml".
	Path string
	// Ref is the git ref the workflow ran on, "refs/heads/main".
	Ref string
}

// Identity is the certificate identity Fulcio gives this workflow:
// https://github.com/<repository>/<path>@<ref>, what --certificate-identity expects.
func (w GitHubWorkflow) Identity() string {
	return "https://github.com/" + w.jobWorkflowRef()
}

func (w GitHubWorkflow) jobWorkflowRef() string { return w.Repository + "/" + w.Path + "@" + w.Ref }

// GitHubToken returns an identity token from the GitHub issuer for workflow w, with every claim Fulcio requires of
// a GitHub Actions token, valid for ten minutes.
func (s *Sigstore) GitHubToken(t testing.TB, w GitHubWorkflow) string {
	t.Helper()
	owner, _, _ := strings.Cut(w.Repository, "/")
	return s.Token(t, s.GitHubIssuer, map[string]any{
		"sub":                   "repo:" + w.Repository + ":ref:" + w.Ref,
		"job_workflow_ref":      w.jobWorkflowRef(),
		"job_workflow_sha":      "0123456789abcdef0123456789abcdef01234567",
		"sha":                   "0123456789abcdef0123456789abcdef01234567",
		"event_name":            "push",
		"repository":            w.Repository,
		"repository_id":         "1",
		"repository_owner":      owner,
		"repository_owner_id":   "2",
		"repository_visibility": "public",
		"workflow":              w.Path,
		"workflow_ref":          w.jobWorkflowRef(),
		"workflow_sha":          "0123456789abcdef0123456789abcdef01234567",
		"ref":                   w.Ref,
		"runner_environment":    "github-hosted",
		"run_id":                "42",
		"run_attempt":           "1",
	})
}

// EmailToken returns an identity token from the email issuer for a verified address, valid for ten minutes.
func (s *Sigstore) EmailToken(t testing.TB, email string) string {
	t.Helper()
	return s.Token(t, s.EmailIssuer, map[string]any{"sub": email, "email": email, "email_verified": true})
}

// Token returns a token signed by the issuers' key with the given claims on top of iss (issuer), aud (Audience),
// iat and nbf (now) and exp (in ten minutes); a claim given replaces the default one.
func (s *Sigstore) Token(t testing.TB, issuer string, claims map[string]any) string {
	t.Helper()
	now := time.Now()
	std := jwt.Claims{
		Issuer:    issuer,
		Audience:  jwt.Audience{Audience},
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
		Expiry:    jwt.NewNumericDate(now.Add(10 * time.Minute)),
	}
	tok, err := jwt.Signed(s.signer).Claims(std).Claims(claims).Serialize()
	if err != nil {
		t.Fatalf("signing a token: %v", err)
	}
	return tok
}
