// A TCP proxy on loopback that the test can cut: while cut it forwards nothing in either direction and closes
// nothing, as when a link drops every packet (the half-open case), instead of the clean close of a broker stop.
// Bytes sent during the cut wait in the sockets' buffers and are delivered on restore, as TCP retransmission
// would; a connection opened during the cut reaches the broker only on restore, if its client still holds it.
import { createServer, connect, type Server, type Socket } from "node:net";

export interface CutProxy {
  port: number;
  url: string;
  /** Stops forwarding, closing nothing: both directions, or only what the server sends (`"from-server"`). */
  cut(direction?: "both" | "from-server"): void;
  /** Forwards again: first what waited, then what comes. */
  restore(): void;
  /** Connections from clients currently open through the proxy (those the clients have not closed). */
  readonly open: number;
  /** Closes every connection through the proxy (between tests). */
  reset(): void;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream?: Socket;
}

export async function startCutProxy(targetPort: number): Promise<CutProxy> {
  const pairs = new Set<Pair>();
  let isCut = false;
  let direction: "both" | "from-server" = "both";

  const link = (pair: Pair) => {
    const upstream = connect({ host: "127.0.0.1", port: targetPort });
    pair.upstream = upstream;
    // Plain data handlers, not pipe(): pipe resumes a source on its own, and a cut must hold until restore.
    upstream.on("data", (chunk) => pair.client.write(chunk));
    pair.client.on("data", (chunk) => upstream.write(chunk));
    upstream.on("error", () => pair.client.destroy());
    upstream.on("close", () => pair.client.destroy());
    pair.client.on("end", () => upstream.end());
    pair.client.on("close", () => upstream.end()); // after what the client sent: never drop it
  };
  const pause = (pair: Pair) => {
    if (direction === "both") pair.client.pause();
    pair.upstream?.pause();
  };

  const reset = () => {
    isCut = false;
    for (const pair of pairs) {
      pair.client.destroy();
      pair.upstream?.destroy();
    }
    pairs.clear();
  };

  const server: Server = createServer((client) => {
    const pair: Pair = { client };
    pairs.add(pair);
    client.on("error", () => undefined);
    client.on("close", () => pairs.delete(pair));
    if (isCut && direction === "both") client.pause();
    else link(pair);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address !== "object") throw new Error("proxy has no port");
  const port = address.port;

  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    cut(which = "both") {
      isCut = true;
      direction = which;
      for (const pair of pairs) pause(pair);
    },
    restore() {
      isCut = false;
      for (const pair of pairs) {
        if (pair.upstream === undefined) link(pair);
        else {
          pair.client.resume();
          pair.upstream.resume();
        }
      }
    },
    get open() {
      return [...pairs].filter((p) => !p.client.destroyed).length;
    },
    reset,
    async close() {
      reset();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
