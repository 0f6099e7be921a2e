// Package compattest proves that existing clients work against tokend
// unchanged: the Azure SDK's ManagedIdentityCredential and
// DefaultAzureCredential, MSAL Go's managed-identity client, a Databricks
// metadata-service client, client-go's exec-credential runner, and the real
// git, each driven through the `token` binary (exec, kube, git-credential,
// watch) against a daemon and the Entra ID emulator in the test process.
//
// It is its own module so that these heavy clients stay out of tokend's
// go.mod. Run it from this directory:
//
//	go test -race -count=1 ./...
//
// It needs git (git-http-backend serves the test repository) and sh.
package compattest
