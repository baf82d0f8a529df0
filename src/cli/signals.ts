// Signals for `sixgate run`, caught from its first moment. The default action of SIGHUP, SIGTERM and SIGINT is to
// end the process, so a reload (SIGHUP) sent while the agent is still starting would kill it. Until the agent
// attaches its handler, each signal is held, once per kind, and delivered in order on attach.

export const AGENT_SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP"] as const;
export type AgentSignal = (typeof AGENT_SIGNALS)[number];

export interface SignalInbox {
  /** Sets the handler; signals that arrived before are delivered to it at once, in order. */
  attach(handler: (signal: AgentSignal) => void): void;
}

/** Installs the process handlers for AGENT_SIGNALS now. Call it before anything slow happens. */
export function catchSignals(): SignalInbox {
  let handler: ((signal: AgentSignal) => void) | undefined;
  const held: AgentSignal[] = [];
  for (const signal of AGENT_SIGNALS) {
    process.on(signal, () => {
      if (handler !== undefined) handler(signal);
      else if (!held.includes(signal)) held.push(signal);
    });
  }
  return {
    attach(next) {
      handler = next;
      for (const signal of held.splice(0)) next(signal);
    },
  };
}
