// The TSIG key file, in BIND's format (what `tsig-keygen NAME` prints, named.conf(5) "key" statement):
//   key "name" { algorithm hmac-sha256; secret "base64"; };
// Checked when the config is loaded, so a wrong file is refused with the field named rather than failing each update.
// nsupdate reads the file itself (`nsupdate -k FILE`); the secret never leaves this module, nor any message.
import { readFile } from "node:fs/promises";

/** The algorithms nsupdate accepts for a TSIG key (RFC 8945 section 6; hmac-md5 only for old servers). */
export const TSIG_ALGORITHMS = [
  "hmac-md5",
  "hmac-sha1",
  "hmac-sha224",
  "hmac-sha256",
  "hmac-sha384",
  "hmac-sha512",
] as const;

/** What the file says, without the secret. */
export interface TsigKeyInfo {
  name: string;
  algorithm: (typeof TSIG_ALGORITHMS)[number];
}

const KEY_STATEMENT =
  /^key\s+"?([A-Za-z0-9][A-Za-z0-9._-]{0,252})"?\s*\{\s*algorithm\s+"?([a-z0-9-]+)"?\s*;\s*secret\s+"([^"]*)"\s*;\s*\}\s*;$/;

/**
 * The text with its comments (`#` and `//` to the end of the line, `/* *\/`) replaced by a blank. Only outside quoted
 * strings: a base64 secret may hold "//" (about one tsig-keygen key in a hundred), which named.conf reads as part of
 * the secret.
 */
function withoutComments(text: string): string {
  // A quoted string (kept whole), or a comment (blanked).
  return text.replace(
    /("[^"]*")|\/\*[\s\S]*?\*\/|(?:#|\/\/)[^\n]*/g,
    (match, quoted: string | undefined) => quoted ?? " ",
  );
}

/**
 * Parses the text of a key file holding exactly one key. Returns the key's name and algorithm, or a problem that
 * quotes nothing of the secret. Comments (`#`, `//`, `/* *\/`) are allowed, as in named.conf.
 */
export function parseTsigKey(text: string): TsigKeyInfo | { problem: string } {
  const body = withoutComments(text).replace(/\s+/g, " ").trim();
  const match = KEY_STATEMENT.exec(body);
  if (match === null)
    return {
      problem: 'is not one BIND key statement: key "name" { algorithm hmac-sha256; secret "..."; };',
    };
  const [, name = "", algorithm = "", secret = ""] = match;
  const known = TSIG_ALGORITHMS.find((a) => a === algorithm);
  if (known === undefined)
    return { problem: `algorithm ${algorithm} is not one of ${TSIG_ALGORITHMS.join(", ")}` };
  if (secret.length === 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(secret) || secret.length % 4 !== 0)
    return { problem: "secret is not base64 (tsig-keygen writes a valid one)" };
  return { name, algorithm: known };
}

/** Reads and checks the key file; throws an Error whose message names the problem (never the secret). */
export async function readTsigKey(path: string): Promise<TsigKeyInfo> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new Error(`cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { cause: e });
  }
  if (text.length > 64 * 1024) throw new Error(`${path} is larger than 64 KiB: not a key file`);
  const key = parseTsigKey(text);
  if ("problem" in key) throw new Error(`${path} ${key.problem}`);
  return key;
}
