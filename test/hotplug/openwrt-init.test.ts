// The procd init script, sourced by busybox ash with procd's helpers replaced by stubs that print their calls:
// checks what the script registers with procd, without an OpenWrt system.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "../..");
const INIT = join(ROOT, "openwrt/sixgate.init");
const BUSYBOX = ["/usr/bin/busybox", "/bin/busybox"].find((p) => existsSync(p));
const SHELLCHECK = ["/usr/bin/shellcheck", "/usr/local/bin/shellcheck"].find((p) => existsSync(p));

const STUBS = `
procd_open_instance() { echo "open $*"; }
procd_set_param() { echo "param $*"; }
procd_close_instance() { echo "close"; }
procd_send_signal() { echo "signal $*"; }
`;

function sourced(commands: string): { code: number; stdout: string; stderr: string } {
  try {
    const stdout = execFileSync(
      BUSYBOX ?? "busybox",
      ["ash", "-c", `${STUBS}\n. "$1"\n${commands}`, "sh", INIT],
      {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    return { code: 0, stdout, stderr: "" };
  } catch (e) {
    const error = e as { status: number; stdout: string; stderr: string };
    return { code: error.status, stdout: error.stdout, stderr: error.stderr };
  }
}

const skip = BUSYBOX === undefined ? "busybox is not installed" : false;

test("start_service registers one respawned instance running sixgate run --config", { skip }, () => {
  const result = sourced(`CONFIG=${INIT}; [ "$USE_PROCD" = 1 ] && start_service`);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(result.stdout.trimEnd().split("\n"), [
    "open sixgate",
    `param command /usr/bin/sixgate run --config ${INIT}`,
    "param env NODE_OPTIONS=--jitless --max-semi-space-size=1 --expose-gc",
    "param respawn 3600 5 5",
    `param file ${INIT}`,
    "param stdout 1",
    "param stderr 1",
    "param term_timeout 10",
    "close",
  ]);
});

test("start_service refuses to start without a config file", { skip }, () => {
  const result = sourced("CONFIG=/nonexistent/config.yaml; start_service");
  assert.notEqual(result.code, 0);
  assert.equal(result.stdout, "");
  assert.match(result.stderr, /\/nonexistent\/config\.yaml is missing/);
});

test("reload sends SIGHUP to the instance (no restart)", { skip }, () => {
  assert.equal(sourced("reload_service").stdout, "signal sixgate sixgate HUP\n");
});

test("the default config path is /etc/sixgate/config.yaml", { skip }, () => {
  assert.equal(sourced('echo "$PROG $CONFIG"').stdout, "/usr/bin/sixgate /etc/sixgate/config.yaml\n");
});

test(
  "shellcheck -s sh finds nothing in the init script",
  { skip: SHELLCHECK === undefined ? "shellcheck missing" : false },
  () => {
    assert.equal(execFileSync(SHELLCHECK ?? "shellcheck", ["-s", "sh", INIT], { encoding: "utf8" }), "");
  },
);
