// A Mosquitto broker inside the lab's gateway namespace (on that namespace's loopback, so its traffic stays in
// the lab), and mosquitto_sub / mosquitto_pub helpers that look at it as a dashboard would.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { sleep, waitFor, type Lab } from "./lab.js";

export const LAB_BASE_TOPIC = "sixgate/lab";

/** The agent config's mqtt section for the lab broker. */
export const LAB_MQTT = { url: "mqtt://127.0.0.1:1883", baseTopic: LAB_BASE_TOPIC, keepalive: 5 };

export async function startLabBroker(lab: Lab): Promise<void> {
  const conf = join(lab.dir, "mosquitto.conf");
  await writeFile(conf, "listener 1883 127.0.0.1\nallow_anonymous true\npersistence false\n");
  lab.spawn("gw", ["mosquitto", "-c", conf], "mosquitto");
  await waitFor(
    async () => (await lab.exec("gw", ["ss", "-H", "-l", "-t", "-n", "sport", "=", ":1883"])).stdout.trim(),
    {
      timeoutMs: 5_000,
      message: () => lab.readLog("mosquitto"),
    },
  );
}

/** The retained message on a topic, or undefined when there is none within a second. */
export async function retained(lab: Lab, topic: string): Promise<string | undefined> {
  const r = await lab.exec("gw", [
    "mosquitto_sub",
    "-h",
    "127.0.0.1",
    "-t",
    topic,
    "-C",
    "1",
    "-W",
    "1",
    "--retained-only",
  ]);
  return r.ok ? r.stdout.trim() : undefined;
}

export async function labState(lab: Lab): Promise<Record<string, unknown> | undefined> {
  const text = await retained(lab, `${LAB_BASE_TOPIC}/state`);
  return text === undefined || text === "" ? undefined : (JSON.parse(text) as Record<string, unknown>);
}

/** Sends a request the way a dashboard does and returns the response with the same id. */
export async function labRequest(
  lab: Lab,
  id: string,
  command: string,
  args?: unknown,
): Promise<Record<string, unknown>> {
  const response = lab.exec(
    "gw",
    ["mosquitto_sub", "-h", "127.0.0.1", "-t", `${LAB_BASE_TOPIC}/response`, "-C", "1", "-W", "10"],
    {
      timeoutMs: 12_000,
    },
  );
  await sleep(300); // the subscription is in place before the request goes out
  const payload = JSON.stringify(args === undefined ? { id, command } : { id, command, args });
  await lab.execOk("gw", [
    "mosquitto_pub",
    "-h",
    "127.0.0.1",
    "-t",
    `${LAB_BASE_TOPIC}/request`,
    "-m",
    payload,
  ]);
  const r = await response;
  if (!r.ok) throw new Error(`no response to ${command}: ${r.stderr}`);
  const body = JSON.parse(r.stdout.trim()) as Record<string, unknown>;
  if (body.id !== id) throw new Error(`response for ${String(body.id)}, not ${id}`);
  return body;
}
