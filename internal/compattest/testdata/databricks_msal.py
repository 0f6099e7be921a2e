"""The MSAL for Python examples of "Get Microsoft Entra ID tokens for users
by using MSAL" (Azure Databricks documentation,
https://learn.microsoft.com/azure/databricks/dev-tools/app-aad-token), run
against the tokend emulator with Debian's python3-msal.

Usage: databricks_msal.py FLOW CONFIG_JSON; prints one JSON line per result.
The examples are as documented but for two things a test needs: every app
gets instance_discovery=False (MSAL would otherwise ask
login.microsoftonline.com about the emulator's host), and the person at the
browser is played by sign_in(). The CA comes from REQUESTS_CA_BUNDLE.
"""
import html
import json
import re
import sys
import urllib.parse

import msal
import requests


def out(**kw):
    print(json.dumps(kw), flush=True)


def sign_in(auth_url, cfg):
    """Plays the person: opens the sign-in page, types the username and
    password, and returns the parameters of the redirect to the app."""
    s = requests.Session()
    page = s.get(auth_url)
    page.raise_for_status()
    action = re.search(r'<form method="POST" action="([^"]+)">', page.text).group(1)
    form = {html.unescape(k): html.unescape(v) for k, v in
            re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text)}
    form.update(username=cfg["username"], password=cfg["password"], emu_action="signin")
    r = s.post(urllib.parse.urljoin(auth_url, html.unescape(action)), data=form, allow_redirects=False)
    loc = urllib.parse.urlparse(r.headers["Location"])
    return dict(urllib.parse.parse_qsl(loc.query))


def public_app(cfg, **kw):
    return msal.PublicClientApplication(
        client_id=cfg["client_id"], authority=cfg["authority"], instance_discovery=False, **kw)


def main():
    flow, cfg = sys.argv[1], json.loads(sys.argv[2])
    scopes = cfg["scopes"]
    if flow == "username_password":
        app = public_app(cfg)
        result = app.acquire_token_by_username_password(
            username=cfg["username"], password=cfg["password"], scopes=scopes)
        out(result=result)
    elif flow == "refresh_token":
        app = public_app(cfg)
        result = app.acquire_token_by_refresh_token(refresh_token=cfg["refresh_token"], scopes=scopes)
        out(result=result)
    elif flow == "auth_code":
        # The documented flow without PKCE: the authorization request URL,
        # a code from the browser, then the code for tokens.
        app = public_app(cfg)
        url = app.get_authorization_request_url(scopes, redirect_uri=cfg["redirect_uri"], login_hint=cfg["username"])
        code = sign_in(url, cfg)["code"]
        result = app.acquire_token_by_authorization_code(code=code, scopes=scopes, redirect_uri=cfg["redirect_uri"])
        out(result=result, pkce="code_challenge" in url)
    elif flow == "auth_code_pkce":
        app = public_app(cfg)
        auth = app.initiate_auth_code_flow(scopes, redirect_uri=cfg["redirect_uri"], login_hint=cfg["username"])
        result = app.acquire_token_by_auth_code_flow(auth, sign_in(auth["auth_uri"], cfg))
        out(result=result, pkce="code_challenge" in auth["auth_uri"])
    elif flow == "device_code":
        app = public_app(cfg)
        device = app.initiate_device_flow(scopes=scopes)
        if "user_code" not in device:
            out(result=device)
            return
        out(user_code=device["user_code"], message=device["message"])
        out(result=app.acquire_token_by_device_flow(device))
    elif flow == "client_credentials":
        app = msal.ConfidentialClientApplication(
            client_id=cfg["client_id"], authority=cfg["authority"],
            client_credential=cfg["client_secret"], instance_discovery=False)
        out(result=app.acquire_token_for_client(scopes=scopes))
    elif flow == "cache_silent":
        # A token cache, then silent calls: from the cache, then (forced)
        # by redeeming the cached refresh token.
        cache = msal.SerializableTokenCache()
        app = public_app(cfg, token_cache=cache)
        first = app.acquire_token_by_username_password(
            username=cfg["username"], password=cfg["password"], scopes=scopes)
        accounts = app.get_accounts(username=cfg["username"])
        cached = app.acquire_token_silent(scopes, account=accounts[0])
        refreshed = app.acquire_token_silent_with_error(scopes, account=accounts[0], force_refresh=True)
        out(result=first, cached=cached, refreshed=refreshed, accounts=len(accounts))
    else:
        sys.exit("unknown flow " + flow)


if __name__ == "__main__":
    main()
