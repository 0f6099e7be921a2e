package entra

import (
	"encoding/base64"
	"encoding/json"
	"strings"
)

// accountOf reads, without verifying, who an Entra access token is for
// (upn, unique_name or preferred_username of a user; appid of an app) and
// its tenant (tid), for the flows whose library reports no account (Azure
// CLI, managed identity). Both are "" for a token that is not a JWT.
func accountOf(accessToken string) (account, tenant string) {
	parts := strings.Split(accessToken, ".")
	if len(parts) != 3 || len(parts[1]) > 64<<10 {
		return "", ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return "", ""
	}
	var c struct {
		UPN               string `json:"upn"`
		UniqueName        string `json:"unique_name"`
		PreferredUsername string `json:"preferred_username"`
		AppID             string `json:"appid"`
		AZP               string `json:"azp"`
		TID               string `json:"tid"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return "", ""
	}
	for _, a := range []string{c.UPN, c.UniqueName, c.PreferredUsername, c.AppID, c.AZP} {
		if a != "" {
			account = truncate(a, 256)
			break
		}
	}
	if guidLike(c.TID) {
		tenant = c.TID
	}
	return account, tenant
}
