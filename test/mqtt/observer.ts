// What a dashboard sees: a separate MQTT client that records every message on the topics it watches, and helpers
// that wait (always with a deadline) for a message to arrive.
import { connect, type IClientOptions, type MqttClient } from "mqtt";
import { randomBytes } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import { PASSWORD, USERNAME } from "./broker.js";

export interface Seen {
  topic: string;
  payload: string;
  retain: boolean;
  at: number;
  /** Order of arrival, over the whole life of the observer. */
  seq: number;
}

export class Observer {
  readonly messages: Seen[] = [];
  private seq = 0;

  private constructor(readonly client: MqttClient) {
    client.on("message", (topic, payload, packet) => {
      this.messages.push({
        topic,
        payload: payload.toString("utf8"),
        retain: packet.retain,
        at: Date.now(),
        seq: this.seq++,
      });
    });
  }

  /** Connects, subscribes to the topics and waits for the subscription to be granted. Reconnects on its own. */
  static async connect(url: string, topics: string[], extra: IClientOptions = {}): Promise<Observer> {
    const client = connect(url, {
      username: USERNAME,
      password: PASSWORD,
      clientId: `observer-${randomBytes(4).toString("hex")}`,
      reconnectPeriod: 200,
      connectTimeout: 3000,
      ...extra,
    });
    client.on("error", () => undefined);
    const observer = new Observer(client);
    await withDeadline(
      new Promise<void>((resolve, reject) => {
        client.once("connect", () => {
          client.subscribe(topics, { qos: 1 }, (error) => (error ? reject(error) : resolve()));
        });
      }),
      5000,
      `observer could not connect to ${url}`,
    );
    return observer;
  }

  /** Messages on a topic, oldest first. */
  on(topic: string): Seen[] {
    return this.messages.filter((m) => m.topic === topic);
  }

  last(topic: string): Seen | undefined {
    return this.on(topic).at(-1);
  }

  /** Waits for a message (seen already or arriving later) that matches; `after` skips older ones by seq. */
  async waitFor(
    predicate: (m: Seen) => boolean,
    what: string,
    { timeoutMs = 5000, after = -1 }: { timeoutMs?: number; after?: number } = {},
  ): Promise<Seen> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find((m) => m.seq > after && predicate(m));
      if (found !== undefined) return found;
      if (Date.now() > deadline) {
        const recent = this.messages
          .slice(-8)
          .map((m) => `${m.topic} ${m.retain ? "(retained) " : ""}${m.payload.slice(0, 120)}`)
          .join("\n  ");
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last messages:\n  ${recent}`);
      }
      await delay(20);
    }
  }

  /** The seq of the newest message so far, for waiting only on what comes next. */
  mark(): number {
    return this.seq - 1;
  }

  async publish(topic: string, payload: string, retain = false): Promise<void> {
    await withDeadline(
      this.client.publishAsync(topic, payload, { qos: 1, retain }),
      5000,
      `publish to ${topic}`,
    );
  }

  async close(): Promise<void> {
    await withDeadline(this.client.endAsync(true), 3000, "observer close").catch(() => undefined);
  }
}

export async function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** Polls a condition until it holds or the deadline passes. */
export async function eventually(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(20);
  }
}

/** Parses a JSON payload into a plain object for assertions. */
export function json(m: Seen | undefined): Record<string, unknown> {
  if (m === undefined) throw new Error("no message");
  const value: unknown = JSON.parse(m.payload);
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new Error("not a JSON object");
  return value as Record<string, unknown>;
}
