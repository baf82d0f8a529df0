// Publishing without a queue: the latest payload per topic, at most one unacknowledged message per topic.
import type { IClientPublishOptions, MqttClient } from "mqtt";
import type { Logger } from "pino";

/** Retained, at least once: availability, state and discovery. */
export const RETAINED: IClientPublishOptions = { qos: 1, retain: true };

/**
 * Publishes the latest payload per topic with at most one unacknowledged message per topic: a burst of state
 * changes costs the publish in flight plus one more, never a queue. While disconnected a publish is dropped (every
 * part republishes in full on reconnect).
 */
export class LatestPublisher {
  private generation = 0;
  private readonly inFlight = new Map<string, number>();
  private readonly pending = new Map<string, { payload: string; options: IClientPublishOptions }>();

  constructor(
    private readonly client: MqttClient,
    private readonly log: Logger,
  ) {}

  publish(topic: string, payload: string, options: IClientPublishOptions): void {
    if (!this.client.connected) return;
    if (this.inFlight.has(topic)) {
      this.pending.set(topic, { payload, options });
      return;
    }
    this.send(topic, payload, options);
  }

  /** Forgets what is in flight and pending: called when a connection starts or ends. */
  reset(): void {
    this.inFlight.clear();
    this.pending.clear();
  }

  private send(topic: string, payload: string, options: IClientPublishOptions): void {
    const generation = ++this.generation;
    this.inFlight.set(topic, generation);
    this.client.publish(topic, payload, options, (error) => {
      if (this.inFlight.get(topic) !== generation) return;
      this.inFlight.delete(topic);
      if (error) this.log.debug({ topic, error: error.message }, "mqtt publish not acknowledged");
      const next = this.pending.get(topic);
      if (next === undefined) return;
      this.pending.delete(topic);
      if (this.client.connected) this.send(topic, next.payload, next.options);
    });
  }
}
