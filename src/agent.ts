/**
 * The extension's state and its three moments: init (login, prefetch, files, listener), INVOKE
 * (freshen what is due, leave nothing in flight) and SHUTDOWN (revoke, delete, close). The Lambda
 * event loop in ./lambda/lifecycle.ts drives it; nothing here knows about the Extensions API.
 * See docs/architecture.md ("Lifecycle").
 */
import type { Config, DeclaredSecret } from "./config.ts";
import type { Logger, Redactor } from "./log.ts";
import { VaultClient } from "./vault/client.ts";
import { Authenticator } from "./vault/auth.ts";
import { CredentialsProvider } from "./aws/credentials.ts";
import { TokenManager } from "./vault/token.ts";
import { SecretCache } from "./cache/secret-cache.ts";
import type { SecretRecord } from "./cache/record.ts";
import { describe, InitError, initErrorType, isTransient, kindOf, reasonOf } from "./errors.ts";
import { FileRefused, SecretFiles } from "./files.ts";
import { nextWake } from "./lease/policy.ts";
import { LocalhostServer } from "./server/localhost-server.ts";
import { VaultProxy } from "./server/proxy.ts";
import { renderSecret } from "./render.ts";
import { flavor, VERSION } from "./build-info.ts";
import type { BuildFacts } from "./server/health.ts";
import { EmfMetrics } from "./metrics/emf.ts";
import { ReadinessGate } from "./readiness.ts";
import type { ExecutionMode } from "./lambda/mode.ts";
import { RefreshScheduler } from "./lambda/refresh-scheduler.ts";
import { addRound, type RevocationTally } from "./revocation.ts";

/** What a request gets under SnapStart between the pre-snapshot revocation and the restore. */
const SNAPSTART_INIT_READ =
  "SnapStart: secrets are served after the restore, not during the function's init (whatever init reads goes into the snapshot, which every restored environment shares): read them in the handler";

/** Time kept back from every deadline Lambda gives, for the answer to reach Lambda. */
const SAFETY_MARGIN_MS = 250;
/** How long the cleanup on an exit other than SHUTDOWN may take (the contract's "about 1 s"). */
const ABANDON_MS = 1_000;
/** Kept back from waiting for requests in flight at shutdown, for the revocations themselves. */
const REVOKE_RESERVE_MS = 400;
/** A last revocation round (for answers that came in late) is tried only with this much time left. */
const LAST_ROUND_MS = 150;

export class Agent {
  readonly client: VaultClient;
  readonly tokens: TokenManager;
  readonly cache: SecretCache;
  private readonly files = new SecretFiles();
  private readonly server: LocalhostServer | undefined;
  private readonly secrets = new Map<string, DeclaredSecret>();
  /** With `VAULT_METRICS=emf`; flushed at the end of init, of each refresh cycle (INVOKE or timer) and of SHUTDOWN. */
  private readonly metrics: EmfMetrics | undefined;
  /** Opened when the init work is done; the localhost server's requests wait on it until then. */
  readonly readiness = new ReadinessGate();
  /** Managed Instances only: INVOKE never comes, a timer freshens instead. */
  private readonly scheduler: RefreshScheduler | undefined;
  private readonly auth: Authenticator;
  /** SnapStart: everything was revoked before the snapshot; the next INVOKE logs in and reads again. */
  private restorePending = false;
  private restoring: Promise<void> | undefined;
  /** The cleanup, once started (SHUTDOWN or another exit); a second call joins it. */
  private stopping: Promise<void> | undefined;
  /**
   * Whether a refresh may start behind a value served at once: during init and an INVOKE's work
   * (which drain before `next`), always on Managed Instances (never frozen); not in between, where
   * the environment may be frozen at any moment with the request in flight.
   */
  private refreshWindowOpen = true;

  constructor(
    private readonly config: Config,
    private readonly log: Logger,
    redactor: Redactor,
    private readonly mode: ExecutionMode = "on-demand",
    build: Omit<BuildFacts, "startedAt"> = { version: VERSION, flavor: flavor(), mode },
  ) {
    redactor.add(config.callerToken);
    const credentials = new CredentialsProvider(
      { environment: config.aws.credentials, container: config.aws.containerCredentials },
      { timeoutMs: config.clientTimeoutMs, redactor },
    );
    this.client = new VaultClient({ vaultAddr: config.vaultAddr, namespace: config.namespace, timeoutMs: config.clientTimeoutMs, maxRetries: config.maxRetries, tls: config.tls });
    const metrics = (this.metrics = config.metrics === "emf" ? new EmfMetrics(config.aws.functionName) : undefined);
    if (metrics) this.client.onRequest = (ms, failed) => metrics.vaultRequest(ms, failed);
    this.auth = new Authenticator(this.client, config, log, credentials);
    this.tokens = new TokenManager({ client: this.client, auth: this.auth, graceMs: config.gracePeriodMs, log, metrics });
    // The token's values were registered with the redactor as the login answered (vault/auth.ts).
    this.tokens.onReplaced = (previous, next) => {
      if (previous) log.debug("token replaced; secrets read under the old token will be read again", { previous: previous.serial, next: next.serial });
      this.scheduler?.poke();
    };
    this.cache = new SecretCache({
      client: this.client,
      tokens: this.tokens,
      log,
      redactor,
      graceMs: config.gracePeriodMs,
      waitMs: config.clientTimeoutMs,
      metrics,
      onStored: () => this.scheduler?.poke(),
      mayRefreshBehind: () => this.refreshWindowOpen,
    });
    if (mode === "lambda-managed-instances") {
      this.scheduler = new RefreshScheduler({ nextWake: () => this.nextRefresh(), run: () => this.freshen(this.refreshDeadline()), log });
    }
    for (const secret of config.secrets) {
      this.secrets.set(secret.key, secret);
      this.cache.define({
        key: secret.key,
        label: secret.name,
        path: secret.path,
        kind: "declared",
        staticTtlMs: config.staticSecretTtlMs,
        onChange: secret.file ? (record) => this.writeFile(secret, record) : undefined,
      });
    }
    if (config.runMode !== "file") {
      const proxy =
        config.runMode === "default" || config.runMode === "proxy"
          ? new VaultProxy({
              client: this.client,
              tokens: this.tokens,
              cache: this.cache,
              namespace: config.namespace,
              defaultCacheEnabled: config.defaultCacheEnabled,
              defaultCacheTtlMs: config.defaultCacheTtlMs,
            })
          : undefined;
      this.server = new LocalhostServer({
        config,
        secrets: this.secrets,
        cache: this.cache,
        tokens: this.tokens,
        proxy,
        log,
        readiness: this.readiness,
        build: { ...build, startedAt: Date.now() },
        vault: this.client.outcomes,
        redactor,
      });
    }
  }

  /**
   * Binds the listener (before register, in either order: docs/architecture.md, "Init"); from now
   * until `init` ends, requests wait on the readiness gate, at most until `deadline`. Throws InitError.
   */
  async listen(deadline: number): Promise<void> {
    this.readiness.bound(deadline);
    if (!this.server) return;
    try {
      await this.server.listen(this.config.port);
    } catch (err) {
      throw new InitError(initErrorType("local", "listen"), `VAULT_AGENT_PORT: cannot listen on 127.0.0.1:${this.config.port} (${describe(err)}); pick a free port`, { cause: err });
    }
  }

  /**
   * Login, reads, files (docs/architecture.md, "Init"), then the gate opens; throws InitError (and
   * the gate fails, so that waiting requests get the reason). Returns the timeline for the init log line.
   */
  async init(deadline: number): Promise<Record<string, number>> {
    try {
      // Before the login: a directory unfit for secrets is refused with nothing to revoke.
      for (const secret of this.config.secrets) if (secret.file) this.fileStep(secret, () => this.files.prepare(secret.file!));
      const timeline = await this.loginAndRead(deadline);
      if (this.mode === "snap-start") this.readiness.awaitRestore(this.config.clientTimeoutMs, SNAPSTART_INIT_READ);
      else this.readiness.open();
      this.scheduler?.start();
      this.closeRefreshWindow();
      // Nothing may be in flight to Vault when the lifecycle calls `next` (as at every INVOKE).
      // Requests the function's init makes cannot be frozen mid-flight: Lambda freezes only once
      // the function's init is over too, and it waits for their answers.
      await this.client.drain(Math.max(0, deadline - Date.now()));
      return timeline;
    } catch (err) {
      this.readiness.fail(describe(err));
      throw err;
    }
  }

  /**
   * Every exit other than SHUTDOWN (a failed init, the Extensions API failing, a signal): the same
   * cleanup, bounded to about a second. Lambda retries a failed init on every invocation, so no
   * retry may leave a live token behind. `exitPath` names the exit in the "shut down" line.
   */
  async abandon(exitPath: string): Promise<void> {
    await this.shutdown(Date.now() + ABANDON_MS + SAFETY_MARGIN_MS, exitPath);
  }

  private async loginAndRead(deadline: number): Promise<Record<string, number>> {
    const t0 = Date.now();
    const timeline: Record<string, number> = {};
    // Transient failures are retried until the init budget runs out, not just VAULT_MAX_RETRIES times.
    try {
      await this.tokens.login({ deadline, retries: 50 });
    } catch (err) {
      const kind = kindOf(err);
      // The authenticator words its own failures; anything else gets the address said.
      const message = kind === "auth" || kind === "vault-transient" ? describe(err) : `login to Vault at ${this.config.vaultAddr} failed: ${describe(err)}`;
      throw new InitError(initErrorType(kind, "login"), message, { cause: err });
    }
    timeline.loginMs = Date.now() - t0;

    const reads = await Promise.allSettled(this.config.secrets.map((s) => this.cache.refresh(s.key, "replace", deadline)));
    const failures = reads.flatMap((r, i) => (r.status === "rejected" ? [{ secret: this.config.secrets[i]!, err: r.reason as unknown }] : []));
    if (failures.length > 0) {
      const allTransient = failures.every((f) => isTransient(f.err));
      const message = failures.map(({ secret, err }) => `${secret.variable}: reading "${secret.path}" failed: ${reasonOf(err)}`).join("; ");
      throw new InitError(allTransient ? "Extension.VaultUnreachable" : "Extension.SecretReadFailed", message, { cause: failures[0]!.err });
    }
    timeline.readsMs = Date.now() - t0;
    timeline.secrets = this.config.secrets.length;
    // Since the process started: what Lambda's init phase spent on the extension.
    this.metrics?.flush({ initDurationMs: Date.now() - performance.timeOrigin });
    // SnapStart: nothing live goes into the snapshot (before the gate opens: see docs/architecture.md).
    if (this.mode === "snap-start") await this.beforeSnapshot(deadline);
    return timeline;
  }

  /**
   * INVOKE: renew or replace the token and every lease past its refresh point, then wait for (or
   * abandon) every request to Vault, because calling `next` may freeze the process at any moment.
   */
  async onInvoke(deadlineMs: number): Promise<void> {
    const deadline = Math.min(deadlineMs - SAFETY_MARGIN_MS, this.refreshDeadline());
    this.refreshWindowOpen = true;
    if (this.restorePending) await this.afterRestore(deadline);
    // After a restore, requests go through: a failed restore is retried by the next one, lazily.
    if (this.readiness.state === "restoring") this.readiness.open();
    await this.freshen(deadline);
    this.closeRefreshWindow();
    const abandoned = await this.client.drain(Math.max(0, deadline - Date.now()));
    if (abandoned > 0) this.log.warn("abandoned requests to Vault before the freeze", { count: abandoned });
  }

  /** The token per `tokenAction`, then every held value per `dueAtInvoke`; at INVOKE, or on Managed Instances' timer. */
  private async freshen(deadline: number): Promise<void> {
    try {
      await this.tokens.refresh(deadline);
    } catch (err) {
      this.log.warn("token refresh failed", { error: describe(err) });
    }
    // Reads would each try the login that just failed: they wait for its backoff too.
    if (!this.tokens.waitingToLogIn) await this.cache.freshen(deadline);
    this.cache.evictExpired((key) => !this.secrets.has(key));
    const wake = this.nextRefresh();
    this.log.debug("freshened", { nextRefreshInS: Number.isFinite(wake) ? Math.ceil((wake - Date.now()) / 1000) : null });
    this.metrics?.flush();
  }

  /** No refresh starts behind a served value from now until the next INVOKE (but on Managed Instances, never frozen). */
  private closeRefreshWindow(): void {
    if (!this.scheduler) this.refreshWindowOpen = false;
  }

  /** When the token or a value refreshed ahead next needs attention, backoffs included (the policy's `nextWake`). */
  private nextRefresh(): number {
    // While a failed login backs off, nothing that needs a token is tried before its retry time.
    if (this.tokens.waitingToLogIn) return Math.max(Date.now(), this.tokens.retry!.retryAt);
    const token = this.tokens.current;
    const leases = this.cache.refreshedLeases();
    return nextWake(token && !token.dead ? [{ lease: token.lease, backoff: this.tokens.retry }, ...leases] : leases, Date.now());
  }

  private refreshDeadline(): number {
    return Date.now() + this.config.clientTimeoutMs * 2;
  }

  /**
   * SnapStart, at the end of init: the login and the reads proved the configuration works; now
   * nothing live may go into the snapshot, which every restored environment shares, for days. Revoke
   * the token and the leases, forget the values, delete the files, drop pooled sockets.
   */
  private async beforeSnapshot(deadline: number): Promise<void> {
    const bound = Math.max(deadline, Date.now() + this.config.clientTimeoutMs);
    const leases: RevocationTally = { revoked: 0, alreadyGone: 0, failed: 0 };
    const tokens: RevocationTally = { revoked: 0, alreadyGone: 0, failed: 0 };
    // What failed stays held and is tried again, once more, within the bound.
    for (let round = 0; round < 2 && (round === 0 || leases.failed + tokens.failed > 0) && Date.now() < bound; round++) {
      const [l, t] = await Promise.all([this.cache.revokeAll(bound), this.tokens.revokeAll(bound)]);
      addRound(leases, l);
      addRound(tokens, t);
    }
    // A token still alive now would be in the snapshot that every restored environment shares, for
    // days: no snapshot then. The init fails (the exit's cleanup tries once more; what stays alive
    // expires at its TTL) and Lambda says why.
    if (tokens.failed > 0) {
      throw new InitError(
        "Extension.VaultUnreachable",
        `SnapStart: Vault did not revoke the init's token before the snapshot (${tokens.failed} revocation(s) failed); a snapshot must not hold a live token, so the init fails: check that Vault is reachable and unsealed, then publish again`,
      );
    }
    this.cache.forgetAll();
    this.tokens.forgetAll();
    this.auth.forget();
    const filesDeleted = this.files.removeAll();
    this.client.close();
    this.restorePending = true;
    const summary = { leasesRevoked: leases.revoked, tokensRevoked: tokens.revoked, filesDeleted };
    if (leases.failed > 0) {
      // The token that read them is revoked: a lease dies with its token.
      this.log.warn("some leases could not be revoked before the snapshot; they died with the revoked token", { ...summary, leasesFailed: leases.failed });
    } else {
      this.log.info("revoked everything before the snapshot; a restore logs in and reads again", summary);
    }
  }

  /**
   * SnapStart, at the first INVOKE after a restore: fresh credentials from the endpoint, a new
   * login, every declared secret read again, files rewritten. Handler requests that come first do
   * the same lazily and share the same login and reads (one of each).
   */
  private afterRestore(deadline: number): Promise<void> {
    this.restoring ??= (async () => {
      try {
        // A handler request may have come first: its login and reads count (ensure and fresh).
        await this.tokens.ensure(deadline);
        const stale = this.config.secrets.filter((s) => !this.cache.fresh(s.key));
        const reads = await Promise.allSettled(stale.map((s) => this.cache.refresh(s.key, "replace", deadline)));
        const failed = reads.filter((r) => r.status === "rejected");
        for (const r of failed) this.log.error("reading a secret after the restore failed; the next request retries", { error: describe((r as PromiseRejectedResult).reason) });
        this.restorePending = failed.length > 0;
        this.log.info("restored: logged in and read again", { secrets: reads.length - failed.length });
      } catch (err) {
        this.log.error("login after the restore failed; the next INVOKE or request retries", { error: describe(err) });
      } finally {
        this.restoring = undefined;
      }
    })();
    return this.restoring;
  }

  /**
   * SHUTDOWN, and every other exit (`abandon`): nothing new is obtained from now on; logins and
   * reads already on the wire are waited for and what they return is revoked with the rest (unless
   * told not to); files deleted; listener closed. Bounded by `deadlineMs` less the safety margin.
   * Called twice, the second call joins the first.
   */
  shutdown(deadlineMs: number, reason: string): Promise<void> {
    this.stopping ??= this.stop(deadlineMs, reason);
    return this.stopping;
  }

  private async stop(deadlineMs: number, reason: string): Promise<void> {
    const t0 = Date.now();
    this.readiness.close();
    this.client.stopObtaining();
    const deadline = Math.max(t0 + 50, deadlineMs - SAFETY_MARGIN_MS);
    // The scheduler's refresh in progress has its requests on the wire (waited for below) or refused.
    void this.scheduler?.stop();
    let summary: Record<string, unknown> = { revoke: false };
    if (this.config.revokeOnShutdown) {
      const tally = await this.revokeEverything(deadline);
      summary = {
        leasesRevoked: tally.leases.revoked,
        leasesAlreadyGone: tally.leases.alreadyGone,
        leasesFailed: tally.leases.failed,
        tokensRevoked: tally.tokens.revoked,
        tokensAlreadyGone: tally.tokens.alreadyGone,
        tokensFailed: tally.tokens.failed,
        ...(tally.unanswered > 0 ? { requestsUnanswered: tally.unanswered } : {}),
      };
    }
    // Whatever is still on the wire is abandoned first: an answer landing later writes no file.
    await this.client.drain(0);
    this.metrics?.flush();
    const filesDeleted = this.files.removeAll();
    await this.server?.close();
    this.client.close();
    // Something left alive in Vault is worth a warning: it lives until its TTL runs out.
    const leftBehind = Number(summary.leasesFailed ?? 0) + Number(summary.tokensFailed ?? 0) + Number(summary.requestsUnanswered ?? 0);
    this.log[leftBehind > 0 ? "warn" : "info"]("shut down", { reason, ...summary, filesDeleted, ms: Date.now() - t0 });
  }

  /**
   * Waits for the logins and reads on the wire (leaving time to revoke), revokes every lease and
   * token held, in parallel, and again for what answers came in meanwhile, until none is pending or
   * the deadline. `unanswered`: requests still on the wire at the end, whose results (if any) expire
   * on their own.
   */
  private async revokeEverything(deadline: number): Promise<{ leases: RevocationTally; tokens: RevocationTally; unanswered: number }> {
    const reserve = Math.min(REVOKE_RESERVE_MS, (deadline - Date.now()) / 2);
    const leases: RevocationTally = { revoked: 0, alreadyGone: 0, failed: 0 };
    const tokens: RevocationTally = { revoked: 0, alreadyGone: 0, failed: 0 };
    let unanswered = await this.client.settle(deadline - reserve - Date.now());
    for (;;) {
      const [l, t] = await Promise.all([this.cache.revokeAll(deadline), this.tokens.revokeAll(deadline)]);
      // What failed stays held and is tried again in the next round: only the last round's failures count.
      addRound(leases, l);
      addRound(tokens, t);
      if (unanswered === 0 || deadline - Date.now() < LAST_ROUND_MS) return { leases, tokens, unanswered };
      unanswered = await this.client.settle(deadline - LAST_ROUND_MS - Date.now());
    }
  }

  private writeFile(secret: DeclaredSecret, record: SecretRecord): void {
    if (!secret.file) return;
    const content = JSON.stringify(renderSecret(secret, record, this.cache.effectiveLease(record)), null, 2) + "\n";
    this.fileStep(secret, () => this.files.write(secret.file!, content));
  }

  /** A step on a secret's file; its failure is an InitError naming the variable (a refused place: ConfigInvalid). */
  private fileStep(secret: DeclaredSecret, step: () => void): void {
    try {
      step();
    } catch (err) {
      const variable = secret.fileVariable ?? secret.variable;
      this.log.error("could not write secret file", { secret: secret.name, file: secret.file, error: describe(err) });
      if (err instanceof FileRefused) throw new InitError("Extension.ConfigInvalid", `${variable}: ${err.message}`, { cause: err });
      throw new InitError(initErrorType("local", "read"), `${variable}: could not write ${secret.file}: ${describe(err)}`, { cause: err });
    }
  }
}
