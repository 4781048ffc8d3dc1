# The example function in Python: reads its secrets from vault-lambda-agent on localhost with the
# standard library (urllib), the environment's session token as the caller token. On AWS it runs
# beside the standalone layer (a Python function has no node for the slim one); locally under
# `npx vault-lambda-agent dev examples/orders-function-python app.handler`.
import json
import os
import urllib.error
import urllib.request

BASE = f"http://127.0.0.1:{os.environ.get('VAULT_AGENT_PORT', '8200')}"


def secret(name):
    request = urllib.request.Request(f"{BASE}/secrets/{name}", headers={"X-Vault-Token": os.environ["AWS_SESSION_TOKEN"]})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response)
    except urllib.error.HTTPError as err:
        raise RuntimeError(f"vault-lambda-agent answered {err.code} for {name}: {err.read().decode('utf-8', 'replace')}") from None


# Module init runs after the extension registered, so the secrets are already there.
CONFIG = secret("config")


def handler(event, context):
    db = secret("db")
    # Never return or log secret values; show only what proves they are live.
    return {
        "configKeys": list(CONFIG["data"]),
        "dbUser": db["data"]["username"],
        "dbLeaseSecondsLeft": db["lease_duration"],
        "dbExpiresAt": db["expires_at"],
    }
