import t from "tap";
import { startPm2 } from "../helpers/pm2";
import { once } from "../helpers/wait";

t.test("smoke", async (t) => {
  const pm2 = await startPm2(t, [{ name: "app", instances: 2, env: { DEBUG: "socket.io-ipc-adapter:*" } }]);
  const instances = await pm2.instances("app");
  t.equal(instances.length, 2);
  await pm2.waitForServerCount(instances, 2);
  const clients = await Promise.all(instances.map((i) => pm2.connect(i)));
  const got = Promise.all(clients.map((s) => once(s, "hello")));
  await pm2.eval(instances[0], `io.emit("hello", "world"); return true`);
  const res = await got;
  t.same(
    res.map((r) => r[0]),
    ["world", "world"],
  );
});
