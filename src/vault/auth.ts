/**
 * Logging in to Vault with the AWS IAM auth method: sign `sts:GetCallerIdentity` with the function's
 * credentials (or, with VAULT_ASSUMED_ROLE_ARN, with credentials of that role) and hand the signed
 * request to `auth/<provider>/login`.
 */
import type { AwsCredentials } from "../aws/sts-endpoint.ts";
import type { CredentialsProvider } from "../aws/credentials.ts";
import type { AwsEnvironment } from "../config.ts";
import { AgentError, describe, isTransient, VaultError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { buildIamLoginBody } from "./login-request.ts";
import type { VaultClient } from "./client.ts";

export interface LoginSettings {
  authProvider: string;
  authRole?: string;
  iamServerId?: string;
  stsRegion?: string;
  assumedRoleArn?: string;
  aws: AwsEnvironment;
  clientTimeoutMs: number;
}

export interface TokenGrant {
  clientToken: string;
  accessor: string;
  policies: string[];
  leaseDurationS: number;
  renewable: boolean;
  /** The token and accessor as the redactor holds them (`Redactor.hold`): released once the token is dead for certain. */
  redaction?: readonly string[];
}

interface LoginAnswer {
  auth?: { client_token?: string; accessor?: string; policies?: string[]; lease_duration?: number; renewable?: boolean } | null;
}

export class Authenticator {
  private assumed: AwsCredentials | undefined;

  constructor(
    private readonly client: VaultClient,
    private readonly settings: LoginSettings,
    private readonly log: Logger,
    private readonly source: Pick<CredentialsProvider, "credentials">,
  ) {}

  async login(opts: { deadline?: number; retries?: number; signal?: AbortSignal } = {}): Promise<TokenGrant> {
    const credentials = await this.signingCredentials(opts.deadline);
    const body = await buildIamLoginBody({
      redactor: this.log.redactor,
      credentials,
      stsRegion: this.settings.stsRegion,
      iamServerId: this.settings.iamServerId,
      role: this.settings.authRole,
    });
    const path = `auth/${this.settings.authProvider}/login`;
    let answer: LoginAnswer | undefined;
    try {
      const res = await this.client.request<LoginAnswer>({ method: "POST", path, body, ...opts });
      answer = res.json;
    } catch (err) {
      if (!(err instanceof VaultError)) throw err;
      // Vault could not be asked (or gave up): unreachable. Vault answered no: refused, and why.
      if (isTransient(err) || err.kind === "aborted") throw new AgentError("vault-transient", `login at ${this.client.address}/v1/${path} failed: ${err.message}`, { cause: err });
      throw new AgentError("auth", loginHint(err, this.settings), { cause: err });
    }
    const auth = answer?.auth;
    if (!auth?.client_token) throw new AgentError("auth", `Vault answered the login at ${path} without a token`);
    // Known to the redactor from now until the token is dead for certain (TokenManager forgets it).
    const redaction = this.log.redactor.hold([auth.client_token, auth.accessor ?? ""]);
    this.log.info("logged in to Vault", {
      mount: this.settings.authProvider,
      role: this.settings.authRole ?? "(named after the IAM role)",
      policies: auth.policies ?? [],
      ttlSeconds: auth.lease_duration ?? 0,
      renewable: auth.renewable ?? false,
    });
    return {
      clientToken: auth.client_token,
      accessor: auth.accessor ?? "",
      policies: auth.policies ?? [],
      leaseDurationS: auth.lease_duration ?? 0,
      redaction,
      renewable: auth.renewable ?? false,
    };
  }

  /** Forgets assumed-role credentials (SnapStart: none may be used after a restore). */
  forget(): void {
    this.assumed = undefined;
  }

  private async signingCredentials(deadline?: number): Promise<AwsCredentials> {
    const aws = this.settings.aws;
    const roleArn = this.settings.assumedRoleArn;
    // Assumed credentials are reused until a minute before they expire; a login after that assumes again.
    if (roleArn && this.assumed?.expiration && this.assumed.expiration.getTime() - 60_000 > Date.now()) return this.assumed;
    const own = await this.source.credentials(deadline);
    if (!roleArn) return own;
    const { assumeRole } = await import("../aws/assume-role.ts");
    try {
      this.assumed = await assumeRole({
        roleArn,
        sessionName: roleSessionName(aws.functionName),
        region: aws.region ?? "us-east-1",
        endpoint: aws.stsEndpointUrl,
        credentials: own,
        timeoutMs: this.settings.clientTimeoutMs,
        redactor: this.log.redactor,
      });
    } catch (err) {
      throw new AgentError(
        "auth",
        `sts:AssumeRole into ${roleArn} (VAULT_ASSUMED_ROLE_ARN) failed: ${describe(err)}. Check that the function's role may assume it and that its trust policy allows the function's role`,
        { cause: err },
      );
    }
    this.log.debug("assumed role for the Vault login", { roleArn });
    return this.assumed;
  }
}

/** The function name as an STS session name: at most 64 characters of `[\w+=,.@-]`, at least 2. */
export function roleSessionName(functionName: string): string {
  const cleaned = functionName.replace(/[^\w+=,.@-]/g, "-").slice(0, 64);
  return cleaned.length >= 2 ? cleaned : (cleaned + "--").slice(0, 2);
}

/** Vault's reason, plus the fix for the mistakes people actually make. */
function loginHint(err: VaultError, s: LoginSettings): string {
  const reason = err.reason;
  const where = `login to auth/${s.authProvider} failed (Vault answered ${err.status}: ${reason})`;
  if (/entry for role .* not found/.test(reason))
    return `${where}. Create the role in Vault, or set VAULT_AUTH_ROLE to an existing role${s.authRole ? "" : " (unset, Vault looked for a role named after the function's IAM role)"}`;
  if (/does not belong to the role/.test(reason)) return `${where}. Add the function's execution role ARN to the role's bound_iam_principal_arn`;
  if (/X-Vault-AWS-IAM-Server-ID/i.test(reason)) return `${where}. Set VAULT_IAM_SERVER_ID to the value of the mount's iam_server_id_header_value`;
  if (/scoped to a valid region|SignatureDoesNotMatch/.test(reason))
    return `${where}. The STS endpoint Vault forwards to must match the one signed for: set VAULT_STS_ENDPOINT_REGION to the region of the mount's sts_endpoint, or unset it for the global endpoint`;
  if (err.status === 404 || /no handler for route/.test(reason)) return `${where}. Is the AWS auth method enabled at "${s.authProvider}"? Set VAULT_AUTH_PROVIDER to its mount path`;
  return where;
}
