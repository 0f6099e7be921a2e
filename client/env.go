package client

import (
	"fmt"
	"net"
	"net/netip"
)

// EnvVar is one environment variable for a child process.
type EnvVar struct {
	Name, Value string
}

// ChildEnv is the environment that `token env` and `token exec` give a
// program so that SDKs and CLIs get tokens from tokend unchanged: the App
// Service managed-identity variables (IDENTITY_ENDPOINT, IDENTITY_HEADER)
// and, when databricksHost is set, the Databricks metadata-service ones.
// tcp is the daemon's TCP listener (Status.Listeners.TCP); capability is
// the secret form of a capability for the profile.
//
// The metadata-service URL names 127.0.0.1 (the Databricks SDKs accept
// only 127.0.0.1 and localhost), or localhost for a daemon on [::1].
func ChildEnv(tcp, capability, databricksHost string) ([]EnvVar, error) {
	if tcp == "" {
		return nil, fmt.Errorf("tokend's TCP listener is off (daemon.http = \"\" in its config): programs reach tokend over loopback TCP, so set daemon.http = \"127.0.0.1:0\" and restart tokend")
	}
	ap, err := netip.ParseAddrPort(tcp)
	if err != nil || !ap.Addr().IsLoopback() {
		return nil, fmt.Errorf("tokend reports TCP listener %q: want a loopback IP and port", tcp)
	}
	port := fmt.Sprint(ap.Port())
	host := net.JoinHostPort(ap.Addr().Unmap().String(), port)
	dbxHost := host
	if !ap.Addr().Unmap().Is4() {
		dbxHost = net.JoinHostPort("localhost", port)
	}
	env := []EnvVar{
		{"IDENTITY_ENDPOINT", "http://" + host + "/msi/token"},
		{"IDENTITY_HEADER", capability},
	}
	if databricksHost != "" {
		env = append(env,
			EnvVar{"DATABRICKS_HOST", databricksHost},
			EnvVar{"DATABRICKS_AUTH_TYPE", "metadata-service"},
			EnvVar{"DATABRICKS_METADATA_SERVICE_URL", "http://" + dbxHost + "/databricks/" + capability},
		)
	}
	return env, nil
}

// ChildEnvUnset lists variables a child must not inherit: with them, the
// Azure SDKs would pick another managed-identity protocol (Service Fabric,
// Cloud Shell, Azure ML) instead of tokend's App Service endpoint.
func ChildEnvUnset() []string {
	return []string{"IDENTITY_SERVER_THUMBPRINT", "MSI_ENDPOINT", "MSI_SECRET"}
}
