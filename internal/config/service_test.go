package config

import (
	"strings"
	"testing"
)

// TestServiceIdentityKeys covers the keys of the service-identity flows and
// the workspace resource id.
func TestServiceIdentityKeys(t *testing.T) {
	const ws = `"/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Databricks/workspaces/w"`
	for _, tc := range []struct {
		name, profile, want string // want: "" for valid
	}{
		{"certificate with x5c", "flow = \"client-certificate\"\ntenant = \"t\"\nclient_id = \"c\"\nsend_x5c = true", ""},
		{"x5c on another flow", "flow = \"client-secret\"\ntenant = \"t\"\nclient_id = \"c\"\nsend_x5c = true", "send_x5c applies to flow client-certificate only (this profile's flow is client-secret)"},
		{"system-assigned", "flow = \"managed-identity\"", ""},
		{"user-assigned by client id", "flow = \"managed-identity\"\nclient_id = \"c\"", ""},
		{"user-assigned by resource id", "flow = \"managed-identity\"\nmanaged_identity_resource_id = \"/subscriptions/s/resourcegroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/i\"", ""},
		{"user-assigned by object id", "flow = \"managed-identity\"\nmanaged_identity_object_id = \"o\"", ""},
		{"two identities", "flow = \"managed-identity\"\nclient_id = \"c\"\nmanaged_identity_object_id = \"o\"", "name the user-assigned identity once"},
		{"identity on another flow", "flow = \"azure-cli\"\nmanaged_identity_object_id = \"o\"", "managed_identity_object_id applies to flow managed-identity only"},
		{"workload with a file", "flow = \"workload-identity\"\ntenant = \"t\"\nclient_id = \"c\"\nfederated_token_file = \"/var/run/secrets/azure/tokens/azure-identity-token\"", ""},
		{"workload needs an app", "flow = \"workload-identity\"\ntenant = \"t\"", "flow workload-identity needs client_id"},
		{"token file on another flow", "flow = \"client-certificate\"\ntenant = \"t\"\nclient_id = \"c\"\nfederated_token_file = \"f\"", "federated_token_file applies to flow workload-identity only"},
		{"azure cli alone", "flow = \"azure-cli\"", ""},
		{"workspace resource id", "flow = \"azure-cli\"\nazure_workspace_resource_id = " + ws, ""},
		{"workspace resource id lower case", "flow = \"azure-cli\"\nazure_workspace_resource_id = " + strings.ToLower(ws), ""},
		{"not a workspace resource id", "flow = \"azure-cli\"\nazure_workspace_resource_id = \"adb-123\"", `azure_workspace_resource_id "adb-123": want /subscriptions/`},
		{"another kind of resource", "flow = \"azure-cli\"\nazure_workspace_resource_id = \"/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/a\"", "want /subscriptions/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("config.toml", []byte("[profiles.p]\n"+tc.profile+"\n"))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Parse: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Parse error = %v, want %q", err, tc.want)
			}
		})
	}
}
