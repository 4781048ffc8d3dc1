/**
 * File mode: each declared secret that names a file is written there as the same JSON that
 * `GET /secrets/<name>` answers, `0600`, atomically (temp file + fsync + rename, then the directory
 * synced) so a handler never reads half a file, rewritten whenever a refresh changes the secret, and
 * deleted at shutdown. The directory must be fit to hold secrets (docs/architecture.md, "Secret
 * files"): a real directory (not a symlink), owned by this user, mode `0700` — created so when
 * missing, tightened to it when it is ours but looser, refused otherwise; a symlink at the file's
 * own path is refused too (renaming over it would hide the secret's destination from the user).
 */
import fs from "node:fs";
import path from "node:path";
import crypto from "node:crypto";

/** A secret file's place is not fit for a secret; the message says why and what to do. */
export class FileRefused extends Error {
  override name = "FileRefused";
}

export class SecretFiles {
  private readonly written = new Set<string>();
  private readonly lastContent = new Map<string, string>();

  /**
   * Makes `file`'s directory fit to hold it (created `0700`, or tightened to `0700`), or throws
   * FileRefused: a symlinked directory, one that is not this user's, a symlink or a non-file at `file`.
   */
  prepare(file: string): void {
    const dir = path.dirname(file);
    let st = lstatOrUndefined(dir);
    if (!st) {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      st = fs.lstatSync(dir);
    }
    if (st.isSymbolicLink()) throw new FileRefused(`${dir} is a symlink; secret files are written only into a real directory (one that is not a link), owned by this user, mode 0700`);
    if (!st.isDirectory()) throw new FileRefused(`${dir} is not a directory`);
    const uid = process.getuid?.();
    if (uid !== undefined && st.uid !== uid) {
      throw new FileRefused(`${dir} belongs to uid ${st.uid}, not to this process (uid ${uid}): its owner could read or replace the secret; name a file in a directory of its own, such as ${path.join(dir, "vault", path.basename(file))}`);
    }
    // The mode is changed through a descriptor opened without following links: what is tightened is
    // what was checked, even if the path was swapped for a link in between.
    const fd = openDirectory(dir);
    try {
      if ((fs.fstatSync(fd).mode & 0o777) !== 0o700) fs.fchmodSync(fd, 0o700);
    } finally {
      fs.closeSync(fd);
    }
    const existing = lstatOrUndefined(file);
    if (existing?.isSymbolicLink()) throw new FileRefused(`${file} is a symlink; a secret file is written only as a regular file of its own`);
    if (existing && !existing.isFile()) throw new FileRefused(`${file} exists and is not a regular file`);
  }

  write(file: string, content: string): void {
    if (this.lastContent.get(file) === content) return;
    this.prepare(file);
    const dir = path.dirname(file);
    const tmp = path.join(dir, `.${path.basename(file)}.${crypto.randomBytes(6).toString("hex")}.tmp`);
    // `wx`: never follow or reuse a file someone else placed at the temp name.
    const fd = fs.openSync(tmp, "wx", 0o600);
    try {
      try {
        fs.writeSync(fd, content);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, file);
    } catch (err) {
      // The temp file holds the secret (or part of it) and is no file the user asked for.
      fs.rmSync(tmp, { force: true });
      throw err;
    }
    // The rename itself is durable once the directory is synced.
    const dirFd = openDirectory(dir);
    try {
      fs.fsyncSync(dirFd);
    } finally {
      fs.closeSync(dirFd);
    }
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

function lstatOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

function openDirectory(dir: string): number {
  try {
    return fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ELOOP") throw new FileRefused(`${dir} is a symlink; secret files are written only into a real directory`);
    throw err;
  }
}
