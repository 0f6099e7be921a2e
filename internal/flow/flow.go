// Package flow is the one table of tokend's sign-in flows: what each one is
// and what it needs. The config validates a profile's flow against it,
// internal/entra registers one builder per flow, the daemon and `token`
// derive their behaviour (locking, timeouts, what to ask for, the command
// that signs a profile in) from it. Adding a flow means a row here and one
// file in internal/entra.
package flow

import (
	"slices"
	"time"
)

// Name names a flow, as a profile's `flow` key does.
type Name string

// The flows.
const (
	Browser           Name = "browser"
	DeviceCode        Name = "device-code"
	Password          Name = "password"
	RefreshToken      Name = "refresh-token"
	ClientSecret      Name = "client-secret"
	ClientCertificate Name = "client-certificate"
	AzureCLI          Name = "azure-cli"
	ManagedIdentity   Name = "managed-identity"
	WorkloadIdentity  Name = "workload-identity"
)

// Input is what `token login` reads for a sign-in.
type Input int

const (
	// NoInput: nothing to type; the sign-in checks a credential tokend
	// finds itself (az's sign-in, the host's identity, a token file).
	NoInput Input = iota
	// Person: a browser page or a device code, shown to the person.
	Person
	// UsernamePassword: --username and the password on stdin.
	UsernamePassword
	// RefreshTokenStdin: a refresh token on stdin.
	RefreshTokenStdin
	// ClientSecretStdin: a client secret on stdin.
	ClientSecretStdin
	// CertificateFile: --certificate FILE, its password (if any) on stdin.
	CertificateFile
)

// Flag is the flag of `token login` that gives this input and picks a
// flow that needs it; "" for NoInput (nothing to give) and Person (the
// browser and device-code flows have flags of their own, Flow.Flag).
func (i Input) Flag() string {
	switch i {
	case UsernamePassword:
		return "--password-stdin"
	case RefreshTokenStdin:
		return "--refresh-token-stdin"
	case ClientSecretStdin:
		return "--client-secret-stdin"
	case CertificateFile:
		return "--certificate"
	}
	return ""
}

// Stdin says what the input reads from standard input ("" for nothing): a
// secret never comes on the command line, where ps and shell history
// would show it.
func (i Input) Stdin() string {
	switch i {
	case UsernamePassword:
		return "password"
	case RefreshTokenStdin:
		return "refresh token"
	case ClientSecretStdin:
		return "client secret"
	case CertificateFile:
		return "certificate password" // only a PFX or an encrypted key has one
	}
	return ""
}

// Flow is one row of the table.
type Flow struct {
	Name    Name
	Summary string // what it is, for help and errors
	// User flows sign a person in with a public client and keep MSAL's
	// refresh token; any of them can sign in a profile of any other (the
	// profile's flow is its default).
	User bool
	// Interactive flows wait on a person (a browser, another device).
	Interactive bool
	// Keeps says a sign-in stores something: a refresh token, a secret, a
	// certificate. The store must be able to write before it starts.
	Keeps bool
	// App says the flow needs an app registration's client_id (for user
	// flows the config defaults it to the Azure CLI's public client).
	App   bool
	Input Input
	// Flag picks this flow at `token login` ("--browser"), "" where the
	// input's own flag does (--username, --certificate, …) or nothing does.
	Flag string
	// Args are the arguments of `token login PROFILE` for this flow, as
	// hints show them.
	Args string
	// Timeout bounds a sign-in: Entra's authorization codes live 10 minutes
	// and its device codes 15; everything else is one request.
	Timeout time.Duration
}

var table = []Flow{
	{Name: Browser, Summary: "a person signs in in a web browser (authorization code with PKCE)",
		User: true, Interactive: true, Keeps: true, App: true, Input: Person, Flag: "--browser", Args: "--browser", Timeout: 10 * time.Minute},
	{Name: DeviceCode, Summary: "a person signs in on another device with a code",
		User: true, Interactive: true, Keeps: true, App: true, Input: Person, Flag: "--device-code", Args: "--device-code", Timeout: 15 * time.Minute},
	{Name: Password, Summary: "a person's username and password (no MFA)",
		User: true, Keeps: true, App: true, Input: UsernamePassword, Args: "--username USER --password-stdin", Timeout: 2 * time.Minute},
	{Name: RefreshToken, Summary: "a refresh token obtained elsewhere, imported",
		User: true, Keeps: true, App: true, Input: RefreshTokenStdin, Args: "--refresh-token-stdin", Timeout: 2 * time.Minute},
	{Name: ClientSecret, Summary: "a service principal's client secret",
		Keeps: true, App: true, Input: ClientSecretStdin, Args: "--client-secret-stdin", Timeout: 2 * time.Minute},
	{Name: ClientCertificate, Summary: "a service principal's certificate",
		Keeps: true, App: true, Input: CertificateFile, Args: "--certificate FILE", Timeout: 2 * time.Minute},
	{Name: AzureCLI, Summary: "the Azure CLI's sign-in (az login)",
		Input: NoInput, Timeout: 2 * time.Minute},
	{Name: ManagedIdentity, Summary: "the managed identity of the Azure host",
		Input: NoInput, Timeout: 2 * time.Minute},
	{Name: WorkloadIdentity, Summary: "workload identity federation (a federated token file)",
		App: true, Input: NoInput, Timeout: 2 * time.Minute},
}

// Lookup returns the flow of that name.
func Lookup(name Name) (Flow, bool) {
	i := slices.IndexFunc(table, func(f Flow) bool { return f.Name == name })
	if i < 0 {
		return Flow{}, false
	}
	return table[i], true
}

// Get returns the flow of a name the config has validated; an unknown name
// gives the zero Flow.
func Get(name Name) Flow {
	f, _ := Lookup(name)
	return f
}

// All returns the table, in the order help lists it.
func All() []Flow { return slices.Clone(table) }

// Names returns every flow's name.
func Names() []string {
	names := make([]string, len(table))
	for i, f := range table {
		names[i] = string(f.Name)
	}
	return names
}

// Methods returns the flows that can sign in a profile of flow f: every
// user flow for a user flow (the profile's own first), else f alone.
func (f Flow) Methods() []Flow {
	if !f.User {
		return []Flow{f}
	}
	out := []Flow{f}
	for _, g := range table {
		if g.User && g.Name != f.Name {
			out = append(out, g)
		}
	}
	return out
}

// Allows reports whether method can sign in a profile of flow f.
func (f Flow) Allows(method Name) bool {
	return slices.ContainsFunc(f.Methods(), func(g Flow) bool { return g.Name == method })
}

// LoginFlag is the flag that picks this flow at `token login` (its own
// Flag, else its input's); "" for the flows that need nothing typed, which
// sign in with `token login PROFILE` alone.
func (f Flow) LoginFlag() string {
	if f.Flag != "" {
		return f.Flag
	}
	return f.Input.Flag()
}

// LoginCommand is the command that signs profile in with this flow.
func (f Flow) LoginCommand(profile string) string {
	cmd := "token login " + profile
	if f.Args != "" {
		cmd += " " + f.Args
	}
	if f.Name == AzureCLI {
		cmd = "az login && " + cmd
	}
	return cmd
}
