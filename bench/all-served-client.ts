// The reaction bench's client, run by bench/reaction.ts inside the lab's client namespace. It waits for a trigger (a
// file holding "SEQ ADDRESS", polled every 5 ms), then asks every port at ADDRESS until each has given the device's
// answer once ("sixgate-lab-device port=TARGET", as the lab's busybox httpd and the benches' nginx, bench/nginx.ts,
// give it), at most CONCURRENCY requests in flight, and prints one JSON line:
// {"seq", "doneAt" (ms since the epoch, when the last port answered), "pending" (ports never answered), "stalled"
// (connections that hung: no answer within HEDGE_MS, then none at all)}.
// One process for every sample: a client started per request (curl) costs more than the switch it measures.
//
// Usage: all-served-client.ts TRIGGER_FILE PORT[,PORT...] TARGET
import { readFileSync } from "node:fs";
import { get } from "node:http";

const [triggerFile, portList, targetArg] = process.argv.slice(2);
if (triggerFile === undefined || portList === undefined || targetArg === undefined) {
  process.stderr.write("usage: all-served-client.ts TRIGGER_FILE PORT[,PORT...] TARGET\n");
  process.exit(64);
}
const ports = portList.split(",").map(Number);
const expected = `sixgate-lab-device port=${targetArg}`;
const CONCURRENCY = 16;
const REQUEST_TIMEOUT_MS = 1000;
/**
 * A request with no answer after this long gets a fresh connection beside it (up to MAX_ATTEMPTS): a connection made
 * just before the switch can hang on the old path (an HAProxy worker that keeps its connections across a reload,
 * connecting to a device address that is gone) until its timeout, and the figure is about new connections.
 */
const HEDGE_MS = 100;
const MAX_ATTEMPTS = 5;
const SWEEP_DEADLINE_MS = 30_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** True when [address]:port gave the device's answer within REQUEST_TIMEOUT_MS or before `signal` aborts. */
function attempt(address: string, port: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const request = get(
      {
        hostname: address,
        port,
        path: "/",
        agent: false,
        signal: AbortSignal.any([signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]),
      },
      (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (body += chunk));
        response.on("end", () => resolve(response.statusCode === 200 && body.includes(expected)));
        response.on("error", () => resolve(false));
      },
    );
    request.on("error", () => resolve(false));
  });
}

/** Connections that got no answer within HEDGE_MS and then none at all (timed out, or dropped for a newer one). */
let stalled = 0;

/**
 * True when [address]:port gave the device's answer: a new connection every HEDGE_MS while none has answered; false as
 * soon as the newest one fails (the port does not serve yet), or when all have timed out. Never rejects.
 */
function answers(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const controller = new AbortController();
    /** When each attempt in flight started. */
    const inFlight = new Set<{ started: number }>();
    let finished = false;
    let launched = 0;
    let hedge: NodeJS.Timeout | undefined;
    const hung = (a: { started: number }) => Date.now() - a.started >= HEDGE_MS;
    const finish = (ok: boolean) => {
      finished = true;
      clearTimeout(hedge);
      for (const a of inFlight) if (hung(a)) stalled++;
      controller.abort();
      resolve(ok);
    };
    const launch = () => {
      const mine = ++launched;
      const a = { started: Date.now() };
      inFlight.add(a);
      void attempt(address, port, controller.signal).then((ok) => {
        if (finished) return;
        inFlight.delete(a);
        if (ok) finish(true);
        else {
          if (hung(a)) stalled++;
          if (mine === launched) finish(false);
        }
      });
      if (launched < MAX_ATTEMPTS) hedge = setTimeout(launch, HEDGE_MS);
    };
    launch();
  });
}

async function sweep(seq: string, address: string): Promise<void> {
  const deadline = Date.now() + SWEEP_DEADLINE_MS;
  let pending = [...ports];
  let doneAt = 0;
  stalled = 0;
  while (pending.length > 0 && Date.now() < deadline) {
    const answered = new Set<number>();
    let next = 0;
    const worker = async () => {
      while (next < pending.length) {
        const port = pending[next++];
        if (port !== undefined && (await answers(address, port))) {
          answered.add(port);
          doneAt = Date.now();
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    pending = pending.filter((p) => !answered.has(p));
    if (pending.length > 0) await sleep(5);
  }
  process.stdout.write(`${JSON.stringify({ seq, doneAt, pending, stalled })}\n`);
}

// SIGTERM ends the process (the default action); a client left behind ends on its own after LIFETIME_MS.
const LIFETIME_MS = 15 * 60_000;
const endAt = Date.now() + LIFETIME_MS;
let last = "";
while (Date.now() < endAt) {
  let trigger = "";
  try {
    trigger = readFileSync(triggerFile, "utf8").trim();
  } catch {
    // not written yet
  }
  const [seq, address] = trigger.split(" ");
  if (seq !== undefined && address !== undefined && seq !== last) {
    last = seq;
    await sweep(seq, address);
  } else await sleep(5);
}
