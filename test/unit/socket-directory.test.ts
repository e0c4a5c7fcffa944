// The private directory of PM2 mode: created 0700, refused when it could let another user in.
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { ErrorCode } from "../../src/errors";
import {
  candidateDirectories,
  ensurePrivateDirectory,
  groupFileName,
  MAX_SOCKET_PATH,
  resolveGroupPaths,
  temporarySocketPath,
} from "../../src/pm2/directory";

function scratch(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), "sio-dir-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const refusal = (pattern: RegExp) => ({ code: ErrorCode.SOCKET_DIRECTORY, message: pattern });

t.test("group names: short plain names as they are, any other hashed, never colliding", async (t) => {
  t.equal(groupFileName("chat-app_1.v2"), "chat-app_1.v2");
  const hashed = groupFileName("a name/with ../slashes");
  t.match(hashed, /^~[0-9a-f]{32}$/);
  t.equal(groupFileName("a name/with ../slashes"), hashed, "stable");
  t.not(groupFileName("x".repeat(33)), groupFileName("x".repeat(34)));
  t.match(groupFileName(".hidden"), /^~/, "no dot files");
  t.match(groupFileName("x".repeat(200)), /^~/, "long names are hashed");
});

t.test("creates the directory with mode 0700 and accepts it", async (t) => {
  const dir = join(scratch(t), "sio-ipc");
  ensurePrivateDirectory(dir);
  t.equal(statSync(dir).mode & 0o777, 0o700);
  ensurePrivateDirectory(dir);
  t.pass("an existing private directory is accepted");
});

t.test("refuses a directory open to others, a symlink, a file, or another owner's", async (t) => {
  const base = scratch(t);
  const open = join(base, "open");
  mkdirSync(open, { mode: 0o700 });
  chmodSync(open, 0o755);
  t.throws(() => ensurePrivateDirectory(open), refusal(/has mode 755, open to other users/));
  const real = join(base, "real");
  mkdirSync(real, { mode: 0o700 });
  const link = join(base, "link");
  symlinkSync(real, link);
  t.throws(() => ensurePrivateDirectory(link), refusal(/is a symlink/));
  const file = join(base, "file");
  writeFileSync(file, "");
  t.throws(() => ensurePrivateDirectory(file), refusal(/is not a directory/));
  t.throws(() => ensurePrivateDirectory(join(base, "missing", "deeper")), refusal(/cannot create/));
  if (process.getuid?.() === 0) {
    const foreign = join(base, "foreign");
    mkdirSync(foreign, { mode: 0o700 });
    chownSync(foreign, 12_345, 12_345);
    t.throws(() => ensurePrivateDirectory(foreign), refusal(/belongs to uid 12345, not to this user/));
  }
});

t.test("paths: under PM2_HOME, else in the temp dir, always short enough", async (t) => {
  const home = scratch(t);
  const paths = resolveGroupPaths("app", { PM2_HOME: home });
  t.same(paths, {
    directory: join(home, "sio-ipc"),
    socket: join(home, "sio-ipc", "app.sock"),
    lock: join(home, "sio-ipc", "app.lock"),
  });
  t.equal(statSync(paths.directory).mode & 0o777, 0o700);
  const deep = join(home, "d".repeat(100));
  mkdirSync(deep);
  // The fallback, in a temp dir of this test's own (os.tmpdir() follows TMPDIR).
  const savedTmp = process.env.TMPDIR;
  t.teardown(() => {
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
  });
  process.env.TMPDIR = scratch(t);
  const fallback = resolveGroupPaths("app", { PM2_HOME: deep });
  t.equal(fallback.directory, candidateDirectories({})[0], "a PM2_HOME too long for a socket path falls back");
  t.match(fallback.directory, /sio-ipc-\d+$/, "to <tmpdir>/sio-ipc-<uid>");
  t.ok(Buffer.byteLength(fallback.socket) <= MAX_SOCKET_PATH);
  t.ok(Buffer.byteLength(resolveGroupPaths("g".repeat(250), { PM2_HOME: home }).socket) <= MAX_SOCKET_PATH);
  t.ok(Buffer.byteLength(temporarySocketPath(fallback)) <= MAX_SOCKET_PATH, "so does the hub's temporary name");
  // A directory that leaves room for "a.sock" but not for the temporary name is not used either.
  const edge = join(home, "e".repeat(MAX_SOCKET_PATH - home.length - 1 - 17 - 1));
  mkdirSync(edge);
  t.not(resolveGroupPaths("a", { PM2_HOME: edge }).directory, join(edge, "sio-ipc"));
  process.env.TMPDIR = deep;
  t.throws(() => resolveGroupPaths("app", { PM2_HOME: deep }), refusal(/no socket path .* fits in 103 bytes/));
});
