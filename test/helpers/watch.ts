/**
 * Fails the test that owns a process (a cluster worker, a forked helper) when the process reports
 * an uncaught exception or an unhandled rejection (test/fixtures/report-fatal.js), or when it exits
 * with an error code or a signal that the test did not send.
 */

/** What a test needs to be failed from outside its body: tap's Test, or a recorder in self-tests. */
export interface Owner {
  fail(message: string, extra?: object): unknown;
}

interface Watchable {
  on(event: "message", listener: (message: any) => void): unknown;
  once(event: "exit", listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
}

/**
 * Watches `target`. `expected()` tells whether an exit was asked for by the test (a kill, a
 * disconnect, teardown); an exit with code 0 is the process's own clean exit and passes too.
 */
export function watchProcess(owner: Owner, target: Watchable, name: string, expected: () => boolean): void {
  let reported = false;
  target.on("message", (message) => {
    if (message?.test !== "fatal") return;
    reported = true;
    owner.fail(`${name}: ${message.kind}: ${message.message}`, { stack: message.stack });
  });
  target.once("exit", (code, signal) => {
    if (reported || code === 0 || expected()) return;
    owner.fail(`${name} exited unexpectedly (code ${code}, signal ${signal})`);
  });
}
