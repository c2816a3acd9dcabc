/** Messages shown at the top of every page: errors nobody else handled, and short confirmations. */
import { reactive } from 'vue'
import { ApiError, NETWORK_MESSAGE } from './api'

export interface Notice {
  id: number
  kind: 'error' | 'info'
  text: string
}

export const notices = reactive<Notice[]>([])
let nextId = 1
/** The notices that go by themselves: how long each is shown, and its running timer (none while held). */
const timed = new Map<number, { ms: number; timer: ReturnType<typeof setTimeout> | null }>()
let held = false

export function notify(text: string, kind: Notice['kind'] = 'info', timeoutMs = kind === 'info' ? 6000 : 0): number {
  // The same error twice in a row (a retry loop, two failing requests) shows once.
  const same = notices.find((n) => n.text === text && n.kind === kind)
  if (same) return same.id
  const id = nextId++
  notices.push({ id, kind, text })
  if (notices.length > 4) for (const gone of notices.splice(0, notices.length - 4)) forgetTimer(gone.id)
  if (timeoutMs > 0) timed.set(id, { ms: timeoutMs, timer: held ? null : goesAfter(id, timeoutMs) })
  return id
}

export function dismiss(id: number): void {
  const i = notices.findIndex((n) => n.id === id)
  if (i >= 0) notices.splice(i, 1)
  forgetTimer(id)
}

function goesAfter(id: number, ms: number): ReturnType<typeof setTimeout> {
  return setTimeout(() => dismiss(id), ms)
}

function forgetTimer(id: number) {
  const entry = timed.get(id)
  if (entry?.timer) clearTimeout(entry.timer)
  timed.delete(id)
}

/**
 * Held while the pointer or the focus is on the notices: none goes by itself then (WCAG 2.2.1, time to read
 * it), and each gets its whole time again once let go.
 */
export function holdNotices(hold: boolean): void {
  if (hold === held) return
  held = hold
  for (const [id, entry] of timed) {
    if (entry.timer) clearTimeout(entry.timer)
    entry.timer = hold ? null : goesAfter(id, entry.ms)
  }
}

/** Errors whose message is written for people (upload steps, a sign-in that cannot start on this page). */
const PLAIN_ERRORS: ReadonlySet<string> = new Set(['UploadError', 'SignInUnavailableError'])

export const GENERIC_ERROR_MESSAGE = 'Something went wrong. Please try again.'

/**
 * Words for any thrown value: API and upload errors already carry plain messages. Anything else (a
 * programming error, a library's technical text) is not for people: they read `fallback`, and the
 * detail goes to the console.
 */
export function describeError(err: unknown, fallback = GENERIC_ERROR_MESSAGE): string {
  if (err instanceof ApiError) return err.message
  if (err instanceof Error && PLAIN_ERRORS.has(err.name)) return err.message
  // fetch() rejects with a TypeError when the network (or CORS) fails, e.g. inside oidc-client-ts.
  if (err instanceof TypeError && /fetch|network|load failed/i.test(err.message)) return NETWORK_MESSAGE
  console.error(err)
  return fallback
}
