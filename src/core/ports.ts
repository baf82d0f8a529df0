// Port mappings as the operator writes them (one port, or an inclusive range "8000-8010") and the one-port pairs the
// rest of the agent works with. A range is kept as written in config, state.json, status and MQTT; plan() expands
// it to one listener per port (the listener's key stays device/listen).

/** A port as written: a number, or an inclusive range "first-last" (first < last, both 1-65535). */
export type PortText = number | `${number}-${number}`;

/** A port mapping as written; listen and target name as many ports (config/schema.ts checks it). */
export interface PortMapping {
  listen: PortText;
  target: PortText;
}

/** One listen port to one target port. */
export interface PortPair {
  listen: number;
  target: number;
}

/** An inclusive range of ports; a single port is a range of one. */
export interface PortSpan {
  first: number;
  last: number;
}

const RANGE_TEXT = /^(\d{1,5})\s*-\s*(\d{1,5})$/;

/**
 * The span a written port names: a number is a span of one, "8000-8010" (blanks around the "-" allowed) its two ends
 * as written, not checked for order or bounds (the schema does that). undefined for any other string: a single port
 * is written as a number.
 */
export function parseSpan(value: number | string): PortSpan | undefined {
  if (typeof value === "number") return { first: value, last: value };
  const m = RANGE_TEXT.exec(value.trim());
  return m === null ? undefined : { first: Number(m[1]), last: Number(m[2]) };
}

/** How many ports a span holds. */
export const spanSize = (span: PortSpan): number => span.last - span.first + 1;

/** The written form of a span: a number for one port, else "first-last". */
export const spanText = (span: PortSpan): PortText =>
  span.first === span.last ? span.first : `${span.first}-${span.last}`;

/** A checked mapping's listen span, target span and port count (listen and target hold as many ports). */
export function mappingSpans(p: PortMapping): { listen: PortSpan; target: PortSpan; count: number } {
  const listen = parseSpan(p.listen) ?? { first: 0, last: -1 };
  const target = parseSpan(p.target) ?? { first: 0, last: -1 };
  return { listen, target, count: spanSize(listen) };
}

/** Whether a mapping names a range (more than one port). */
export const isRange = (p: PortMapping): boolean => mappingSpans(p).count > 1;

/** Each port of each mapping, in the order written: listen first+i goes to target first+i. */
export function expandPorts(ports: readonly PortMapping[]): PortPair[] {
  return ports.flatMap((p) => {
    const { listen, target, count } = mappingSpans(p);
    return Array.from({ length: count }, (_, i) => ({ listen: listen.first + i, target: target.first + i }));
  });
}

/** How many listeners the mappings spawn (one per listen port). */
export const portCount = (ports: readonly PortMapping[]): number =>
  ports.reduce((n, p) => n + mappingSpans(p).count, 0);

/** "8000-8010->9000-9010", "80->80": a mapping for logs and messages. */
export const mappingText = (p: PortMapping): string => `${p.listen}->${p.target}`;
