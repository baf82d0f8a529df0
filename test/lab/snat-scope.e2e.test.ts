// Our SNAT rule touches only the connections our listeners open: an IPv4 port forward that someone else's rule
// makes to the device keeps its client's address, as the device sees it, while the listeners still serve.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DEFAULT_PORTS, LAN_ADDRESS, createLabFor, parseDeviceAnswer, waitFor } from "./lab.js";

const TEST = { timeout: 90_000 };
/** The WAN link's IPv4 addresses for the forward (inside the lab's namespaces only). */
const GW_WAN4 = "192.168.77.1";
const CLIENT4 = "192.168.77.2";
const FORWARD_PORT = 8080;

for (const firewall of ["nft", "iptables"] as const) {
  describe(`SNAT scope (${firewall})`, () => {
    it(
      "a DNATed IPv4 forward to the device keeps its client's address; the listeners still serve",
      TEST,
      async (t) => {
        const lab = await createLabFor(t);
        const config = await lab.writeConfig({ firewall });
        const agent = lab.startAgent(config);
        await agent.waitPhase("serving", 15_000);
        const device = await lab.deviceAddress();
        assert.ok(device !== undefined);

        // Someone else's port forward: WAN IPv4 :8080 -> device :80, in a table of its own.
        await lab.ipOk("gw", ["addr", "add", `${GW_WAN4}/24`, "dev", "wan0"]);
        await lab.ipOk("cli", ["addr", "add", `${CLIENT4}/24`, "dev", "eth0"]);
        await lab.sysctl("gw", { "net.ipv4.ip_forward": 1 });
        await lab.execOk("gw", ["nft", "-f", "-"], {
          input:
            "table ip labforward {\n" +
            "\tchain prerouting {\n" +
            "\t\ttype nat hook prerouting priority dstnat; policy accept;\n" +
            `\t\tiifname "wan0" tcp dport ${FORWARD_PORT} dnat to ${device}:80\n` +
            "\t}\n" +
            "}\n",
        });

        const forwarded = await lab.exec("cli", [
          "curl",
          "-sS",
          "--fail",
          "--noproxy",
          "*",
          "--max-time",
          "3",
          `http://${GW_WAN4}:${FORWARD_PORT}/cgi-bin/whoami`,
        ]);
        assert.ok(forwarded.ok, `the forward answers: ${forwarded.stderr}`);
        const answer = parseDeviceAnswer(forwarded.stdout);
        assert.equal(answer?.remote, CLIENT4, "the device sees the forward's client, not the gateway");

        for (const { listen, target } of DEFAULT_PORTS) {
          const served = await waitFor(async () => {
            const r = await lab.curl6(listen);
            return r.ok ? r : undefined;
          });
          assert.deepEqual(served.answer, { port: target, remote: LAN_ADDRESS }, `listener ${listen}`);
        }
      },
    );
  });
}
