// End-to-end check of the generated SDK against a live `iogo dev`:
//
//	node --experimental-websocket dist/test/e2e.js ws://127.0.0.1:10100/websocket
//
// It logs in, calls routes of both bundled services, checks error codes,
// receives a chat push through a typed listener, and re-dials after the
// server kicks a session. It prints "e2e ok" and
// exits 0 on success; anything else is a failure. tests/sdk_ts_test.go runs
// it.

import { Client, IogoError } from "../src/runtime.js";
import { ErrorCode } from "../src/errors.js";
import * as demo from "../src/demo.js";
import * as login from "../src/login.js";

// The few Node globals used here; the SDK itself needs none.
declare const process: { argv: string[]; exit(code: number): never };

function check(cond: boolean, what: string): void {
  if (!cond) throw new Error("check failed: " + what);
}

async function expectCode(p: Promise<unknown>, code: number, what: string): Promise<void> {
  try {
    await p;
  } catch (e) {
    check(e instanceof IogoError && e.code === code, `${what}: want code ${code}, got ${String(e)}`);
    return;
  }
  throw new Error(`${what}: want code ${code}, got success`);
}

async function main(): Promise<void> {
  const url = process.argv[2];
  if (url === undefined) throw new Error("usage: e2e.js WS_URL");
  const c = await Client.connect(url, { timeoutMs: 10000, heartbeatMs: 1000, reconnect: false });
  const listener = await Client.connect(url, { timeoutMs: 10000, reconnect: false });
  try {
    await expectCode(login.whoAmI(c, {}), ErrorCode.LoginRequired, "whoAmI before login");
    const user = await login.guestLogin(c, { deviceId: "ts-e2e", nickname: "ts" });
    check(user.id > 0n && user.nickname === "ts", "guestLogin " + JSON.stringify({ id: String(user.id), nick: user.nickname }));
    const me = await login.whoAmI(c, {});
    check(me.id === user.id, "whoAmI after login");

    const hi = await demo.hello(c, { name: "ts" });
    check(hi.text === "hello, ts", "hello: " + hi.text);
    const e = await demo.echo(c, { text: "x", seq: 7n });
    check(e.text === "x" && e.seq === 7n, "echo");
    check((await demo.sum(c, [1n, 2n, 39n])) === 42n, "sum");
    await expectCode(demo.fail(c, 4242), 4242, "fail");

    // A push listener on a second connection sees the chat line that the
    // first one broadcasts.
    const got = new Promise<string>((resolve) => {
      const stop = demo.onEchoMsg(listener, (m) => {
        if (m.text === "hi from ts") {
          stop();
          resolve(m.text);
        }
      });
    });
    // The listener's connection must exist at the gate before the
    // broadcast: a round trip on it proves that.
    await demo.hello(listener, {});
    demo.chat(c, { text: "hi from ts" });
    check((await got) === "hi from ts", "chat push");

    // Reconnect: logging the same device in elsewhere kicks this session
    // (ForcedOffline, then the gate closes the connection); the client
    // re-dials by itself and works again.
    const r = await Client.connect(url, { reconnect: true, reconnectDelayMs: 50 });
    try {
      await login.guestLogin(r, { deviceId: "ts-kick" });
      const kicked = new Promise<number>((resolve) => r.onError((e) => resolve(e.code)));
      const back = new Promise<void>((resolve) => r.onReconnect(resolve));
      await login.guestLogin(c, { deviceId: "ts-kick" });
      check((await kicked) === ErrorCode.ForcedOffline, "kick code");
      await back;
      check((await demo.hello(r, { name: "again" })).text === "hello, again", "call after reconnect");
    } finally {
      r.close();
    }
    console.log("e2e ok");
  } finally {
    c.close();
    listener.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
