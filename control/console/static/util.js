// Small shared pieces: time formatting, a data-loading hook that refreshes on live changes, and buttons.
import { useCallback, useEffect, useState } from '../vendor/hooks.js';
import { live } from './api.js';
import { html } from './html.js';

export function ago(ms, now = Date.now()) {
  if (ms === null || ms === undefined) return '—';
  const s = Math.round((now - ms) / 1000);
  if (s < 5) return 'just now'; // also absorbs the page's clock running a little behind control's
  return `${span(s)} ago`;
}

export function left(ms, now = Date.now()) {
  if (ms === null || ms === undefined) return 'never';
  const s = Math.round((ms - now) / 1000);
  return s <= 0 ? 'expired' : `${span(s)} left`;
}

function span(s) {
  if (s < 90) return `${s}s`;
  if (s < 5400) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

/**
 * Loads with `load()` now, again whenever the server reports a change of one of `kinds` (all when
 * omitted), and on reload(). Returns [data, error, reload].
 */
export function useLive(load, kinds) {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const reload = useCallback(() => {
    load().then(
      (d) => {
        setData(d);
        setError(null);
      },
      (e) => setError(e),
    );
  }, [load]);
  useEffect(() => {
    reload();
    return live((changed) => {
      if (!kinds || changed.some((k) => kinds.includes(k))) reload();
    });
  }, [reload]);
  return [data, error, reload];
}

/** A ticking clock for "time left" columns. */
export function useNow(ms = 1000) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

export function ErrorLine({ error }) {
  return error ? html`<p class="error" role="alert">${error.message}</p>` : null;
}

/** Runs an action, reporting a failure through setError. */
export async function act(fn, setError) {
  try {
    setError(null);
    return await fn();
  } catch (e) {
    setError(e);
    return undefined;
  }
}
