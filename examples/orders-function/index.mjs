// Example function for template.yaml: reads its secrets from vault-lambda-agent on localhost.
// No dependency: plain fetch with the environment's session token as the caller token.
const base = `http://127.0.0.1:${process.env.VAULT_AGENT_PORT || 8200}`;
const headers = { "X-Vault-Token": process.env.AWS_SESSION_TOKEN };

async function secret(name) {
  const res = await fetch(`${base}/secrets/${name}`, { headers });
  if (!res.ok) throw new Error(`vault-lambda-agent answered ${res.status} for ${name}: ${await res.text()}`);
  return res.json();
}

// Module init runs after the extension registered, so the secrets are already there.
const config = await secret("config");

export const handler = async () => {
  const db = await secret("db");
  // Never return or log secret values; show only what proves they are live.
  return {
    configKeys: Object.keys(config.data),
    dbUser: db.data.username,
    dbLeaseSecondsLeft: db.lease_duration,
    dbExpiresAt: db.expires_at,
  };
};
