/**
 * File mode: each declared secret that names a file is written there as the same JSON that
 * `GET /secrets/<name>` answers, `0600` in a `0700` directory, atomically (temp file + rename) so a
 * handler never reads half a file, rewritten whenever a refresh changes the secret, and deleted at
 * shutdown.
 */
import fs from "node:fs";
import path from "node:path";
import crypto from "node:crypto";

export class SecretFiles {
  private readonly written = new Set<string>();
  private readonly lastContent = new Map<string, string>();

  write(file: string, content: string): void {
    if (this.lastContent.get(file) === content) return;
    const dir = path.dirname(file);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = path.join(dir, `.${path.basename(file)}.${crypto.randomBytes(6).toString("hex")}.tmp`);
    // `wx`: never follow or reuse a file someone else placed at the temp name.
    const fd = fs.openSync(tmp, "wx", 0o600);
    try {
      fs.writeSync(fd, content);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
    this.written.add(file);
    this.lastContent.set(file, content);
  }

  /** Deletes every file written; returns how many. */
  removeAll(): number {
    let n = 0;
    for (const f of this.written) {
      try {
        fs.rmSync(f, { force: true });
        n++;
      } catch {
        /* already gone */
      }
    }
    this.written.clear();
    this.lastContent.clear();
    return n;
  }
}
