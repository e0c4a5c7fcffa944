/**
 * Where the Unix sockets of PM2 mode live, and the checks that keep other users out.
 *
 * Node cannot ask a Unix socket who is on the other end, so the guard is the file system: every
 * socket sits in a directory that only its owner may enter (mode 0700, owned by us, a real
 * directory and not a symlink, checked with lstat). A directory that fails a check is never
 * repaired or used: the caller gets an Error that says what is wrong and what to do.
 */
import { createHash, randomBytes } from "node:crypto";
import { lstatSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrorCode, IpcAdapterError } from "../errors";

/** The name of the private directory, under `$PM2_HOME`. */
export const SOCKET_DIRECTORY_NAME = "sio-ipc";

/**
 * The longest socket path we use, in bytes. `sockaddr_un.sun_path` holds 108 bytes on Linux and
 * 104 on macOS, the terminating NUL included.
 */
export const MAX_SOCKET_PATH = 103;

/** Group names used as they are in file names; others are hashed. */
const PLAIN_GROUP = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,31}$/;

/** The files of one group: the hub's socket and the lock its elected owner holds. */
export interface GroupPaths {
  directory: string;
  socket: string;
  lock: string;
}

/**
 * The file-name stem of a group. Short plain names stay readable; any other name becomes `~` and a
 * hash, which no plain name can equal (`~` is not in the plain alphabet), so two groups never share
 * a file.
 */
export function groupFileName(group: string): string {
  if (PLAIN_GROUP.test(group)) return group;
  return `~${createHash("sha256").update(group).digest("hex").slice(0, 32)}`;
}

function userId(): number | null {
  return typeof process.getuid === "function" ? process.getuid() : null;
}

/** The directories to use, best first: `$PM2_HOME/sio-ipc`, then `<tmpdir>/sio-ipc-<uid>`. */
export function candidateDirectories(env: NodeJS.ProcessEnv = process.env): string[] {
  const candidates: string[] = [];
  if (env.PM2_HOME) candidates.push(join(env.PM2_HOME, SOCKET_DIRECTORY_NAME));
  candidates.push(join(tmpdir(), `${SOCKET_DIRECTORY_NAME}-${userId() ?? "user"}`));
  return candidates;
}

function fail(message: string, cause?: unknown): never {
  throw new IpcAdapterError(ErrorCode.SOCKET_DIRECTORY, message, cause === undefined ? undefined : { cause });
}

/**
 * Creates `directory` with mode 0700 if it does not exist, then checks it with lstat: a real
 * directory (not a symlink), owned by this process's user, with no permission bit for group or
 * others. Throws an IpcAdapterError (code SIO_IPC_ERR_SOCKET_DIRECTORY) otherwise.
 */
export function ensurePrivateDirectory(directory: string): void {
  try {
    mkdirSync(directory, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") {
      fail(`socket.io-ipc-adapter cannot create its socket directory ${directory}: ${(error as Error).message}`, error);
    }
  }
  const stat = lstatSync(directory);
  const fix = `remove it (it is only a meeting point for the processes of one user) or set PM2_HOME to a directory of yours`;
  if (stat.isSymbolicLink()) fail(`socket.io-ipc-adapter: its socket directory ${directory} is a symlink; ${fix}`);
  if (!stat.isDirectory()) fail(`socket.io-ipc-adapter: its socket directory ${directory} is not a directory; ${fix}`);
  const uid = userId();
  if (uid !== null && stat.uid !== uid) {
    fail(
      `socket.io-ipc-adapter: its socket directory ${directory} belongs to uid ${stat.uid}, not to this user (uid ${uid}); ${fix}`,
    );
  }
  if ((stat.mode & 0o077) !== 0) {
    fail(
      `socket.io-ipc-adapter: its socket directory ${directory} has mode ${(stat.mode & 0o777).toString(8)}, open to other users (expected 700); ${fix}`,
    );
  }
}

/** A hub listens on a temporary name first (see socket-hub.ts): `~`, 12 hex digits, `.tmp`. */
const TEMPORARY_NAME_LENGTH = 17;

/** A fresh temporary socket path in the group's directory, no longer than the budget allows. */
export function temporarySocketPath(paths: GroupPaths): string {
  return join(paths.directory, `~${randomBytes(6).toString("hex")}.tmp`);
}

/**
 * The paths of `group`: in the first candidate directory whose socket path fits in
 * {@link MAX_SOCKET_PATH} bytes. The directory is created and checked here; throws an
 * IpcAdapterError when it is not private, when no candidate is short enough, or on Windows.
 */
export function resolveGroupPaths(group: string, env: NodeJS.ProcessEnv = process.env): GroupPaths {
  /* c8 ignore next 5: Node has no Unix sockets on Windows (net paths there are named pipes) */
  if (process.platform === "win32") {
    fail(
      "socket.io-ipc-adapter: PM2 mode needs Unix sockets, which Node does not offer on Windows; pass createAdapter({ pm2: false }) to run each instance alone",
    );
  }
  const stem = groupFileName(group);
  for (const directory of candidateDirectories(env)) {
    const socket = join(directory, `${stem}.sock`);
    const longest = Math.max(Buffer.byteLength(socket), Buffer.byteLength(directory) + 1 + TEMPORARY_NAME_LENGTH);
    if (longest > MAX_SOCKET_PATH) continue;
    ensurePrivateDirectory(directory);
    return { directory, socket, lock: join(directory, `${stem}.lock`) };
  }
  return fail(
    `socket.io-ipc-adapter: no socket path for group ${JSON.stringify(group)} fits in ${MAX_SOCKET_PATH} bytes (tried ${candidateDirectories(env).join(", ")}); set PM2_HOME or TMPDIR to a shorter directory`,
  );
}
