"""The dma extensions the web console uses: API keys over HTTP, server info, and the console's static files."""

from __future__ import annotations

import httpx

from tests.stack import API_KEY, Stack


def test_keys_are_created_shown_once_listed_and_revoked(http: httpx.Client, stack: Stack) -> None:
    created = http.post("/v1/dma/api_keys", json={"name": "laptop"})
    assert created.status_code == 200, created.text
    body = created.json()
    key, key_id = body["key"], body["id"]
    assert key_id.startswith("apikey_") and key.startswith("dma-") and body["revoked_at"] is None
    listed = http.get("/v1/dma/api_keys").json()
    assert listed["next_page"] is None and listed["data"][0]["id"] == key_id
    assert key not in http.get("/v1/dma/api_keys").text, "a key is shown once, never listed"
    with httpx.Client(base_url=stack.base_url) as anyone:
        assert anyone.get("/v1/agents", headers={"authorization": f"Bearer {key}"}).status_code == 200
        revoked = http.post(f"/v1/dma/api_keys/{key_id}/revoke")
        assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
        again = http.post(f"/v1/dma/api_keys/{key_id}/revoke").json()
        assert again["revoked_at"] == revoked.json()["revoked_at"], "revoking twice keeps the first time"
        assert anyone.get("/v1/agents", headers={"authorization": f"Bearer {key}"}).status_code == 401


def test_key_routes_need_a_key_and_refuse_bad_input(http: httpx.Client, stack: Stack) -> None:
    with httpx.Client(base_url=stack.base_url) as anyone:
        assert anyone.get("/v1/dma/api_keys").status_code == 401
        assert anyone.post("/v1/dma/api_keys", json={"name": "x"}).status_code == 401
        assert anyone.get("/v1/dma/info").status_code == 401
    for bad in ({"name": 7}, {"name": "x" * 257}, []):
        refused = http.post("/v1/dma/api_keys", json=bad)
        assert refused.status_code == 400 and refused.json()["type"] == "error", refused.text
    missing = http.post("/v1/dma/api_keys/apikey_nope/revoke")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
    assert http.post("/v1/dma/api_keys/not-an-id/revoke").status_code == 404


def test_server_info(http: httpx.Client) -> None:
    info = http.get("/v1/dma/info").json()
    assert info["type"] == "server_info" and info["temporal_namespace"] == "default"
    assert info["temporal_ui_url"] is None and info["version"]


def test_console_is_served_without_a_key(stack: Stack) -> None:
    with httpx.Client(base_url=stack.base_url) as anyone:
        root = anyone.get("/console", follow_redirects=False)
        assert root.status_code == 308 and root.headers["location"] == "/console/"
        index = anyone.get("/console/")
        assert index.status_code == 200 and '<div id="app">' in index.text
        assert "default-src 'self'" in index.headers["content-security-policy"]
        assert index.headers["cache-control"] == "no-cache" and API_KEY not in index.text
        deep = anyone.get("/console/sessions/sesn_whatever")
        assert deep.status_code == 200 and deep.text == index.text, "client-side routes get the app"
        asset = next(part.split('"')[0] for part in index.text.split('src="/console/')[1:])
        served = anyone.get(f"/console/{asset}")
        assert served.status_code == 200 and "immutable" in served.headers["cache-control"]
        assert anyone.get("/console/assets/nothing-here.js").status_code == 404
        escape = anyone.get("/console/..%2F..%2Fpyproject.toml")
        assert "[project]" not in escape.text
        for odd in ("/console/%00", "/console/assets/%00.js", "/console/" + "a" * 5000):
            assert anyone.get(odd).status_code in (200, 404), odd
