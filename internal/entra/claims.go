package entra

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Claims are the claims of an Entra ID access token that tokend reads.
type Claims struct {
	Aud               string   `json:"aud"`
	Iss               string   `json:"iss"`
	TID               string   `json:"tid"`
	OID               string   `json:"oid"`
	AppID             string   `json:"appid"`
	AZP               string   `json:"azp"`
	UPN               string   `json:"upn"`
	UniqueName        string   `json:"unique_name"`
	PreferredUsername string   `json:"preferred_username"`
	SCP               string   `json:"scp"`
	Roles             []string `json:"roles"`
	Exp               int64    `json:"exp"`
}

// ReadClaims reads an access token's claims without verifying it: the
// signature is for the resource to check; tokend reads who a token is for
// and when it ends, to show them (never the token).
func ReadClaims(accessToken string) (Claims, error) {
	var c Claims
	parts := strings.Split(accessToken, ".")
	if len(parts) != 3 {
		return c, errors.New("the access token is not a JWT")
	}
	if len(parts[1]) > 64<<10 {
		return c, errors.New("the access token's payload is over 64 KiB")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return c, fmt.Errorf("the access token's payload is not base64url: %w", err)
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return c, fmt.Errorf("the access token's payload is not JSON claims: %w", err)
	}
	return c, nil
}

// accountOf reads who an Entra access token is for (upn, unique_name or
// preferred_username of a user; appid of an app) and its tenant (tid), for
// the flows whose library reports no account (Azure CLI, managed
// identity). Both are "" for a token that is not a JWT.
func accountOf(accessToken string) (account, tenant string) {
	c, err := ReadClaims(accessToken)
	if err != nil {
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
