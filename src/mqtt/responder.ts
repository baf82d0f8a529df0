// The command responder part: requests on `<base>/request` (commands.ts validates and runs them), answers on
// `<base>/response`. At most MAX_CONCURRENT_COMMANDS at once; each answered within the command timeout. A read-only
// agent has no responder, so nothing is subscribed that could act on the gateway.
import type { Logger } from "pino";
import type { AgentControl } from "../control.js";
import { errorText, executeCommand, parseRequest, type CommandResponse } from "./commands.js";
import { withTimeout, type Connection, type Part } from "./connection.js";
import type { StatePart } from "./state-publisher.js";
import type { Topics } from "./topics.js";

/** At most this many commands run at once; more are refused with "busy". */
export const MAX_CONCURRENT_COMMANDS = 4;

export interface ResponderOptions {
  connection: Connection;
  control: AgentControl;
  state: StatePart;
  topics: Pick<Topics, "request" | "response">;
  /** A command that takes longer is answered with an error (the action itself may still complete). */
  commandTimeoutMs: number;
  log: Logger;
  scrub: (text: string) => string;
}

export function startResponder(options: ResponderOptions): Part {
  const { connection, control, state, topics, commandTimeoutMs, log, scrub } = options;
  const { client } = connection;
  let running = 0;

  const respond = (response: CommandResponse) => {
    if (!client.connected) {
      log.debug({ id: response.id }, "not connected; response dropped");
      return;
    }
    let text: string;
    try {
      text = JSON.stringify(response);
    } catch {
      text = JSON.stringify({ id: response.id, ok: false, error: "result could not be encoded as JSON" });
    }
    client.publish(topics.response, scrub(text), { qos: 1, retain: false }, (error) => {
      if (error) log.debug({ error: error.message }, "response not acknowledged");
    });
  };

  const handleRequest = (payload: Buffer) => {
    const parsed = parseRequest(payload);
    if (!parsed.ok) {
      log.info({ id: parsed.response.id, error: parsed.response.error }, "mqtt request refused");
      respond(parsed.response);
      return;
    }
    const { id, command } = parsed;
    if (running >= MAX_CONCURRENT_COMMANDS) {
      respond({ id, ok: false, error: `busy: ${running} commands in progress, try again` });
      return;
    }
    running++;
    log.info({ id, command: command.name }, "mqtt command");
    const work = executeCommand(command, {
      control,
      state: () => state.current(),
      onProbe: (report, device) => state.noteProbe(report, device),
    });
    void work.finally(() => running--).catch(() => undefined);
    withTimeout(work, commandTimeoutMs, `${command.name} timed out after ${commandTimeoutMs} ms`).then(
      (result) => respond({ id, ok: true, result }),
      (e: unknown) => {
        const error = scrub(errorText(e));
        log.warn({ id, command: command.name, error }, "mqtt command failed");
        respond({ id, ok: false, error });
      },
    );
  };

  return {
    topics: [topics.request],
    onMessage(topic, payload, retained) {
      if (retained) {
        log.warn({ topic }, "ignoring a retained request (clear it with an empty retained message)");
        return;
      }
      handleRequest(payload);
    },
  };
}
