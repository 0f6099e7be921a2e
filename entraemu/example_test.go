package entraemu_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
	"github.com/tokend/tokend/entraemu"
)

// Start an emulator, point the real MSAL Go at it, and get a token for
// Azure Databricks as the fixture's service principal: a v1.0 token, as
// Entra issues for that resource.
func Example() {
	em, err := entraemu.New(entraemu.Config{})
	if err != nil {
		panic(err)
	}
	if err := em.Start("127.0.0.1:0"); err != nil {
		panic(err)
	}
	defer em.Close()

	cred, err := confidential.NewCredFromSecret(entraemu.ClientSecret)
	if err != nil {
		panic(err)
	}
	app, err := confidential.New(em.Authority(), entraemu.ConfidentialClientID, cred,
		confidential.WithHTTPClient(em.HTTPClient()), // trusts the emulator's CA
		confidential.WithInstanceDiscovery(false))    // never ask login.microsoftonline.com
	if err != nil {
		panic(err)
	}
	res, err := app.AcquireTokenByCredential(context.Background(), []string{entraemu.DatabricksResource + "/.default"})
	if err != nil {
		panic(err)
	}
	c, _ := em.Claims(res.AccessToken) // checks that the emulator signed it
	fmt.Println(c["aud"], c["ver"], c["iss"], c["appid"])

	// A resource the tenant does not have is refused, as Entra refuses it.
	_, err = app.AcquireTokenByCredential(context.Background(), []string{"api://nope/.default"})
	var callErr msalerrors.CallErr
	if errors.As(err, &callErr) {
		var body struct {
			Error      string `json:"error"`
			ErrorCodes []int  `json:"error_codes"`
		}
		_ = json.NewDecoder(callErr.Resp.Body).Decode(&body)
		fmt.Println(callErr.Resp.StatusCode, body.Error, body.ErrorCodes)
	}
	// Output:
	// 2ff814a6-3304-4ab8-85cb-cd0e6f879c1d 1.0 https://sts.windows.net/8d3c6e7a-1f2b-4c5d-9e0f-7a6b5c4d3e2f/ c0ffee00-1234-4abc-9def-0123456789ab
	// 400 invalid_resource [500011]
}
