package sign

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	fulciopb "github.com/sigstore/fulcio/pkg/generated/protobuf"
	"google.golang.org/protobuf/encoding/protojson"
)

// userAgent names statepack to the Sigstore services and GitHub.
const userAgent = "statepack"

// serviceTimeout bounds one request to Fulcio or to GitHub's token endpoint when the caller's context has no
// earlier deadline, as sigstore-go's Fulcio client does.
const serviceTimeout = 30 * time.Second

// maxServiceResponse bounds what is read of a response: a certificate chain is a few kilobytes.
const maxServiceResponse = 1 << 20

// fulcioCertificate is what Fulcio returns for a certificate request.
type fulcioCertificate struct {
	certPEM  []byte // the leaf certificate
	chainPEM []byte // the rest of the chain, up to the root, as cosign's dev.sigstore.cosign/chain annotation holds it
	sct      []byte // a detached SCT (JSON), or nil when the certificate embeds its SCTs or has none
}

// requestCertificate asks Fulcio's v2 API (POST /api/v2/signingCert, the JSON form of its gRPC service, which
// public Sigstore and sigstore-go use) for a certificate binding publicKeyPEM to the identity in token; proof is
// the token subject signed with the private key. The token goes in the Authorization header only and is never in
// an error.
func requestCertificate(ctx context.Context, fulcioURL *url.URL, token string, publicKeyPEM, proof []byte) (*fulcioCertificate, error) {
	body, err := protojson.Marshal(&fulciopb.CreateSigningCertificateRequest{
		Key: &fulciopb.CreateSigningCertificateRequest_PublicKeyRequest{
			PublicKeyRequest: &fulciopb.PublicKeyRequest{
				PublicKey:         &fulciopb.PublicKey{Algorithm: fulciopb.PublicKeyAlgorithm_ECDSA, Content: string(publicKeyPEM)},
				ProofOfPossession: proof,
			},
		},
	})
	if err != nil {
		return nil, err
	}
	endpoint := fulcioURL.JoinPath("api", "v2", "signingCert")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := (&http.Client{Timeout: serviceTimeout}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxServiceResponse))
	if err != nil {
		return nil, fmt.Errorf("reading the response: %w", err)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return nil, fulcioError(resp.Status, raw, token)
	}
	var sc fulciopb.SigningCertificate
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(raw, &sc); err != nil {
		return nil, fmt.Errorf("reading the response: %w", err)
	}
	var chain []string
	var sct []byte
	switch {
	case sc.GetSignedCertificateEmbeddedSct() != nil:
		chain = sc.GetSignedCertificateEmbeddedSct().GetChain().GetCertificates()
	case sc.GetSignedCertificateDetachedSct() != nil:
		chain = sc.GetSignedCertificateDetachedSct().GetChain().GetCertificates()
		sct = sc.GetSignedCertificateDetachedSct().GetSignedCertificateTimestamp()
	}
	if len(chain) == 0 {
		return nil, errors.New("the response holds no certificate")
	}
	c := &fulcioCertificate{certPEM: []byte(chain[0]), sct: sct}
	for _, p := range chain[1:] {
		c.chainPEM = append(c.chainPEM, p...)
		if !strings.HasSuffix(p, "\n") {
			c.chainPEM = append(c.chainPEM, '\n')
		}
	}
	return c, nil
}

// fulcioError turns a refusal into an error that says what Fulcio said. Fulcio answers with a gRPC status in JSON,
// {"code":3,"message":"There was an error processing the identity token"}; its messages are fixed strings that
// never repeat the token, but whatever answers at the URL given might, so the token is removed before anything is
// cut short.
func fulcioError(status string, body []byte, token string) error {
	var st struct {
		Message string `json:"message"`
	}
	msg := strings.TrimSpace(string(body))
	if json.Unmarshal(body, &st) == nil && st.Message != "" {
		msg = st.Message
	}
	msg = redactString(msg, token)
	if len(msg) > 512 {
		msg = msg[:512] + "…"
	}
	err := fmt.Errorf("answered %s: %s", status, msg)
	if strings.Contains(msg, "identity token") {
		err = fmt.Errorf("%w (an expired token, an audience other than %q, or an issuer this Fulcio does not trust?)", err, "sigstore")
	}
	return err
}
