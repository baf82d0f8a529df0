// Link flap damping, pure: time is an argument (milliseconds on any monotonic scale), never read from a clock.
// The operator in src/sources/damping.ts feeds it each snapshot with the scheduler's time and sets the timer that
// ends a hold; unit tests drive both with virtual time.
//
// A link that went down `flaps` times within `windowMs` is held down: the plan treats it as down, whatever it does,
// until it has been steady (no change of carrier) for `holdMs`. An isolated unplug and replug passes at once; a cable
// that bounces for ten seconds costs at most `flaps` listener restarts, then one start once it is steady.
import type { LinkInfo } from "./types.js";

export interface DampingConfig {
  /** Downs within windowMs that start a hold; 0 = damping off. */
  flaps: number;
  windowMs: number;
  holdMs: number;
}

/** What status shows per watched interface. */
export interface LinkFlaps {
  /** Times the link went down (up -> down) since the agent started. */
  flaps: number;
  /** Held down for flapping: treated as down until steady for holdMs. */
  heldDown: boolean;
}

interface Track {
  up: boolean;
  flaps: number;
  /** Times of the downs still inside the window. */
  downs: number[];
  /** Time of the last change of carrier. */
  changedAt: number;
  heldDown: boolean;
}

export interface DampingState {
  tracks: Readonly<Record<string, Track>>;
}

export const initialDamping: DampingState = { tracks: {} };

/** Folds one snapshot in: counts the downs of the watched interfaces and starts a hold where they flap. */
export function observeLinks(
  state: DampingState,
  links: readonly LinkInfo[],
  watched: readonly string[],
  now: number,
  config: DampingConfig,
): DampingState {
  const tracks: Record<string, Track> = {};
  for (const name of watched) {
    const link = links.find((l) => l.name === name);
    const up = link?.up === true;
    const before = state.tracks[name];
    if (before === undefined) {
      tracks[name] = { up, flaps: 0, downs: [], changedAt: now, heldDown: false };
      continue;
    }
    if (before.up === up) {
      tracks[name] = before;
      continue;
    }
    const wentDown = before.up && !up;
    const downs = [...before.downs, ...(wentDown ? [now] : [])].filter((t) => now - t < config.windowMs);
    tracks[name] = {
      up,
      flaps: before.flaps + (wentDown ? 1 : 0),
      downs,
      changedAt: now,
      heldDown: before.heldDown || (config.flaps > 0 && downs.length >= config.flaps),
    };
  }
  return releaseHolds({ tracks }, now, config);
}

/** Ends the holds of links that have been steady for holdMs. */
export function releaseHolds(state: DampingState, now: number, config: DampingConfig): DampingState {
  const due = Object.entries(state.tracks).filter(
    ([, t]) => t.heldDown && (config.flaps === 0 || now - t.changedAt >= config.holdMs),
  );
  if (due.length === 0) return state;
  const tracks = { ...state.tracks };
  for (const [name, t] of due) tracks[name] = { ...t, heldDown: false, downs: [] };
  return { tracks };
}

/** When the next hold ends if nothing changes, or undefined when nothing is held. */
export function nextRelease(state: DampingState, config: DampingConfig): number | undefined {
  const ends = Object.values(state.tracks)
    .filter((t) => t.heldDown)
    .map((t) => t.changedAt + config.holdMs);
  return ends.length === 0 ? undefined : Math.min(...ends);
}

/** The part status shows. */
export function linkFlaps(state: DampingState): Record<string, LinkFlaps> {
  return Object.fromEntries(
    Object.entries(state.tracks).map(([name, t]) => [name, { flaps: t.flaps, heldDown: t.heldDown }]),
  );
}
