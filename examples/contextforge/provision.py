#!/usr/bin/env python3
"""Provisions a fresh ContextForge gateway for gateprobe, through its own API only.

    provision.py setup       --state DIR --base URL --upstream URL   users, roles, upstream, virtual server
    provision.py token NAME  --state DIR                             prints a fresh token for identity NAME
    provision.py admin-token --state DIR                             prints a platform-admin token (audit reader)

`token` and `admin-token` are gateprobe's token commands (`credential: {command: [...]}`): every run
gets fresh, short-lived, scoped tokens. The platform admin's password is read from DIR/.env (made
by `init_secrets`); user passwords are generated and kept in DIR/state.json (mode 600).
Standard library only, so it runs on the gateway's own venv Python.
"""
import argparse
import json
import os
import secrets
import string
import sys
import time
import urllib.error
import urllib.request

ADMIN = "admin@example.com"
# The tools the virtual server exposes; everything else of the upstream stays outside it.
SERVER_TOOLS = ["echo", "get-sum"]
ROLES = {
    "probe-operator": ["servers.use", "servers.read", "tools.read", "tools.execute"],
    "probe-reader": ["servers.use", "servers.read", "tools.read"],
}
# identity -> (user, role, token scope permissions). `scoped` holds the operator role but its
# token is scoped down to tools.read: the documented meaning is that it cannot execute tools.
IDENTITIES = {
    "operator": ("operator@example.com", "probe-operator", ["servers.use", "tools.read", "tools.execute"]),
    "reader": ("reader@example.com", "probe-reader", ["servers.use", "tools.read", "tools.execute"]),
    "scoped": ("scoped@example.com", "probe-operator", ["servers.use", "tools.read"]),
}


class Api:
    def __init__(self, base, token=None):
        self.base, self.token = base.rstrip("/"), token

    def call(self, method, path, body=None, expect=(200, 201)):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("content-type", "application/json")
        if self.token:
            req.add_header("authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                status, text = r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read().decode(errors="replace")
        if status not in expect:
            sys.exit(f"provision: {method} {path} -> {status}: {text[:300]}")
        return json.loads(text) if text else None


def password():
    # ContextForge refuses passwords with three sequential characters (abc, cBa, 123, 321), letters
    # compared case-insensitively: build from shuffled groups and retry until none appear.
    while True:
        chars = [secrets.choice(string.ascii_uppercase) for _ in range(6)] + [secrets.choice(string.ascii_lowercase) for _ in range(8)]
        chars += [secrets.choice(string.digits) for _ in range(4)] + [secrets.choice("!#%*+-=?@^_") for _ in range(3)]
        secrets.SystemRandom().shuffle(chars)
        p = "".join(chars)
        if not has_run(p.lower()):
            return p


def has_run(p):
    """Three characters in a row that step by +1 or -1 each (abc, 321), or repeat (aaa)."""
    for a, b, c in zip(p, p[1:], p[2:]):
        step = ord(b) - ord(a)
        if step in (1, -1, 0) and ord(c) - ord(b) == step:
            return True
    return False


def env_value(state, key):
    for line in open(os.path.join(state, ".env")):
        if line.startswith(key + "="):
            return line.split("=", 1)[1].strip()
    sys.exit(f"provision: {key} missing from {state}/.env")


def admin_api(state, base):
    pw = env_value(state, "PLATFORM_ADMIN_PASSWORD")
    token = Api(base).call("POST", "/auth/email/login", {"email": ADMIN, "password": pw})["access_token"]
    return Api(base, token)


def load_state(state):
    with open(os.path.join(state, "state.json")) as f:
        return json.load(f)


def setup(args):
    api = admin_api(args.state, args.base)
    gw = api.call("POST", "/gateways", {"name": "everything", "url": args.upstream, "transport": "STREAMABLEHTTP"})
    # Tools are discovered at registration; allow a few seconds for them to show.
    deadline, ids = time.time() + 30, {}
    while time.time() < deadline:
        tools = api.call("GET", "/tools")
        tools = tools if isinstance(tools, list) else tools.get("items", [])
        ids = {t.get("originalName"): t["id"] for t in tools if t.get("gatewayId", gw["id"]) == gw["id"]}
        if all(n in ids for n in SERVER_TOOLS):
            break
        time.sleep(1)
    else:
        sys.exit(f"provision: upstream tools {SERVER_TOOLS} not discovered (found {sorted(ids)})")
    server = api.call("POST", "/servers", {"server": {"name": "probe-tools", "description": "gateprobe: echo and get-sum only", "associated_tools": [ids[n] for n in SERVER_TOOLS]}, "visibility": "public"})
    role_ids = {}
    for name, perms in ROLES.items():
        role_ids[name] = api.call("POST", "/rbac/roles", {"name": name, "description": "gateprobe synthetic role", "scope": "global", "permissions": perms})["id"]
    users = {}
    for ident, (email, role, _) in IDENTITIES.items():
        if email not in users:
            users[email] = password()
            api.call("POST", "/auth/email/admin/users", {"email": email, "password": users[email], "full_name": f"gateprobe {ident}"})
            api.call("POST", f"/rbac/users/{email}/roles", {"role_id": role_ids[role], "scope": "global"})
    path = os.path.join(args.state, "state.json")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"base": args.base, "server_id": server["id"], "gateway_id": gw["id"], "tools": ids, "roles": role_ids}, f)
    print(server["id"])


def token(args):
    st = load_state(args.state)
    email, _, perms = IDENTITIES[args.name]
    api = admin_api(args.state, st["base"])
    body = {"name": f"gateprobe-{args.name}-{secrets.token_hex(4)}", "expires_in_days": 1, "user_email": email, "scope": {"server_id": st["server_id"], "permissions": perms}}
    print(api.call("POST", "/tokens", body)["access_token"])


def admin_token(args):
    print(admin_api(args.state, load_state(args.state)["base"]).token)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("setup")
    s.add_argument("--state", required=True)
    s.add_argument("--base", required=True)
    s.add_argument("--upstream", required=True)
    t = sub.add_parser("token")
    t.add_argument("name", choices=sorted(IDENTITIES))
    t.add_argument("--state", required=True)
    a = sub.add_parser("admin-token")
    a.add_argument("--state", required=True)
    args = p.parse_args()
    {"setup": setup, "token": token, "admin-token": admin_token}[args.cmd](args)


if __name__ == "__main__":
    main()
