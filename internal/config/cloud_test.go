package config

import (
	"strings"
	"testing"
)

// TestClouds: the cloud picks the authority host, a workspace's DNS zone
// picks the cloud when none is set, and authority overrides everything; an
// authority naming only a host takes the tenant (given or discovered).
func TestClouds(t *testing.T) {
	for _, tc := range []struct {
		name, profile          string
		cloud, authority, host string
		needsTenant            bool
	}{
		{"default", `tenant = "t"`, "public", "https://login.microsoftonline.com/t", "login.microsoftonline.com", false},
		{"usgov", `tenant = "t"` + "\ncloud = \"usgov\"", "usgov", "https://login.microsoftonline.us/t", "login.microsoftonline.us", false},
		{"china", `tenant = "t"` + "\ncloud = \"china\"", "china", "https://login.chinacloudapi.cn/t", "login.chinacloudapi.cn", false},
		{"workspace in usgov", `databricks_host = "adb-1.2.databricks.azure.us"`, "usgov", "https://login.microsoftonline.us/", "login.microsoftonline.us", true},
		{"workspace in china", `databricks_host = "https://adb-1.2.databricks.azure.cn/"`, "china", "https://login.chinacloudapi.cn/", "login.chinacloudapi.cn", true},
		{"public workspace", `databricks_host = "adb-1.2.azuredatabricks.net"`, "public", "https://login.microsoftonline.com/", "login.microsoftonline.com", true},
		{"explicit cloud wins", `tenant = "t"` + "\ncloud = \"public\"\ndatabricks_host = \"adb-1.databricks.azure.us\"", "public", "https://login.microsoftonline.com/t", "login.microsoftonline.com", false},
		{"authority overrides", `authority = "https://127.0.0.1:8443/T2/"` + "\ncloud = \"china\"", "china", "https://127.0.0.1:8443/T2", "127.0.0.1:8443", false},
		{"authority host and tenant", `authority = "https://login.microsoftonline.us"` + "\ntenant = \"t\"", "public", "https://login.microsoftonline.us/t", "login.microsoftonline.us", false},
		{"authority host, discovered tenant", `authority = "https://Emu.Example:8443/"` + "\ndatabricks_host = \"https://emu.example:8443\"", "public", "https://Emu.Example:8443/", "emu.example:8443", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("c.toml", []byte("[profiles.p]\nflow = \"browser\"\nclient_id = \"c\"\n"+tc.profile+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			p := c.Profiles["p"]
			if p.Cloud != tc.cloud || p.AuthorityURL() != tc.authority || p.AuthorityHost() != tc.host || p.NeedsTenant() != tc.needsTenant {
				t.Errorf("cloud %q authority %q host %q needs tenant %v; want %q %q %q %v",
					p.Cloud, p.AuthorityURL(), p.AuthorityHost(), p.NeedsTenant(), tc.cloud, tc.authority, tc.host, tc.needsTenant)
			}
		})
	}
}

func TestAuthorityErrors(t *testing.T) {
	for _, tc := range []struct{ name, profile, want string }{
		{"host only, no tenant", `authority = "https://login.microsoftonline.com"`, "set tenant"},
		{"query", `authority = "https://h/t?x=1"` + "\ntenant = \"t\"", "want https://HOST/TENANT"},
		{"not https", `authority = "http://h/t"`, "want https://HOST/TENANT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("c.toml", []byte("[profiles.p]\nflow = \"client-secret\"\nclient_id = \"c\"\n"+tc.profile+"\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestWorkspaceCloud(t *testing.T) {
	for host, want := range map[string]string{
		"https://adb-1.2.azuredatabricks.net":      "public",
		"adb-1.2.DATABRICKS.AZURE.US":              "usgov",
		"https://adb-1.databricks.azure.cn:443":    "china",
		"https://databricks.azure.us.evil.example": "public",
		"": "public",
	} {
		if got := WorkspaceCloud(host); got != want {
			t.Errorf("WorkspaceCloud(%q) = %q, want %q", host, got, want)
		}
	}
}
