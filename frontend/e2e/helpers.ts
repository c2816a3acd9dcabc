/** Shared pieces of the browser tests: the runtime's URLs, API calls for setup, screenshots. */
import AxeBuilder from '@axe-core/playwright'
import { expect, test as base, type Page, type TestInfo } from '@playwright/test'
import path from 'node:path'
import { ENV, artifactsDir, photosDir, tail } from './runtime'

/** Set by global-setup (empty while only listing the tests: the `test` below then refuses to run). */
export const appUrl = process.env[ENV.app] ?? ''
export const apiUrl = process.env[ENV.api] ?? ''
export const CLIENT_ID = 'happypath-local-web'

export const photo = (name: string) => path.join(photosDir, name)

/** Signs in through the local issuer's form, from a page showing the header's "Sign in". */
export async function signIn(page: Page, user: string) {
  await page.getByRole('button', { name: 'Sign in', exact: true }).click()
  await page.getByRole('textbox', { name: 'User name or email' }).fill(user)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await expect(page.getByTestId('signed-in-user')).toHaveText(user)
}

/** A JSON error as the API answers it (the app's origin allowed), for `route.fulfill`. */
export function apiError(status: number, message: string) {
  return {
    status,
    contentType: 'application/json',
    headers: { 'access-control-allow-origin': appUrl },
    body: JSON.stringify({ message }),
  }
}

/** An access token from the local issuer (password grant): for setup calls from test code only. */
export async function tokenFor(username: string): Promise<string> {
  const res = await fetch(`${appUrl}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', username, client_id: CLIENT_ID }),
  })
  expect(res.status, 'token endpoint').toBe(200)
  const body = (await res.json()) as { access_token: string }
  return body.access_token
}

export interface PlaceDetail {
  place: { placeId: string; name: string; type: string; lat: number; lng: number }
  photos: {
    photoId: string
    width: number
    height: number
    renditions: Record<string, { jpeg: string; webp: string; width: number; height: number }>
  }[]
}

/** GET /places/{id} straight from the API (what any other visitor would get). */
export async function getPlace(placeId: string): Promise<{ status: number; body: PlaceDetail | null }> {
  const res = await fetch(`${apiUrl}/places/${encodeURIComponent(placeId)}`)
  return { status: res.status, body: res.ok ? ((await res.json()) as PlaceDetail) : null }
}

/** GET /photos/mine: which of these photos the token's user published. */
export async function myPhotos(token: string, photoIds: string[]): Promise<string[]> {
  const res = await fetch(`${apiUrl}/photos/mine?ids=${photoIds.map(encodeURIComponent).join(',')}`, {
    headers: { authorization: `Bearer ${token}` },
  })
  expect(res.status, `GET /photos/mine: ${await res.clone().text()}`).toBe(200)
  return ((await res.json()) as { photoIds: string[] }).photoIds
}

export async function createPlace(token: string, place: { name: string; lat: number; lng: number; type?: string }) {
  const res = await fetch(`${apiUrl}/places`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'park', ...place }),
  })
  expect(res.status, `POST /places: ${await res.clone().text()}`).toBe(201)
  return (await res.json()) as PlaceDetail['place']
}

/** The config the runtime generated for the web app (map centre, place types...). */
export async function appConfig(): Promise<{ map: { center: [number, number] }; placeTypes: string[] }> {
  const res = await fetch(`${appUrl}/config.json`)
  expect(res.status).toBe(200)
  return (await res.json()) as { map: { center: [number, number] }; placeTypes: string[] }
}

/**
 * A screenshot a person can look at, with a readable name (01-signed-in.png) in
 * test-artifacts/e2e/, also attached to the test's report.
 */
export async function screenshot(page: Page, name: string, testInfo: TestInfo, options: { fullPage?: boolean } = {}) {
  const file = path.join(artifactsDir, `${name}.png`)
  // Let transitions and web fonts settle so the picture shows what a person would see.
  await page.evaluate(() => document.fonts.ready)
  // Phone layout: nothing may stick out sideways (a page that scrolls horizontally is broken).
  const overflow = await page.evaluate(() => {
    const width = document.documentElement.clientWidth
    const wide = [...document.querySelectorAll<HTMLElement>('body *')]
      .filter((el) => el.getBoundingClientRect().right > width + 1 && !el.closest('.leaflet-container'))
      .map((el) => `${el.tagName.toLowerCase()}${el.className && typeof el.className === 'string' ? `.${el.className.trim().split(/\s+/).join('.')}` : ''}`)
    return { scrollWidth: document.documentElement.scrollWidth, width, wide: wide.slice(0, 5) }
  })
  expect(overflow.scrollWidth, `page wider than the screen on ${name}: ${overflow.wide.join(', ')}`).toBeLessThanOrEqual(overflow.width)
  expect(overflow.wide, `elements past the right edge on ${name}`).toEqual([])
  await page.screenshot({ path: file, fullPage: options.fullPage ?? true, animations: 'disabled', caret: 'hide' })
  await testInfo.attach(name, { path: file, contentType: 'image/png' })
}

/**
 * Collects what went wrong inside a page: uncaught exceptions and console errors. Tests assert on
 * it, so a broken script fails the test even when the screen happens to look fine.
 */
/** What axe-core finds against the WCAG 2.1 A and AA rules it can check, one line a rule. */
export async function violations(page: Page) {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze()
  return results.violations.map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`)
}

export function watchPage(page: Page) {
  const problems = { pageErrors: [] as string[], consoleErrors: [] as string[] }
  page.on('pageerror', (err) => problems.pageErrors.push(String(err.stack || err)))
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.consoleErrors.push(`${msg.text()} (${msg.location().url})`)
  })
  return problems
}

/** The test runner's `test`, plus the runtime's log attached (and its end printed) when a test fails. */
export const test = base.extend<{ runtimeLogOnFailure: void }, { runtimeStarted: void }>({
  runtimeStarted: [
    async ({}, use) => {
      if (!appUrl || !apiUrl) throw new Error('the local runtime is not running: run these tests with `npm run test:e2e`')
      await use()
    },
    { scope: 'worker', auto: true },
  ],
  runtimeLogOnFailure: [
    async ({}, use, testInfo) => {
      await use()
      if (testInfo.status !== testInfo.expectedStatus) {
        const logFile = process.env[ENV.log]
        if (logFile) {
          const text = tail(logFile, 60)
          await testInfo.attach('runtime.log (end)', { body: text, contentType: 'text/plain' })
          console.error(`\n--- local runtime log (last lines) for "${testInfo.title}" ---\n${text}\n---`)
        }
      }
    },
    { auto: true },
  ],
})

export { expect }
