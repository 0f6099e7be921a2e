// Package compattest proves that existing clients work against tokend
// unchanged: the Azure SDK's ManagedIdentityCredential and
// DefaultAzureCredential, MSAL Go's managed-identity client, a Databricks
// metadata-service client, client-go's exec-credential runner, and the real
// git, each driven through the `token` binary (exec, kube, git-credential,
// watch) against a daemon and the Entra ID emulator in the test process.
// It also runs the MSAL for Python examples of the Azure Databricks
// documentation (username and password, refresh token, authorization code
// with and without PKCE, device code, client credentials, cache and silent
// calls) against the emulator with Debian's python3-msal
// (testdata/databricks_msal.py).
//
// It is its own module so that these heavy clients stay out of tokend's
// go.mod. Run it from this directory:
//
//	go test -race -count=1 ./...
//
// It needs git (git-http-backend serves the test repository) and sh, and
// for the Python examples /usr/bin/python3 with python3-msal and the
// privilege to listen on port 443 of a loopback address (MSAL for Python
// asks the user realm on the authority's host at the default port); without
// them those tests are skipped, except in CI (CI set), where they fail.
package compattest
