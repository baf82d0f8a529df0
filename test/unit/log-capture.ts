// A pino logger whose lines a test can read back.
import { Writable } from "node:stream";
import { pino, type Logger } from "pino";

/** One pino line (level as pino's number: 20 debug, 30 info, 40 warn, 50 error). */
export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A debug-level logger writing into `lines`, parsed, in order. */
export function captureLog(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString().split("\n"))
        if (text !== "") lines.push(JSON.parse(text) as LogLine);
      done();
    },
  });
  return { log: pino({ level: "debug" }, stream), lines };
}
