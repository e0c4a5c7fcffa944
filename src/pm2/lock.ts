/**
 * The lock file that makes one worker of a group the hub. It is created atomically with its
 * content (the owner's pid): a temporary file is written, then hard-linked to the lock's name,
 * which fails if the lock exists. A lock is stale when its pid is dead, or when it is older than
 * LOCK_GRACE and nobody listens on the socket (a pid reused by an unrelated process).
 */
import { linkSync, lstatSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { randomId } from "../peer";

/**
 * A new hub listens within milliseconds of taking the lock: a lock this old (ms) whose socket
 * refuses connections is stale, whatever its pid.
 */
export const LOCK_GRACE = 2_000;

/** A lock as found on disk. */
export interface LockInfo {
  pid: number;
  ino: number;
  ageMs: number;
}

const errno = (error: unknown) => (error as NodeJS.ErrnoException).code;

/** True if a process with this pid exists (EPERM: it exists, and belongs to another user). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errno(error) === "EPERM";
  }
}

/** Creates the lock with our pid. Returns its inode, or null if the lock exists. */
export function createLock(path: string): number | null {
  const temporary = `${path}.${process.pid}.${randomId()}`;
  writeFileSync(temporary, String(process.pid), { mode: 0o600 });
  try {
    linkSync(temporary, path);
    return lstatSync(path).ino;
  } catch (error) {
    if (errno(error) === "EEXIST") return null;
    throw error;
  } finally {
    unlinkSync(temporary);
  }
}

/** Reads the lock, or null if there is none. */
export function readLock(path: string): LockInfo | null {
  try {
    const stat = lstatSync(path);
    const pid = Number.parseInt(readFileSync(path, "utf8"), 10);
    return { pid: Number.isInteger(pid) ? pid : -1, ino: stat.ino, ageMs: Date.now() - stat.mtimeMs };
  } catch (error) {
    if (errno(error) === "ENOENT") return null;
    throw error;
  }
}

/** True if the lock can be removed, the socket being known to refuse connections. */
export function isStale(lock: LockInfo): boolean {
  return lock.pid <= 0 || !isProcessAlive(lock.pid) || lock.ageMs > LOCK_GRACE;
}

/** Removes the lock if it is still the file of inode `ino` (not one created since). */
export function removeLock(path: string, ino: number): boolean {
  try {
    if (lstatSync(path).ino !== ino) return false;
    unlinkSync(path);
    return true;
  } catch (error) {
    if (errno(error) === "ENOENT") return false;
    throw error;
  }
}
