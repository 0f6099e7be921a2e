package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

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

// cmdKube is a kubectl exec-credential plugin: it prints an ExecCredential
// in the apiVersion that KUBERNETES_EXEC_INFO asks for.
func cmdKube(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "kube")
	serverID := f.String("server-id", aksServerID, "application id (or URI) of the cluster's Entra ID server")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	profile, err := f.profileArg(pos, false)
	if err != nil {
		return err
	}
	ctx, cancel := e.bounded(ctx)
	defer cancel()
	apiVersion, err := parseExecInfo(os.Getenv("KUBERNETES_EXEC_INFO"))
	if err != nil {
		return err
	}
	t, err := e.client().Token(ctx, client.TokenRequest{Profile: profile, Resource: *serverID})
	if err != nil {
		return err
	}
	return json.NewEncoder(e.stdout).Encode(execCredential(apiVersion, t))
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
