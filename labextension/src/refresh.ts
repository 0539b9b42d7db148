/**
 * When the sidebar refreshes: a `@lumino/polling` Poll, so a refresh starts only after the
 * previous one ended, a failing server is asked less and less often, and nothing is asked
 * while the sidebar is hidden. The interval comes from the settings (schema/sidebar.json).
 */
import { IPoll, Poll } from '@lumino/polling';

import { PLUGIN_ID } from './tokens';

/** The refresh interval's default and bounds in seconds, as schema/sidebar.json has them. */
export const REFRESH_SECONDS = { default: 2, minimum: 0.5, maximum: 3600 };
/** A server that cannot be reached is asked at most this far apart (or the interval, if longer). */
const BACKOFF_MAX_MS = 60_000;

/** The poll frequency for a refresh interval read from the settings (any value). */
export function refreshFrequency(seconds: unknown): IPoll.Frequency {
  const given = typeof seconds === 'number' && Number.isFinite(seconds);
  const value = given
    ? Math.min(REFRESH_SECONDS.maximum, Math.max(REFRESH_SECONDS.minimum, seconds as number))
    : REFRESH_SECONDS.default;
  const interval = Math.round(value * 1000);
  return { interval, backoff: true, max: Math.max(interval, BACKOFF_MAX_MS) };
}

/**
 * ``work`` once at a time: a call while it runs gets the running call's promise. A poll's
 * `refresh()` starts a tick even while one is in flight; this keeps them from overlapping.
 */
export function oneAtATime(work: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | null = null;
  return () => {
    running ??= work().finally(() => {
      running = null;
    });
    return running;
  };
}

/**
 * The sidebar's poll: ``refresh`` (a rejection backs off) every interval, except while
 * ``hidden()`` says the sidebar cannot be seen. It starts at once.
 */
export function refreshPoll(
  refresh: () => Promise<void>,
  hidden: () => boolean,
  seconds: unknown = REFRESH_SECONDS.default
): Poll {
  const once = oneAtATime(refresh);
  return new Poll({
    name: PLUGIN_ID,
    factory: () => once(),
    frequency: refreshFrequency(seconds),
    standby: hidden
  });
}
