/**
 * The leases the extension holds, for `/health` and for revocation when it stops: every lease ever
 * read stays here until it is revoked or has expired on its own (a replaced dynamic secret may
 * still be in use by a pooled connection, so it is not revoked early). A lease expired for longer
 * than `FORGET_AFTER_MS` is forgotten, and its values with it (`forget`: the redactor releases
 * them): a long-lived environment re-reading a short dynamic secret would otherwise keep every
 * username and password it ever read, and scrub every log line against all of them.
 */
import type { Clock } from "../clock.ts";
import { FORGET_AFTER_MS } from "../lease/policy.ts";
import type { Logger } from "../log.ts";
import { revokeEach, type RevocationTally } from "../revocation.ts";
import type { VaultTransport } from "../vault/client.ts";
import type { TokenState } from "../vault/token.ts";

export interface HeldLease {
  leaseId: string;
  path: string;
  token: TokenState;
  /** End of its effective lease. */
  expiresAt: number;
  /** Its values as the redactor holds them (`Redactor.hold`), given back when the lease is forgotten. */
  values?: readonly string[];
}


export class HeldLeases {
  private readonly held = new Map<string, HeldLease>();

  constructor(
    private readonly now: Clock,
    private readonly forget: (values: readonly string[]) => void = () => {},
  ) {}

  track(lease: HeldLease): void {
    this.forgetExpired();
    const previous = this.held.get(lease.leaseId);
    if (previous?.values && previous.values !== lease.values) this.forget(previous.values);
    this.held.set(lease.leaseId, lease);
  }

  /** Forgets the leases (and gives back the values) of leases that ended more than `FORGET_AFTER_MS` ago. */
  private forgetExpired(): void {
    const before = this.now() - FORGET_AFTER_MS;
    for (const [id, lease] of this.held) {
      if (lease.expiresAt >= before) continue;
      this.held.delete(id);
      if (lease.values) this.forget(lease.values);
    }
  }

  /** A renewal moved the lease's end. */
  extend(leaseId: string, expiresAt: number): void {
    const held = this.held.get(leaseId);
    if (held) held.expiresAt = expiresAt;
  }

  /** Forgets every lease (SnapStart, once they were revoked before the snapshot). */
  clear(): void {
    this.held.clear();
  }

  /** How many leases are held (alive or not yet forgotten). */
  get size(): number {
    return this.held.size;
  }

  /** Leases held and still alive. */
  live(): HeldLease[] {
    const now = this.now();
    return [...this.held.values()].filter((l) => !l.token.dead && l.expiresAt > now);
  }

  /**
   * Revokes every live lease (`sys/leases/revoke`), in parallel, with the current token when it is
   * alive (else the one that read it). A 403 means the lease died with its token: no longer held,
   * but not counted as revoked.
   */
  revokeAll(client: VaultTransport, current: TokenState | undefined, deadline: number, log: Logger): Promise<RevocationTally> {
    return revokeEach(
      this.live(),
      (l) => client.request({ method: "PUT", path: "sys/leases/revoke", token: (current && !current.dead ? current : l.token).clientToken, body: { lease_id: l.leaseId }, deadline, retries: 1 }),
      (l, result) => {
        this.held.delete(l.leaseId);
        log.info(result === "revoked" ? "revoked lease" : "lease already gone in Vault (its token was revoked)", { leaseId: l.leaseId, path: l.path });
      },
    );
  }
}
