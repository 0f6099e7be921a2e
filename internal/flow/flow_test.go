package flow

import (
	"strings"
	"testing"
)

func TestTable(t *testing.T) {
	seen := map[Name]bool{}
	for _, f := range All() {
		if seen[f.Name] {
			t.Errorf("%s twice", f.Name)
		}
		seen[f.Name] = true
		if f.Summary == "" || f.Timeout <= 0 {
			t.Errorf("%s: no summary or timeout", f.Name)
		}
		if f.Interactive != (f.Input == Person) {
			t.Errorf("%s: interactive %v but input %v", f.Name, f.Interactive, f.Input)
		}
		if f.User && !f.Keeps {
			t.Errorf("%s: a user flow keeps a refresh token", f.Name)
		}
		if g, ok := Lookup(f.Name); !ok || g.Name != f.Name {
			t.Errorf("Lookup(%s) = %v, %v", f.Name, g, ok)
		}
	}
	if _, ok := Lookup("nope"); ok {
		t.Error("Lookup found an unknown flow")
	}
}

func TestMethods(t *testing.T) {
	if !Get(Browser).Allows(DeviceCode) || !Get(DeviceCode).Allows(Password) || !Get(Password).Allows(RefreshToken) {
		t.Error("a user profile cannot sign in with another user flow")
	}
	if Get(Browser).Methods()[0].Name != Browser {
		t.Error("a profile's own flow is not its first method")
	}
	if Get(ClientSecret).Allows(ClientCertificate) || Get(Browser).Allows(ClientSecret) || Get(AzureCLI).Allows(Browser) {
		t.Error("methods cross from service to user flows")
	}
}

func TestLoginCommand(t *testing.T) {
	for name, want := range map[Name]string{
		Browser:         "token login dbx --browser",
		Password:        "token login dbx --username USER --password-stdin",
		AzureCLI:        "az login && token login dbx",
		ManagedIdentity: "token login dbx",
	} {
		if got := Get(name).LoginCommand("dbx"); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if !strings.Contains(Get(ClientCertificate).LoginCommand("sp"), "--certificate FILE") {
		t.Error("certificate login command")
	}
}

// TestLoginFlags: every flow that needs something typed has a flag of its
// own at `token login`, and no two flows share one.
func TestLoginFlags(t *testing.T) {
	seen := map[string]Name{}
	for _, f := range All() {
		flag := f.LoginFlag()
		if (flag == "") != (f.Input == NoInput) {
			t.Errorf("%s: login flag %q with input %v", f.Name, flag, f.Input)
		}
		if flag == "" {
			continue
		}
		if other, dup := seen[flag]; dup {
			t.Errorf("%s and %s share %s", f.Name, other, flag)
		}
		seen[flag] = f.Name
		if !strings.Contains(f.Args, flag) {
			t.Errorf("%s: login arguments %q lack its flag %s", f.Name, f.Args, flag)
		}
		if (f.Input.Stdin() == "") != (f.Input == Person) {
			t.Errorf("%s: reads %q from stdin", f.Name, f.Input.Stdin())
		}
	}
}
