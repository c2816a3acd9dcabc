/** Errors are messages a person can read and act on, never a blank screen. */
import {
  apiError,
  apiUrl,
  appConfig,
  appUrl,
  createPlace,
  expect,
  getPlace,
  photo,
  screenshot,
  signIn,
  test,
  tokenFor,
  violations,
  watchPage,
} from './helpers'
import type { Page } from '@playwright/test'

/** Some visible text in <main>: the opposite of a blank screen. */
async function mainText(page: Page): Promise<string> {
  return (await page.locator('main').innerText()).trim()
}

/** A place where the home page's map opens (its configured centre), so the home page lists it. */
async function placeAtTheMapCentre(name: string) {
  const { map } = await appConfig()
  return createPlace(await tokenFor('bob'), { name, lat: map.center[0], lng: map.center[1] })
}

test('a place that does not exist shows "Place not found"', async ({ page }, testInfo) => {
  const problems = watchPage(page)
  // A well-formed id no place has, and a mistyped address the API refuses as an id (capitals, a cut-off link).
  for (const placeId of ['Hyde-Park', 'does-not-exist']) {
    await page.goto(`${appUrl}/places/${placeId}`)
    const alert = page.getByRole('alert')
    await expect(alert.getByRole('heading', { level: 1, name: 'Place not found' })).toBeVisible()
    await expect(alert).toContainText('This place does not exist (any more).')
    // No "Try again" for something that is not there; a way back instead.
    await expect(alert.getByRole('button', { name: 'Try again' })).toHaveCount(0)
    await expect(page.getByRole('link', { name: '← All places' })).toBeVisible()
    expect(await mainText(page)).not.toBe('')
  }
  await screenshot(page, '15-place-not-found', testInfo)
  expect(problems.pageErrors).toEqual([])

  await page.getByRole('link', { name: '← All places' }).click()
  await expect(page.getByRole('heading', { level: 1, name: 'Parks nearby' })).toBeVisible()
})

test('an unknown address shows "Page not found"', async ({ page }, testInfo) => {
  const problems = watchPage(page)
  await page.goto(`${appUrl}/no/such/page`)
  await expect(page.getByRole('heading', { level: 1, name: 'Page not found' })).toBeVisible()
  await expect(page.getByText('There is nothing at this address.')).toBeVisible()
  await screenshot(page, '16-page-not-found', testInfo)
  await page.getByRole('link', { name: 'Go to the start page' }).click()
  await expect(page).toHaveURL(`${appUrl}/`)
  await expect(page.getByRole('heading', { level: 1, name: 'Parks nearby' })).toBeVisible()
  expect(problems.pageErrors).toEqual([])
  expect(problems.consoleErrors).toEqual([])
})

test('a failing API shows a message with "Try again", which recovers', async ({ page }, testInfo) => {
  const problems = watchPage(page)
  const place = await placeAtTheMapCentre('E2E Flaky Park')
  const placeUrl = `${apiUrl}/places/${place.placeId}`
  // The API answers 500 (as API Gateway does when a function crashes) for this place only.
  await page.route((url) => url.href.startsWith(placeUrl), (route) => route.fulfill(apiError(500, 'Internal server error')))
  await page.goto(`${appUrl}/places/${place.placeId}`)
  const alert = page.getByRole('alert')
  await expect(alert.getByRole('heading', { level: 1, name: 'This place could not be loaded' })).toBeVisible()
  await expect(alert).toContainText('The server had a problem (HTTP 500). Please try again.')
  await screenshot(page, '17-api-error', testInfo)

  // The server is back: "Try again" shows the place without a reload.
  await page.unrouteAll()
  await alert.getByRole('button', { name: 'Try again' }).click()
  await expect(page.getByRole('heading', { level: 1, name: 'E2E Flaky Park' })).toBeVisible()
  await expect(page.getByRole('alert')).toHaveCount(0)
  expect(problems.pageErrors).toEqual([])
})

test('an unreachable API says so in words', async ({ page }, testInfo) => {
  const problems = watchPage(page)
  await page.route((url) => url.href.startsWith(`${apiUrl}/`), (route) => route.abort('connectionrefused'))
  await page.goto(`${appUrl}/`)
  await expect(page.getByRole('heading', { level: 1, name: 'Parks nearby' })).toBeVisible()
  const alert = page.getByRole('alert').filter({ hasText: 'Could not reach the server' })
  await expect(alert).toContainText('Could not reach the server. Check your connection and try again.')
  await expect(alert.getByRole('button', { name: 'Try again' })).toBeVisible()
  await screenshot(page, '18-api-unreachable', testInfo)
  expect(problems.pageErrors).toEqual([])
})

for (const [slow, file] of [
  ['script', /\/assets\/index-[^/]*\.js$/],
  ['stylesheet', /\/assets\/index-[^/]*\.css$/],
] as const) {
  test(`a slow connection sees the app is loading, not a blank page (its ${slow} coming slowly)`, async ({ page }) => {
    const problems = watchPage(page)
    let release: () => void = () => {}
    const held = new Promise<void>((resolve) => (release = resolve))
    await page.route(file, async (route) => {
      await held
      await route.continue()
    })
    await page.goto(`${appUrl}/`, { waitUntil: 'commit' })
    await expect(page.getByRole('status').filter({ hasText: 'Loading Happy Path…' })).toBeVisible()
    await expect(page.getByText('This is taking long')).toBeHidden() // only after 20 s
    release()
    await expect(page.getByRole('heading', { level: 1, name: 'Parks nearby' })).toBeVisible()
    await expect(page.getByText('Loading Happy Path…')).toHaveCount(0)
    expect(problems.pageErrors).toEqual([])
  })
}

test('a page that fails to download shows a message, not a blank screen', async ({ page }, testInfo) => {
  const problems = watchPage(page)
  const place = await placeAtTheMapCentre('E2E Offline Park')
  // The place page is its own chunk, downloaded on first use: the connection drops just then.
  await page.route(/\/assets\/PlaceView-[^/]*\.js$/, (route) => route.abort('internetdisconnected'))
  await page.goto(`${appUrl}/`)
  const link = page.getByRole('list', { name: 'Places by distance' }).getByRole('link', { name: /E2E Offline Park/ })
  await link.click()
  await expect(page.getByRole('alert').filter({ hasText: 'This page could not be loaded' })).toContainText(
    'This page could not be loaded. Check your connection and reload.',
  )
  // Still on a working page: the header and the list are there.
  await expect(page.getByRole('heading', { level: 1, name: 'Parks nearby' })).toBeVisible()
  await expect(link).toBeVisible()
  await screenshot(page, '19-chunk-failed', testInfo, { fullPage: false })

  // Back online: the same link works.
  await page.unrouteAll()
  await link.click()
  await expect(page.getByRole('heading', { level: 1, name: place.name })).toBeVisible()
  expect(problems.pageErrors).toEqual([])
})

test('a map that fails to download leaves the list working, and "Try again" brings it', async ({ page }, testInfo) => {
  const problems = watchPage(page)
  const place = await placeAtTheMapCentre('E2E Mapless Park')
  // The map (Leaflet with it) is its own chunk, downloaded after the page: the connection drops just then.
  await page.route(/\/assets\/PlaceMap-[^/]*\.js$/, (route) => route.abort('internetdisconnected'))
  await page.goto(`${appUrl}/`)
  const mapAlert = page.locator('#map-panel').getByRole('alert')
  await expect(mapAlert).toContainText('The map could not be loaded. The list below still works.')
  // Only the map is missing: the page was not replaced by an error.
  await expect(page.getByRole('heading', { level: 1, name: 'Parks nearby' })).toBeVisible()
  await expect(page.getByRole('list', { name: 'Places by distance' }).getByRole('link', { name: /E2E Mapless Park/ })).toBeVisible()
  await expect(page.getByText('This part of the page could not be shown')).toHaveCount(0)
  expect(await violations(page), 'places without the map').toEqual([])
  await screenshot(page, '27-map-failed', testInfo, { fullPage: false })

  // Back online: "Try again" downloads the map, and it shows the place.
  await page.unrouteAll()
  await mapAlert.getByRole('button', { name: 'Try again' }).click()
  const map = page.getByRole('region', { name: /^Map of places/ })
  await expect(map).toBeVisible()
  // Its marker, alone or shared with the other tests' places at the map's centre.
  await expect(map.locator(`[data-place-id="${place.placeId}"], [data-place-ids~="${place.placeId}"]`)).toBeVisible()
  await expect(mapAlert).toHaveCount(0)
  expect(problems.pageErrors).toEqual([])
})


test('a sign-in the API stops accepting signs the person out, and the app says why', async ({ page }, testInfo) => {
  const problems = watchPage(page)
  await page.goto(`${appUrl}/`)
  await signIn(page, 'carol')

  // The session is revoked while a form is being filled: the API refuses every token from now on.
  await page.route(
    (url) => url.href.startsWith(`${apiUrl}/`),
    (route) =>
      route.request().headers()['authorization'] ? route.fulfill(apiError(401, 'Unauthorized')) : route.fallback(),
  )
  await page.getByRole('button', { name: 'Add a place' }).click()
  const form = page.getByRole('form', { name: 'Add a place' })
  await form.getByLabel('Name').fill('E2E Revoked Park')
  await form.getByRole('button', { name: 'Create place' }).click()
  await expect(
    page.getByRole('status').filter({ hasText: 'You are signed out: your sign-in is no longer accepted. Sign in again to go on.' }),
  ).toBeVisible()
  await expect(page.getByRole('button', { name: 'Sign in', exact: true })).toBeEnabled()
  await expect(page.getByTestId('signed-in-user')).toHaveCount(0)
  await screenshot(page, '28-sign-in-refused', testInfo, { fullPage: false })
  expect(problems.pageErrors).toEqual([])
})

test('photos still waiting or being sent when the tab closes are offered again in the next one, and sent', async ({ page, context }, testInfo) => {
  // Two photos are processed (the first may also load the offline moderation models).
  test.setTimeout(120_000)
  const place = await placeAtTheMapCentre('E2E Closed Tab Park')
  await page.goto(`${appUrl}/places/${place.placeId}`)
  await signIn(page, 'erin')
  // Storage never answers: the first photo is being sent, the second waits, when the phone drops the tab.
  await page.route(
    (url) => !url.href.startsWith(appUrl) && !url.href.startsWith(apiUrl),
    (route) => (route.request().method() === 'POST' ? undefined : route.fallback()),
  )
  const chooser = page.waitForEvent('filechooser')
  await page.getByText('Choose from gallery').click()
  await (await chooser).setFiles([photo('jolla.jpg'), photo('HMD_Nokia_8.3_5G.jpg')])
  const jobs = page.getByTestId('upload-job')
  await expect(jobs.first()).toHaveAttribute('data-phase', 'uploading')
  await expect(jobs.nth(1)).toHaveAttribute('data-phase', 'waiting')
  await page.close() // as a phone does: no "leave this page?" question

  const next = await context.newPage()
  const problems = watchPage(next)
  await next.goto(`${appUrl}/places/${place.placeId}`)
  await expect(next.getByTestId('signed-in-user')).toHaveText('erin') // the sign-in is kept for the browser
  const offered = next.getByTestId('upload-job')
  await expect(offered).toHaveCount(2)
  for (const [index, name] of ['jolla.jpg', 'HMD_Nokia_8.3_5G.jpg'].entries()) {
    await expect(offered.nth(index)).toContainText(name)
    await expect(offered.nth(index)).toContainText('Not sent: the page was left (closed, reloaded or signed in again) before it was.')
  }
  await screenshot(next, '32-unsent-photos-offered', testInfo, { fullPage: false })

  await next.getByRole('button', { name: 'Try again: jolla.jpg' }).click()
  await next.getByRole('button', { name: 'Try again: HMD_Nokia_8.3_5G.jpg' }).click()
  for (const index of [0, 1]) await expect(offered.nth(index)).toHaveAttribute('data-phase', 'added', { timeout: 90_000 })
  await expect.poll(async () => (await getPlace(place.placeId)).body?.photos.length).toBe(2)

  // Sent: a reload offers nothing again.
  await next.reload()
  await expect(next.getByTestId('signed-in-user')).toHaveText('erin')
  await expect(next.getByRole('button', { name: /^Try again/ })).toHaveCount(0)
  expect(problems.pageErrors).toEqual([])
})
