// Connection errors from node, said the way an operator thinks about them.

export function connectProblem(error: string, host: string, port: number): string {
  if (/ECONNREFUSED/.test(error)) return `refused: nothing listens on ${host} port ${port}`;
  if (/timed out/.test(error)) return `no answer (${error})`;
  if (/EHOSTUNREACH/.test(error))
    return `host unreachable: nothing answers ARP / neighbour discovery for ${host}`;
  if (/ENETUNREACH/.test(error)) return `network unreachable: no route to ${host}`;
  if (/EADDRNOTAVAIL/.test(error)) return `the source address is not on this host (${error})`;
  if (/closed by the far end/.test(error)) return "accepted, then closed at once by the far end";
  return error;
}
