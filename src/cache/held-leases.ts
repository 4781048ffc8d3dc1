/**
 * The leases the extension holds, for `/health` and for revocation when it stops: every lease ever
 * read stays here until it is revoked or has expired on its own (a replaced dynamic secret may
 * still be in use by a pooled connection, so it is not revoked early).
 */
import type { Clock } from "../clock.ts";
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
}

export class HeldLeases {
  private readonly held = new Map<string, HeldLease>();

  constructor(private readonly now: Clock) {}

  track(lease: HeldLease): void {
    this.held.set(lease.leaseId, lease);
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
