/**
 * Revoking many things at once (leases, tokens) at shutdown, counted honestly: `revoked` only when
 * Vault confirmed it; a 403 means it was already dead in Vault (died with its token, or revoked from
 * outside), which is no longer held but was not revoked by us; anything else failed.
 */
import { isPermissionDenied } from "./errors.ts";

export interface RevocationTally {
  revoked: number;
  alreadyGone: number;
  failed: number;
}

/**
 * Adds one more round of revocation into `into` (shutdown revokes again what came in meanwhile):
 * what failed stays held and is tried again by the next round, so only the last round's failures count.
 */
export function addRound(into: RevocationTally, round: RevocationTally): void {
  into.revoked += round.revoked;
  into.alreadyGone += round.alreadyGone;
  into.failed = round.failed;
}

export type RevocationResult = "revoked" | "already-gone";

export async function revokeEach<T>(items: T[], revoke: (item: T) => Promise<unknown>, settled: (item: T, result: RevocationResult) => void): Promise<RevocationTally> {
  const tally: RevocationTally = { revoked: 0, alreadyGone: 0, failed: 0 };
  await Promise.all(
    items.map(async (item) => {
      let result: RevocationResult;
      try {
        await revoke(item);
        result = "revoked";
      } catch (err) {
        if (!isPermissionDenied(err)) {
          tally.failed++;
          return;
        }
        result = "already-gone";
      }
      if (result === "revoked") tally.revoked++;
      else tally.alreadyGone++;
      settled(item, result);
    }),
  );
  return tally;
}
