package entraemu

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Service identities: managed identities (the App Service and IMDS
// endpoints an Azure host offers its programs), workload identity federation
// (a Kubernetes-style issuer whose tokens an app exchanges for Entra
// tokens), and controls over app credentials (rotate a secret, issue a
// certificate, trust a certificate subject).
const (
	// ManagedIdentityPath is the App Service managed-identity endpoint
	// (IDENTITY_ENDPOINT = URL()+ManagedIdentityPath), which wants
	// ManagedIdentityHeader in X-IDENTITY-HEADER (IDENTITY_HEADER).
	ManagedIdentityPath = "/msi/token"
	// IMDSPath is the Azure Instance Metadata Service token endpoint, which
	// wants the header "Metadata: true". MSAL calls it at the fixed address
	// 169.254.169.254; tests route that address to the emulator.
	IMDSPath = "/metadata/identity/oauth2/token"
	// ManagedIdentityHeader is the fixture's IDENTITY_HEADER.
	ManagedIdentityHeader = "emulator-identity-header-not-a-secret"

	// SystemAssignedClientID and SystemAssignedObjectID are the host's
	// system-assigned managed identity: what a request naming no identity
	// gets.
	SystemAssignedClientID = "5157e000-aaaa-4bbb-8ccc-000000000001"
	SystemAssignedObjectID = "5157e000-aaaa-4bbb-8ccc-0000000000a1"
	// UserAssignedClientID, UserAssignedObjectID and UserAssignedResourceID
	// name the host's user-assigned managed identity.
	UserAssignedClientID   = "05e4a551-aaaa-4bbb-8ccc-000000000002"
	UserAssignedObjectID   = "05e4a551-aaaa-4bbb-8ccc-0000000000a2"
	UserAssignedResourceID = "/subscriptions/00000000-0000-4000-8000-000000000000/resourcegroups/tokend/providers/Microsoft.ManagedIdentity/userAssignedIdentities/tokend-emulator"

	// WorkloadClientID is an app whose only credential is a federated one:
	// tokens of FederatedIssuer for FederatedSubject and FederatedAudience
	// (see Emulator.FederatedToken), as an AKS workload identity has.
	WorkloadClientID  = "f3d3ea7e-aaaa-4bbb-8ccc-000000000003"
	FederatedIssuer   = "https://oidc.tokend.test/cluster"
	FederatedSubject  = "system:serviceaccount:default:workload"
	FederatedAudience = "api://AzureADTokenExchange"
)

// managedIdentity is an identity of the emulated Azure host.
type managedIdentity struct {
	clientID, objectID, resourceID string
}

var managedIdentities = []managedIdentity{
	{clientID: SystemAssignedClientID, objectID: SystemAssignedObjectID},
	{clientID: UserAssignedClientID, objectID: UserAssignedObjectID, resourceID: UserAssignedResourceID},
}

// federatedCredential is a federated identity credential of an app.
type federatedCredential struct {
	issuer, subject, audience string
}

// federatedIssuer signs the fixture issuer's tokens; its key is made on
// first use.
type federatedIssuer struct {
	once sync.Once
	key  *rsa.PrivateKey
	kid  string
	err  error
}

func (f *federatedIssuer) signer() (*rsa.PrivateKey, string, error) {
	f.once.Do(func() {
		f.key, f.err = rsa.GenerateKey(rand.Reader, 2048)
		if f.err == nil {
			der, _ := x509.MarshalPKIXPublicKey(&f.key.PublicKey)
			sum := sha256.Sum256(der)
			f.kid = b64(sum[:16])
		}
	})
	return f.key, f.kid, f.err
}

// identityRoutes registers the managed-identity endpoints and the admin
// controls of this file.
func (e *Emulator) identityRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+ManagedIdentityPath, e.handleAppServiceIdentity)
	mux.HandleFunc("GET "+IMDSPath, e.handleIMDS)
	mux.HandleFunc("POST /_emulator/client/secret", e.adminClientSecret)
	mux.HandleFunc("POST /_emulator/certificate", e.adminCertificate)
	mux.HandleFunc("POST /_emulator/federated/token", e.adminFederatedToken)
}

// SetClientSecret replaces the secret of a confidential client (a
// rotation): the old secret fails from now on with invalid_client
// AADSTS7000215.
func (e *Emulator) SetClientSecret(clientID, secret string) error {
	if secret == "" {
		return errors.New("emulator: empty secret")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.clients[strings.ToLower(clientID)]
	switch {
	case c == nil:
		return fmt.Errorf("emulator: unknown client %s", clientID)
	case c.public:
		return fmt.Errorf("emulator: %s is a public client", clientID)
	}
	c.secret = secret
	return nil
}

// IssueClientCertificate makes an RSA client certificate for commonName,
// issued by the emulator's CA and valid from notBefore to notAfter, and
// returns it and its PKCS#8 key, PEM encoded. It registers nothing: see
// RegisterClientCertificate and TrustCertificateSubject.
func (e *Emulator) IssueClientCertificate(commonName string, notBefore, notAfter time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, fmt.Errorf("emulator: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: commonName, Organization: []string{"tokend emulator"}},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, e.pki.caCert, key.Public(), e.pki.caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("emulator: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("emulator: %w", err)
	}
	return pemBlock("CERTIFICATE", der), pemBlock("PRIVATE KEY", keyDER), nil
}

// TrustCertificateSubject lets clientID authenticate with any certificate
// for commonName that the emulator's CA issued, without registering it
// (subject name and issuer authentication): the client assertion must carry
// the chain in its x5c header (MSAL: WithX5C).
func (e *Emulator) TrustCertificateSubject(clientID, commonName string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.clients[strings.ToLower(clientID)]
	switch {
	case c == nil:
		return fmt.Errorf("emulator: unknown client %s", clientID)
	case c.public:
		return fmt.Errorf("emulator: %s is a public client", clientID)
	case commonName == "":
		return errors.New("emulator: empty subject")
	}
	if !slices.Contains(c.subjects, commonName) {
		c.subjects = append(c.subjects, commonName)
	}
	return nil
}

// subjectKey finds the key of an assertion by subject name and issuer: the
// first certificate of its x5c chain must be issued by the emulator's CA to
// a subject the client trusts, and valid now.
func (e *Emulator) subjectKey(c *client, x5c []string, now time.Time) (*rsa.PublicKey, *oauthError) {
	e.mu.Lock()
	subjects := slices.Clone(c.subjects)
	e.mu.Unlock()
	if len(subjects) == 0 || len(x5c) == 0 {
		return nil, nil
	}
	der, err := base64.StdEncoding.DecodeString(x5c[0])
	if err != nil {
		return nil, errInvalidRequest(50027, "JWT token is invalid or malformed.")
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, errInvalidRequest(50027, "JWT token is invalid or malformed.")
	}
	pub, ok := leaf.PublicKey.(*rsa.PublicKey)
	if !ok || !slices.Contains(subjects, leaf.Subject.CommonName) || leaf.CheckSignatureFrom(e.pki.caCert) != nil {
		return nil, errInvalidClient(700027, "Client assertion failed signature validation. [Reason - The certificate chain in x5c is not trusted for subject name and issuer authentication of app '%s'.]", c.id)
	}
	if expired(leaf.NotBefore, leaf.NotAfter, now) {
		return nil, errKeyExpired(c.id, leaf.NotBefore, leaf.NotAfter)
	}
	return pub, nil
}

// expired reports whether [notBefore, notAfter] excludes both the
// emulator's time and the real time: clients sign with the wall clock while
// tests move the emulator's, so either counts.
func expired(notBefore, notAfter, now time.Time) bool {
	out := func(t time.Time) bool { return t.Before(notBefore) || t.After(notAfter) }
	return out(now) && out(time.Now())
}

func errKeyExpired(clientID string, notBefore, notAfter time.Time) *oauthError {
	return errInvalidClient(700027, "Client assertion failed signature validation. [Reason - The key used is expired., Found key 'Start=%s, End=%s', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '%s'.]",
		notBefore.UTC().Format("01/02/2006 15:04:05"), notAfter.UTC().Format("01/02/2006 15:04:05"), clientID)
}

// AddFederatedCredential lets clientID authenticate with tokens of issuer
// for subject and audience. Only FederatedIssuer, whose tokens
// FederatedToken mints, can sign them.
func (e *Emulator) AddFederatedCredential(clientID, issuer, subject, audience string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.clients[strings.ToLower(clientID)]
	if c == nil {
		c = &client{id: strings.ToLower(clientID), name: "registered client " + clientID, spOID: derivedGUID("sp", clientID)}
		e.clients[c.id] = c
	}
	if c.public {
		return fmt.Errorf("emulator: %s is a public client", clientID)
	}
	c.federated = append(c.federated, federatedCredential{issuer: issuer, subject: subject, audience: audience})
	return nil
}

// FederatedToken returns a token of FederatedIssuer for subject and
// audience (FederatedAudience when empty), as a Kubernetes cluster projects
// into a pod, living lifetime from the emulator's now (negative: already
// expired).
func (e *Emulator) FederatedToken(subject, audience string, lifetime time.Duration) (string, error) {
	key, kid, err := e.fed.signer()
	if err != nil {
		return "", fmt.Errorf("emulator: %w", err)
	}
	if audience == "" {
		audience = FederatedAudience
	}
	now := e.Now()
	claims := map[string]any{
		"iss": FederatedIssuer, "sub": subject, "aud": []string{audience},
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(lifetime).Unix(), "jti": newGUID(),
		"kubernetes.io": map[string]any{"namespace": "default", "serviceaccount": map[string]string{"name": "workload"}},
	}
	return signRS256(key, kid, claims)
}

// signRS256 signs claims as an RS256 JWT with key, naming kid.
func signRS256(key *rsa.PrivateKey, kid string, claims map[string]any) (string, error) {
	return signJWT(key, map[string]any{"alg": "RS256", "kid": kid, "typ": "JWT"}, claims)
}

// verifyFederated checks a client assertion issued by another identity
// provider against c's federated identity credentials: issuer, subject and
// audience must match one, the issuer's signature must verify, and the
// token must be valid now.
func (e *Emulator) verifyFederated(c *client, a *assertion, now time.Time) *oauthError {
	e.mu.Lock()
	creds := slices.Clone(c.federated)
	e.mu.Unlock()
	aud := strings.Join(a.claims.Aud, " ")
	var byIssuer []federatedCredential
	for _, fc := range creds {
		if fc.issuer == a.claims.Iss {
			byIssuer = append(byIssuer, fc)
		}
	}
	if len(byIssuer) == 0 {
		return errInvalidClient(700211, "No matching federated identity record found for presented assertion issuer '%s'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.", sanitize(a.claims.Iss))
	}
	key, kid, err := e.fed.signer()
	if err != nil || a.claims.Iss != FederatedIssuer || a.header.Alg != "RS256" || a.header.Kid != kid {
		return errInvalidClient(700027, "Client assertion failed signature validation. [Reason - The key was not found.]")
	}
	sum := sha256.Sum256([]byte(a.signed))
	if rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, sum[:], a.sig) != nil {
		return errInvalidClient(700027, "Client assertion contains an invalid signature. [Reason - The key was found, but the signature could not be verified.]")
	}
	var bySubject []federatedCredential
	for _, fc := range byIssuer {
		if fc.subject == a.claims.Sub {
			bySubject = append(bySubject, fc)
		}
	}
	if len(bySubject) == 0 {
		return errInvalidClient(700213, "No matching federated identity record found for presented assertion subject '%s'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.", sanitize(a.claims.Sub))
	}
	if !slices.ContainsFunc(bySubject, func(fc federatedCredential) bool { return slices.Contains(a.claims.Aud, fc.audience) }) {
		return errInvalidClient(700212, "No matching federated identity record found for presented assertion audience '%s'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.", sanitize(aud))
	}
	exp, err1 := a.claims.Exp.Int64()
	nbf, err2 := a.claims.Nbf.Int64()
	if err2 != nil {
		nbf = 0
	}
	if err1 != nil || expired(time.Unix(nbf, 0).Add(-5*time.Minute), time.Unix(exp, 0).Add(5*time.Minute), now) {
		return errInvalidClient(700024, "Client assertion is not within its valid time range. Current time: %s, assertion valid from %s, expiry time of assertion %s.",
			now.UTC().Format(time.RFC3339), time.Unix(nbf, 0).UTC().Format(time.RFC3339), time.Unix(exp, 0).UTC().Format(time.RFC3339))
	}
	return nil
}

// miError is an error of a managed-identity endpoint: App Service speaks
// {"statusCode","message"}, IMDS speaks OAuth ({"error","error_description"}).
func miError(w http.ResponseWriter, imds bool, status int, msg string) {
	noStore(w)
	if imds {
		writeJSON(w, status, map[string]string{"error": "invalid_request", "error_description": msg})
		return
	}
	writeJSON(w, status, map[string]any{"statusCode": status, "message": msg, "correlationId": newGUID()})
}

// handleAppServiceIdentity is the App Service managed-identity endpoint
// (api-version 2019-08-01): GET ?resource=R[&client_id|&mi_res_id|&object_id|&principal_id]
// with X-IDENTITY-HEADER.
func (e *Emulator) handleAppServiceIdentity(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-IDENTITY-HEADER") != ManagedIdentityHeader {
		e.count("managed_identity")
		miError(w, false, http.StatusUnauthorized, "The X-IDENTITY-HEADER header is missing or invalid.")
		return
	}
	e.serveManagedIdentity(w, r, false, "2019-08-01", map[string]string{"client_id": "client", "mi_res_id": "resource", "object_id": "object", "principal_id": "object"})
}

// handleIMDS is the Instance Metadata Service token endpoint (api-version
// 2018-02-01): GET ?resource=R[&client_id|&object_id|&msi_res_id] with
// Metadata: true.
func (e *Emulator) handleIMDS(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Metadata") != "true" {
		e.count("managed_identity")
		miError(w, true, http.StatusBadRequest, "Required metadata header not specified")
		return
	}
	e.serveManagedIdentity(w, r, true, "2018-02-01", map[string]string{"client_id": "client", "msi_res_id": "resource", "mi_res_id": "resource", "object_id": "object"})
}

func (e *Emulator) serveManagedIdentity(w http.ResponseWriter, r *http.Request, imds bool, version string, selectors map[string]string) {
	if !e.applyFault(w, r) {
		return
	}
	e.count("managed_identity")
	q := r.URL.Query()
	if v := q.Get("api-version"); v != version {
		miError(w, imds, http.StatusBadRequest, fmt.Sprintf("api-version %q is not supported; use %s.", sanitize(v), version))
		return
	}
	resource := strings.TrimSuffix(q.Get("resource"), "/.default")
	if !validResource(resource) || !utf8Printable(resource) {
		miError(w, imds, http.StatusBadRequest, "A valid resource is required.")
		return
	}

	id, named := managedIdentities[0], ""
	for param, kind := range selectors {
		v := q.Get(param)
		if v == "" {
			continue
		}
		if named != "" {
			miError(w, imds, http.StatusBadRequest, "Only one of client_id, object_id and the resource id may be given.")
			return
		}
		named = v
		i := slices.IndexFunc(managedIdentities, func(m managedIdentity) bool {
			switch kind {
			case "client":
				return strings.EqualFold(m.clientID, v)
			case "object":
				return strings.EqualFold(m.objectID, v)
			}
			return m.resourceID != "" && strings.EqualFold(m.resourceID, v)
		})
		if i < 0 {
			msg := "No Managed Identity found for specified ClientId/ResourceId/PrincipalId."
			if imds {
				msg = "Identity not found"
			}
			miError(w, imds, http.StatusBadRequest, msg)
			return
		}
		id = managedIdentities[i]
	}
	// The host asks Entra for the token and passes its refusal on.
	res := e.lookupResource(resource)
	if res == nil {
		o := errUnknownResource(resource)
		miError(w, imds, http.StatusBadRequest, fmt.Sprintf("AADSTS%d: %s", o.aadsts, o.text))
		return
	}
	annotate(w, slog.String("client_id", id.clientID))
	now := e.Now()
	e.mu.Lock()
	life := e.lifetimeLocked()
	e.mu.Unlock()
	// The token's version follows the resource, as for any app token
	// (accessClaims).
	claims := map[string]any{
		"aud": resource, "iss": stsIssuer(), "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(life).Unix(),
		"tid": TenantID, "ver": "1.0", "uti": newSecret("")[:22], "appid": id.clientID, "appidacr": "2",
		"idp": stsIssuer(), "oid": id.objectID, "sub": id.objectID, "idtyp": "app", "roles": res.Roles,
		"xms_mirid": id.resourceID,
	}
	if res.TokenVersion == 2 {
		delete(claims, "appid")
		delete(claims, "appidacr")
		delete(claims, "idp")
		claims["aud"], claims["iss"], claims["ver"], claims["azp"], claims["azpacr"] = res.AppID, issuer(hostOf(r)), "2.0", id.clientID, "2"
	}
	if id.resourceID == "" {
		claims["xms_mirid"] = "/subscriptions/00000000-0000-4000-8000-000000000000/resourcegroups/tokend/providers/Microsoft.Web/sites/tokend-emulator"
	}
	access, err := e.pki.signJWT(claims)
	if err != nil {
		miError(w, imds, http.StatusInternalServerError, "There was an error issuing a token.")
		return
	}
	e.recordIssued(access)
	secs := strconv.FormatInt(int64(life/time.Second), 10)
	body := map[string]string{
		"access_token": access, "expires_on": strconv.FormatInt(now.Add(life).Unix(), 10),
		"resource": resource, "token_type": "Bearer", "client_id": id.clientID,
	}
	if imds {
		body["expires_in"], body["ext_expires_in"], body["not_before"] = secs, secs, strconv.FormatInt(now.Unix(), 10)
	}
	noStore(w)
	writeJSON(w, http.StatusOK, body)
}

func (e *Emulator) adminClientSecret(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ClientID string `json:"client_id"`
		Secret   string `json:"secret"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if err := e.SetClientSecret(req.ClientID, req.Secret); err != nil {
		adminError(w, err)
		return
	}
	ok(w)
}

// adminCertificate issues a certificate (and registers it by thumbprint,
// or trusts its subject), or registers the certificate given.
func (e *Emulator) adminCertificate(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ClientID        string `json:"client_id"`
		Certificate     string `json:"certificate"` // PEM to register; nothing is issued
		CommonName      string `json:"common_name"`
		LifetimeSeconds int64  `json:"lifetime_seconds"` // default a year; negative: already expired
		Register        string `json:"register"`         // thumbprint (default), subject or none
	}
	if !readJSON(w, r, &req) {
		return
	}
	if req.ClientID == "" {
		req.ClientID = ConfidentialClientID
	}
	if req.Certificate != "" {
		if err := e.RegisterClientCertificate(req.ClientID, []byte(req.Certificate)); err != nil {
			adminError(w, err)
			return
		}
		ok(w)
		return
	}
	if req.CommonName == "" {
		req.CommonName = "tokend emulator issued client"
	}
	life := time.Duration(req.LifetimeSeconds) * time.Second
	if req.LifetimeSeconds == 0 {
		life = 365 * 24 * time.Hour
	}
	if life > 100*365*24*time.Hour || life < -100*365*24*time.Hour {
		adminError(w, errors.New("lifetime_seconds out of range"))
		return
	}
	now := time.Now() // certificates are dated with the real clock
	notBefore, notAfter := now.Add(-time.Hour), now.Add(life)
	if life < 0 {
		notBefore = notAfter.Add(-365 * 24 * time.Hour)
	}
	certPEM, keyPEM, err := e.IssueClientCertificate(req.CommonName, notBefore, notAfter)
	if err == nil {
		switch req.Register {
		case "", "thumbprint":
			err = e.RegisterClientCertificate(req.ClientID, certPEM)
		case "subject":
			err = e.TrustCertificateSubject(req.ClientID, req.CommonName)
		case "none":
		default:
			err = fmt.Errorf("register %q: want thumbprint, subject or none", req.Register)
		}
	}
	if err != nil {
		adminError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"pem": string(certPEM) + string(keyPEM)})
}

func (e *Emulator) adminFederatedToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Subject         string `json:"subject"`
		Audience        string `json:"audience"`
		LifetimeSeconds int64  `json:"lifetime_seconds"` // default an hour; negative: already expired
	}
	if !readJSON(w, r, &req) {
		return
	}
	if req.Subject == "" {
		req.Subject = FederatedSubject
	}
	life := time.Duration(req.LifetimeSeconds) * time.Second
	if req.LifetimeSeconds == 0 {
		life = time.Hour
	}
	tok, err := e.FederatedToken(req.Subject, req.Audience, life)
	if err != nil {
		adminError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"token": tok})
}
