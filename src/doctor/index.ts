// sixgate doctor: walks the path from the WAN to the device hop by hop and says where it breaks. Changes nothing.
import type { Config } from "../core/types.js";
import { runChecks } from "./checks/index.js";
import { gather, type GatherOptions } from "./gather.js";
import { summarize, type DoctorReport } from "./types.js";

export { formatReport } from "./format.js";
export type { Check, CheckStatus, DoctorReport } from "./types.js";
export type { GatherOptions } from "./gather.js";

export async function runDoctor(config: Config, options: GatherOptions): Promise<DoctorReport> {
  return summarize(runChecks(await gather(config, options)));
}
