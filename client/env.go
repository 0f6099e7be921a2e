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
// IDENTITY_ENDPOINT names the address the daemon listens on ([::1]
// literally for a daemon there). The metadata-service URL always names
// 127.0.0.1: the Databricks SDKs accept only 127.0.0.1 and localhost, and
// localhost names only 127.0.0.1 in many containers; a daemon on another
// loopback address also listens on 127.0.0.1 at the same port for it (see
// daemon.ListenTCP).
func ChildEnv(tcp, capability, databricksHost string) ([]EnvVar, error) {
	if tcp == "" {
		return nil, fmt.Errorf("tokend's TCP listener is off (daemon.http = \"\" in its config): programs reach tokend over loopback TCP, so remove that line (the default is 127.0.0.1:18653) and restart tokend")
	}
	ap, err := netip.ParseAddrPort(tcp)
	if err != nil || !ap.Addr().IsLoopback() {
		return nil, fmt.Errorf("tokend reports TCP listener %q: want a loopback IP and port", tcp)
	}
	host := net.JoinHostPort(ap.Addr().Unmap().String(), fmt.Sprint(ap.Port()))
	env := []EnvVar{
		{"IDENTITY_ENDPOINT", "http://" + host + "/msi/token"},
		{"IDENTITY_HEADER", capability},
	}
	if databricksHost != "" {
		env = append(env,
			EnvVar{"DATABRICKS_HOST", databricksHost},
			EnvVar{"DATABRICKS_AUTH_TYPE", "metadata-service"},
			EnvVar{"DATABRICKS_METADATA_SERVICE_URL", metadataServiceURL(ap.Port(), capability)},
		)
	}
	return env, nil
}

// MetadataServiceURL is the Databricks metadata-service URL of a capability
// (what .databrickscfg's metadata_service_url and
// DATABRICKS_METADATA_SERVICE_URL hold), for the daemon listening at tcp
// (Status.Listeners.TCP). It names 127.0.0.1, as ChildEnv says why.
func MetadataServiceURL(tcp, capability string) (string, error) {
	ap, err := netip.ParseAddrPort(tcp)
	if tcp == "" || err != nil || !ap.Addr().IsLoopback() {
		_, err := ChildEnv(tcp, "", "")
		if err == nil {
			err = fmt.Errorf("tokend reports TCP listener %q: want a loopback IP and port", tcp)
		}
		return "", err
	}
	return metadataServiceURL(ap.Port(), capability), nil
}

func metadataServiceURL(port uint16, capability string) string {
	return fmt.Sprintf("http://127.0.0.1:%d/databricks/%s", port, capability)
}

// ChildEnvUnset lists variables a child must not inherit: with them, the
// Azure SDKs would pick another managed-identity protocol (Service Fabric,
// Cloud Shell, Azure ML) instead of tokend's App Service endpoint.
func ChildEnvUnset() []string {
	return []string{"IDENTITY_SERVER_THUMBPRINT", "MSI_ENDPOINT", "MSI_SECRET"}
}
