// Link flap damping between the netlink source and reduce(): annotates each interface snapshot with flap counts and
// holds (src/core/damping.ts decides), and re-emits the last snapshot when a hold ends, so the plan follows without
// waiting for another event. The clock and the timer are injected, so unit tests run it in virtual time.
import {
  Observable,
  asyncScheduler,
  type OperatorFunction,
  type SchedulerLike,
  type Subscription,
} from "rxjs";
import {
  initialDamping,
  linkFlaps,
  nextRelease,
  observeLinks,
  releaseHolds,
  type DampingConfig,
} from "../core/damping.js";
import { wanAddressInterface } from "../core/facts.js";
import type { Config, Event, LinkInfo } from "../core/types.js";

export interface DampingSettings {
  config: DampingConfig;
  /** The interfaces whose flaps are counted and damped. */
  watched: readonly string[];
}

/** The damping settings of a config: `flapDamping`, for the WAN and LAN interfaces and `wan.addressFrom`. */
export function dampingSettings(config: Config): DampingSettings {
  const d = config.flapDamping;
  return {
    config: { flaps: d.flaps, windowMs: d.windowSec * 1000, holdMs: d.holdSec * 1000 },
    watched: [...new Set([config.wan.interface, wanAddressInterface(config), config.lan.interface])],
  };
}

/**
 * Passes every event through; a `links` event gets `flaps` (per watched interface: downs counted, held down or
 * not). `settings` is read at each event, so a reload applies. `now` is monotonic milliseconds (a step of the wall
 * clock must not end or stretch a hold); `scheduler` runs the timer that ends a hold.
 */
export function dampFlaps(
  settings: () => DampingSettings,
  now: () => number = () => performance.now(),
  scheduler: SchedulerLike = asyncScheduler,
): OperatorFunction<Event, Event> {
  return (source) =>
    new Observable<Event>((subscriber) => {
      let state = initialDamping;
      let last: LinkInfo[] | undefined;
      let timer: Subscription | undefined;
      const emit = () => {
        if (last !== undefined) subscriber.next({ type: "links", links: last, flaps: linkFlaps(state) });
      };
      const arm = () => {
        timer?.unsubscribe();
        const at = nextRelease(state, settings().config);
        if (at === undefined) return;
        timer = scheduler.schedule(
          () => {
            state = releaseHolds(state, now(), settings().config);
            arm();
            emit();
          },
          Math.max(0, at - now()),
        );
      };
      const subscription = source.subscribe({
        next: (event) => {
          if (event.type !== "links") {
            subscriber.next(event);
            return;
          }
          const { config, watched } = settings();
          state = observeLinks(state, event.links, watched, now(), config);
          last = event.links;
          arm();
          emit();
        },
        error: (e: unknown) => subscriber.error(e),
        complete: () => subscriber.complete(),
      });
      return () => {
        timer?.unsubscribe();
        subscription.unsubscribe();
      };
    });
}
