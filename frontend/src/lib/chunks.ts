/**
 * Code downloaded on first use (a page, the map, the sign-in library) that failed to arrive. The browser keeps
 * such a failure for the page's life: every later import of the same module fails at once without asking the
 * server again (Chromium 150 does; the HTML standard's module map keeps failed fetches). So the second try at
 * code that did not arrive loads the page afresh, once the site answers again; while it does not, the caller
 * tries as before, which fails at once and says the connection is still down.
 */

import { CONFIG_URL } from './config'

const failed = new Set<string>()

/** How a page is loaded afresh (its own object, so that tests can watch it). */
export const page = {
  load(url: string): void {
    window.location.assign(url)
  },
}

/** Whether the site answers now: its config.json, asked past every cache, within `timeoutMs`. */
export async function siteAnswers(
  url = CONFIG_URL,
  timeoutMs = 5000,
  fetchFn: typeof fetch = (...args) => fetch(...args),
): Promise<boolean> {
  try {
    const response = await fetchFn(url, { cache: 'no-store', signal: AbortSignal.timeout(timeoutMs) })
    return response.ok
  } catch {
    return false
  }
}

/** Remembers that `code` (a name for one lazily imported module) failed to download in this page. */
export function downloadFailed(code: string): void {
  failed.add(code)
}

/** Whether `code` failed to download in this page (it cannot be imported again here). */
export function hasFailed(code: string): boolean {
  return failed.has(code)
}

/** `load()`, its failure remembered as `code`'s (`downloadFailed`). */
export function importing<T>(code: string, load: () => Promise<T>): Promise<T> {
  return load().catch((err: unknown) => {
    downloadFailed(code)
    throw err
  })
}

/**
 * After `code` failed to download in this page and the site answers now, loads `url` afresh and returns true
 * (the page is going away). Otherwise false: import again as usual.
 */
export async function loadAfreshIfFailed(
  code: string,
  url: string,
  answers: () => Promise<boolean> = () => siteAnswers(),
): Promise<boolean> {
  if (!failed.has(code) || !(await answers())) return false
  page.load(url)
  return true
}
