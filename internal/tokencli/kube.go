package tokencli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tokend/tokend/client"
	"github.com/tokend/tokend/client/wire"
)

// aksServerID is the application id of the AKS Entra ID server, the
// audience of tokens for AKS clusters with Entra ID integration.
const aksServerID = "6dae42f8-4368-4678-94ff-3960e28e3630"

// ExecCredential API versions that client-go speaks.
const (
	execV1      = "client.authentication.k8s.io/v1"
	execV1beta1 = "client.authentication.k8s.io/v1beta1"
)

func newKubeCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "kube [PROFILE]",
		Short: "kubectl exec-credential plugin: an ExecCredential for AKS",
		Long: `Print an ExecCredential, in the apiVersion that KUBERNETES_EXEC_INFO asks
for, with a token of PROFILE for the cluster's Entra ID server (--server-id;
default: AKS's, 6dae42f8-4368-4678-94ff-3960e28e3630). kubectl runs it from a
kubeconfig's exec section.`,
		Example: `  # kubeconfig users[].user:
  exec:
    apiVersion: client.authentication.k8s.io/v1
    command: token
    args: [kube, aks]
    interactiveMode: Never`,
		GroupID:           groupTools,
		Args:              profileArgs,
		ValidArgsFunction: a.completeProfileArg,
	}
	serverID := cmd.Flags().String("server-id", aksServerID, "application id (or URI) of the cluster's Entra ID server")
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		profile, err := a.profileArg(args, false)
		if err != nil {
			return err
		}
		ctx, cancel := a.bounded(ctx)
		defer cancel()
		apiVersion, err := parseExecInfo(os.Getenv("KUBERNETES_EXEC_INFO"))
		if err != nil {
			return err
		}
		t, err := a.client().Token(ctx, client.TokenRequest{Profile: profile, Resource: *serverID})
		if err != nil {
			return err
		}
		return json.NewEncoder(a.stdout).Encode(execCredential(apiVersion, t))
	})
	return cmd
}

// parseExecInfo returns the ExecCredential apiVersion asked for by the
// KUBERNETES_EXEC_INFO that client-go passes to plugins: v1beta1 when it is
// absent (older kubectl) or names no version.
func parseExecInfo(info string) (string, error) {
	if strings.TrimSpace(info) == "" {
		return execV1beta1, nil
	}
	var v struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := json.Unmarshal([]byte(info), &v); err != nil {
		return "", fmt.Errorf("KUBERNETES_EXEC_INFO is not an ExecCredential: %w", err)
	}
	if v.Kind != "" && v.Kind != "ExecCredential" {
		return "", fmt.Errorf("KUBERNETES_EXEC_INFO is a %q, want an ExecCredential", v.Kind)
	}
	switch v.APIVersion {
	case "":
		return execV1beta1, nil
	case execV1, execV1beta1:
		return v.APIVersion, nil
	}
	return "", fmt.Errorf("KUBERNETES_EXEC_INFO asks for apiVersion %q: token speaks %s and %s (set apiVersion in the kubeconfig's exec section)", v.APIVersion, execV1, execV1beta1)
}

type execCredentialJSON struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Spec       struct {
		Interactive bool `json:"interactive"`
	} `json:"spec"`
	Status struct {
		ExpirationTimestamp string `json:"expirationTimestamp"`
		Token               string `json:"token"`
	} `json:"status"`
}

func execCredential(apiVersion string, t *wire.Token) execCredentialJSON {
	var c execCredentialJSON
	c.APIVersion, c.Kind = apiVersion, "ExecCredential"
	c.Status.Token = t.AccessToken
	c.Status.ExpirationTimestamp = time.Unix(t.ExpiresOn, 0).UTC().Format(time.RFC3339)
	return c
}
