/**
 * The main flow on a phone, as one person: sign in through the issuer's form, add a place, upload a
 * photo and follow it until it is added, see a too-small photo rejected in plain words, delete the
 * photo, sign out. The steps share one browser page, so they run in order (serial: after a failing step the rest are
 * skipped).
 */
import type { BrowserContext, CDPSession, Page } from '@playwright/test'
import { PHONE } from './phone'
import { apiUrl, appConfig, appUrl, expect, getPlace, myPhotos, photo, screenshot, test, tokenFor, watchPage } from './helpers'

test.describe.configure({ mode: 'serial' })

const USER = 'alice'
const PLACE_NAME = `E2E Park ${Date.now().toString(36)}`

let context: BrowserContext
let page: Page
let problems: ReturnType<typeof watchPage>
/** Filled in as the steps go. */
let placeId = ''
let photoId = ''
let photoUrl = ''

/** The `sub` claim of a JWT (no signature check: only to compare users). */
function subOf(jwt: string): string {
  const payload = JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as { sub: string }
  return payload.sub
}

/** The access token oidc-client-ts keeps in localStorage, or null. */
async function storedAccessToken(p: Page): Promise<string | null> {
  return p.evaluate(() => {
    for (let i = 0; i < localStorage.length; i++) {
      const key = localStorage.key(i)!
      if (key.startsWith('oidc.user:')) return (JSON.parse(localStorage.getItem(key)!) as { access_token?: string }).access_token ?? null
    }
    return null
  })
}

test.beforeAll(async ({ browser }) => {
  // The same phone as the config's `use`, in one page the steps share.
  context = await browser.newContext({ ...PHONE })
  context.setDefaultTimeout(10_000)
  context.setDefaultNavigationTimeout(20_000)
  page = await context.newPage()
  problems = watchPage(page)
})

test.afterAll(async () => {
  await context?.close()
})

test.afterEach(async ({}, testInfo) => {
  // The config's screenshot-on-failure covers the built-in page only: this one is shared.
  if (testInfo.status !== testInfo.expectedStatus && !page.isClosed()) {
    await testInfo.attach('failed-step', { body: await page.screenshot({ fullPage: true }), contentType: 'image/png' })
  }
  // Whatever a step looked like, the page must not have thrown or logged errors.
  expect(problems.pageErrors, 'uncaught errors in the page').toEqual([])
  expect(problems.consoleErrors, 'console errors in the page').toEqual([])
})

test('1. signs in through the local issuer and shows who is signed in', async ({}, testInfo) => {
  await page.goto(`${appUrl}/`)
  await expect(page.getByRole('heading', { level: 1, name: 'Parks nearby' })).toBeVisible()
  const signIn = page.getByRole('button', { name: 'Sign in', exact: true })
  // Enabled once the stored session (none yet) has been read.
  await expect(signIn).toBeEnabled()
  await expect(page.getByTestId('signed-in-user')).toHaveCount(0)
  await screenshot(page, '01-signed-out', testInfo)

  await signIn.click()
  await expect(page).toHaveURL(/\/auth\/authorize\?/)
  const userName = page.getByRole('textbox', { name: 'User name or email' })
  await expect(userName).toBeVisible()
  await screenshot(page, '02-sign-in-form', testInfo)

  await userName.fill(USER)
  await page.getByRole('button', { name: 'Sign in' }).click()

  // Back in the app, on the page the sign-in started from.
  await expect(page).toHaveURL(`${appUrl}/`)
  await expect(page.getByTestId('signed-in-user')).toHaveText(USER)
  await expect(page.getByRole('button', { name: 'Sign out' })).toBeVisible()
  await expect(page.getByRole('button', { name: 'Sign in', exact: true })).toHaveCount(0)
  await expect(page.getByRole('button', { name: 'Add a place' })).toBeVisible()

  // The browser's session is the same user the API knows as alice.
  const token = await storedAccessToken(page)
  expect(token, 'an access token in localStorage').toBeTruthy()
  expect(subOf(token!)).toBe(subOf(await tokenFor(USER)))
  await screenshot(page, '03-signed-in', testInfo)
})

test('2. adds a place with the form and opens its page', async ({}, testInfo) => {
  const config = await appConfig()
  const addPlace = page.getByRole('button', { name: 'Add a place' })
  await addPlace.click()
  const form = page.getByRole('form', { name: 'Add a place' })
  await expect(form).toBeVisible()
  // Focus follows the form that took the button's place, and comes back to the button on Cancel.
  await expect(form.getByRole('heading', { name: 'Add a place' })).toBeFocused()
  await form.getByRole('button', { name: 'Cancel' }).click()
  await expect(addPlace).toBeFocused()
  await addPlace.click()
  await form.getByLabel('Name').fill(PLACE_NAME)
  await expect(form.getByLabel('Kind of place')).toHaveValue('park')
  // The position starts at the map centre: the configured centre, as the browser shares no location.
  const lat = Number(await form.getByLabel('Latitude').inputValue())
  const lng = Number(await form.getByLabel('Longitude').inputValue())
  expect(Math.abs(lat - config.map.center[0])).toBeLessThan(0.01)
  expect(Math.abs(lng - config.map.center[1])).toBeLessThan(0.01)
  await form.getByRole('button', { name: 'Create place' }).scrollIntoViewIfNeeded()
  await screenshot(page, '04-add-place-form', testInfo)

  await form.getByRole('button', { name: 'Create place' }).click()
  await expect(page).toHaveURL(new RegExp(`^${appUrl}/places/[^/?#]+$`))
  placeId = decodeURIComponent(new URL(page.url()).pathname.split('/').pop()!)
  await expect(page.getByRole('heading', { level: 1, name: PLACE_NAME })).toBeVisible()
  await expect(page.getByRole('status').filter({ hasText: `"${PLACE_NAME}" was added.` })).toBeVisible()
  await expect(page.getByRole('heading', { name: 'Add photos' })).toBeVisible()
  await expect(page.getByText('No photos yet. Be the first to add one!')).toBeVisible()

  const { status, body } = await getPlace(placeId)
  expect(status).toBe(200)
  expect(body!.place.name).toBe(PLACE_NAME)
  expect(body!.place, 'who added a place is not public').not.toHaveProperty('createdBy')
  await screenshot(page, '05-place-page', testInfo)
})

test('3. uploads jolla.jpg with a progress bar until it is added, and shows it from the CDN', async ({}, testInfo) => {
  // The first photo also loads the offline moderation models: allow for a slow first run.
  test.setTimeout(90_000)
  // Loopback sends 0.8 MB in a blink: slow the upload down (about 2 s) so the progress bar can be seen.
  const cdp: CDPSession = await context.newCDPSession(page)
  await cdp.send('Network.enable')
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 20, downloadThroughput: -1, uploadThroughput: 400 * 1024 })

  // Record every state the upload shows (phase, progress bar and its value) as it happens.
  await page.evaluate(() => {
    const seen: string[] = []
    ;(window as unknown as { __uploadStates: string[] }).__uploadStates = seen
    const record = () => {
      const job = document.querySelector<HTMLElement>('[data-testid="upload-job"]')
      if (!job) return
      const bar = job.querySelector('progress')
      const state = `${job.dataset.phase}|${bar ? `${bar.getAttribute('aria-label')}=${bar.getAttribute('value') ?? 'indeterminate'}` : 'no bar'}`
      if (seen[seen.length - 1] !== state) seen.push(state)
    }
    new MutationObserver(record).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true })
  })

  try {
    // From the keyboard: Enter on "Choose from gallery" opens the picker, as Space does.
    await page.getByLabel('Choose from gallery').focus()
    const chooser = page.waitForEvent('filechooser')
    await page.keyboard.press('Enter')
    await (await chooser).setFiles(photo('jolla.jpg'))
    const job = page.getByTestId('upload-job').filter({ hasText: 'jolla.jpg' })
    await expect(job).toHaveCount(1)
    const bar = job.getByRole('progressbar', { name: 'Sending jolla.jpg' })
    await expect(bar).toBeVisible()
    // Part of the way: a real, moving progress bar.
    await expect.poll(async () => Number(await bar.getAttribute('value')), { timeout: 10_000 }).toBeGreaterThan(0)
    await screenshot(page, '06-uploading', testInfo, { fullPage: false })

    await expect(job).toHaveAttribute('data-phase', 'added', { timeout: 60_000 })
  } finally {
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 })
    await cdp.detach()
  }

  const job = page.getByTestId('upload-job').filter({ hasText: 'jolla.jpg' })
  await expect(job).toContainText('Added! Your photo is now on this page.')
  await expect(job.getByRole('progressbar')).toHaveCount(0)
  // Screen readers heard each step, one line each; the outcome is the latest.
  await expect(page.getByTestId('upload-announcer').locator('p').last()).toHaveText('jolla.jpg: Added! Your photo is now on this page.')

  // The bar went up to 100 %, then the app checked the photo, then said it was added.
  const states = await page.evaluate(() => (window as unknown as { __uploadStates: string[] }).__uploadStates)
  testInfo.annotations.push({ type: 'upload states', description: states.join(' → ') })
  const sent = states.filter((s) => s.startsWith('uploading|')).map((s) => Number(s.split('=')[1]))
  expect(sent.length, `progress values seen: ${states.join(', ')}`).toBeGreaterThanOrEqual(3)
  expect(sent.some((v) => v > 0 && v < 100), 'a value part of the way').toBe(true)
  expect(sent[sent.length - 1], 'the bar reaches 100 %').toBe(100)
  expect(sent, 'the bar never goes back').toEqual([...sent].sort((a, b) => a - b))
  const phases = states.map((s) => s.split('|')[0]).filter((p, i, all) => p !== all[i - 1])
  expect(phases).toEqual(['requesting', 'uploading', 'processing', 'added'])

  // The new photo is in the grid, as a <picture> whose image came from the CDN and loaded.
  const tiles = page.getByRole('list', { name: 'Photos' }).getByTestId('photo')
  await expect(tiles).toHaveCount(1)
  photoId = (await tiles.first().getAttribute('data-photo-id')) ?? ''
  expect(photoId).not.toBe('')
  const img = tiles.first().locator('picture > img')
  await img.scrollIntoViewIfNeeded()
  await expect(tiles.first().locator('picture > source[type="image/webp"]')).toHaveAttribute('srcset', new RegExp(`^${appUrl}/cdn/`))
  await expect
    .poll(() => img.evaluate((el: HTMLImageElement) => (el.complete ? el.naturalWidth : 0)), { timeout: 15_000 })
    .toBeGreaterThan(0)
  const currentSrc = await img.evaluate((el: HTMLImageElement) => el.currentSrc)
  expect(currentSrc.startsWith(`${appUrl}/cdn/`), `image loaded from ${currentSrc}`).toBe(true)
  photoUrl = currentSrc
  await expect(img).toHaveAttribute('alt', new RegExp(`^Photo 1 of ${PLACE_NAME}`))

  // Anyone else sees it too: the API lists it for the place, without saying who uploaded it; only the
  // uploader learns it is theirs.
  const { body } = await getPlace(placeId)
  expect(body!.photos.map((p) => p.photoId)).toEqual([photoId])
  const published = body!.photos[0]!
  expect(published).not.toHaveProperty('owner')
  expect(await myPhotos(await tokenFor(USER), [photoId])).toEqual([photoId])
  expect(await myPhotos(await tokenFor('someone-else'), [photoId])).toEqual([])
  await screenshot(page, '07-added', testInfo)

  // Tapping it opens the large view, with the larger rendition, from the CDN too.
  await tiles.first().getByRole('button', { name: new RegExp(`^View photo 1 of ${PLACE_NAME}`) }).click()
  const viewer = page.getByRole('dialog', { name: PLACE_NAME })
  await expect(viewer).toBeVisible()
  const large = viewer.locator('picture > img')
  await expect
    .poll(() => large.evaluate((el: HTMLImageElement) => (el.complete ? el.naturalWidth : 0)), { timeout: 15_000 })
    .toBeGreaterThan(0)
  expect(await large.evaluate((el: HTMLImageElement) => el.currentSrc)).toMatch(new RegExp(`^${appUrl}/cdn/.+/scaled\\.(webp|jpg)$`))
  // When it was added; no pixel sizes (they mean nothing to people).
  await expect(viewer).toContainText('Added ')
  await expect(viewer).not.toContainText(`${published.width} × ${published.height}`)
  await expect(viewer).not.toContainText(' px')
  await screenshot(page, '08-photo-viewer', testInfo, { fullPage: false })
  await viewer.getByRole('button', { name: 'Close' }).click()
  await expect(viewer).toBeHidden()
})

test('4. rejects DSCN0010.jpg (640x480) as too small, in plain words, also when the page was left meanwhile', async ({}, testInfo) => {
  // The outcome must come while another page is shown: the app's questions about the upload wait until the
  // page is left (the workflow can reject the photo before the click, and the place's page would show it).
  let pageLeft = () => {}
  const left = new Promise<void>((resolve) => (pageLeft = resolve))
  const statusAsked = (url: URL) => url.href.startsWith(`${apiUrl}/uploads/`)
  await page.route(statusAsked, async (route) => {
    await left
    await route.fallback()
  })
  await page.getByLabel('Choose from gallery').setInputFiles(photo('DSCN0010.jpg'))
  await expect(page.getByTestId('upload-job').filter({ hasText: 'DSCN0010.jpg' })).toHaveCount(1)
  // Leave the page at once: the upload goes on, and a line under the header leads back to its outcome.
  await page.getByRole('link', { name: '← All places' }).click()
  await expect(page.getByRole('heading', { level: 1, name: 'Parks nearby' })).toBeVisible()
  pageLeft()
  await page.unroute(statusAsked)
  const indicator = page.getByTestId('upload-indicator')
  await expect(indicator).toContainText('1 upload result to see.', { timeout: 30_000 })
  await indicator.getByRole('link', { name: 'See uploads' }).click()
  await expect(page.getByRole('heading', { level: 1, name: PLACE_NAME })).toBeVisible()
  await expect(indicator).toHaveText('')

  const job = page.getByTestId('upload-job').filter({ hasText: 'DSCN0010.jpg' })
  await expect(job).toHaveCount(1)
  await expect(job).toHaveAttribute('data-phase', 'rejected', { timeout: 30_000 })
  const message = job.locator('.job-message')
  // The reason in words (with the backend's specifics, e.g. "640x480: ..."), said once.
  await expect(message).toHaveText(/^Not added: the photo is too small( \([^()]+\))?\.$/)
  await expect(message).toContainText('800 px')
  await expect(message).toHaveClass(/message-error/)
  await expect(job).not.toContainText('TOO_SMALL')
  // Newest upload on top; the earlier one still says it was added.
  await expect(page.getByTestId('upload-job').first()).toContainText('DSCN0010.jpg')
  await expect(page.getByTestId('upload-job').filter({ hasText: 'jolla.jpg' })).toHaveAttribute('data-phase', 'added')

  // Nothing new in the grid, nor for anyone else.
  await expect(page.getByRole('list', { name: 'Photos' }).getByTestId('photo')).toHaveCount(1)
  const { body } = await getPlace(placeId)
  expect(body!.photos.map((p) => p.photoId)).toEqual([photoId])
  await job.scrollIntoViewIfNeeded()
  await screenshot(page, '09-rejected', testInfo)

  // Clearing them leaves focus on the upload heading, not at the top of the page.
  await page.getByRole('button', { name: 'Clear finished uploads' }).click()
  await expect(page.getByTestId('upload-job')).toHaveCount(0)
  await expect(page.getByRole('heading', { level: 2, name: 'Add photos' })).toBeFocused()
})

test('5. deletes the uploaded photo after confirming; it stays gone after a reload', async ({}, testInfo) => {
  // Loaded afresh, the page learns from the API which photos are alice's (the listing does not say).
  await page.reload()
  const tile = page.locator(`[data-testid="photo"][data-photo-id="${photoId}"]`)
  await expect(tile).toHaveCount(1)

  await tile.getByRole('button', { name: 'Delete photo 1', exact: true }).click()
  const confirm = tile.getByRole('group', { name: 'Confirm deleting photo 1' })
  await expect(confirm).toBeVisible()
  await expect(confirm).toContainText('Delete this photo for everyone?')
  // Focus moves to the safe choice.
  await expect(confirm.getByRole('button', { name: 'Keep it' })).toBeFocused()
  await screenshot(page, '10-delete-confirm', testInfo)

  await confirm.getByRole('button', { name: 'Yes, delete' }).click()
  await expect(tile).toHaveCount(0)
  // Focus does not fall back to the top of the page: the last photo is gone, so the Photos heading has it.
  await expect(page.getByRole('heading', { level: 2, name: 'Photos', exact: true })).toBeFocused()
  await expect(page.getByRole('status').filter({ hasText: 'Photo deleted.' })).toBeVisible()
  await expect(page.getByText('No photos yet. Be the first to add one!')).toBeVisible()
  await screenshot(page, '11-deleted', testInfo)

  const { body } = await getPlace(placeId)
  expect(body!.photos).toEqual([])
  // Its files are gone from the CDN too (not just hidden in the app).
  await expect.poll(async () => (await fetch(photoUrl)).status, { timeout: 15_000 }).toBe(404)

  await page.reload()
  await expect(page.getByRole('heading', { level: 1, name: PLACE_NAME })).toBeVisible()
  await expect(page.getByText('No photos yet. Be the first to add one!')).toBeVisible()
  await expect(page.getByTestId('photo')).toHaveCount(0)
  // Still signed in after the reload (the session is kept in localStorage).
  await expect(page.getByTestId('signed-in-user')).toHaveText(USER)
  await screenshot(page, '12-deleted-after-reload', testInfo)
})

test('6. signs out, back on the same page, and the app says so', async ({}, testInfo) => {
  // Sign-out goes through the issuer's logout (a page load), which sends the browser back to the app.
  const logout = page.waitForRequest((request) => new URL(request.url()).pathname.startsWith('/auth/logout'))
  await page.getByRole('button', { name: 'Sign out' }).click()
  await logout
  await page.waitForLoadState()
  await expect(page.getByRole('status').filter({ hasText: 'You are signed out.' })).toBeVisible()
  // Where the person was, not the start page.
  expect(page.url()).toBe(`${appUrl}/places/${placeId}`)
  await expect(page.getByRole('heading', { level: 1, name: PLACE_NAME })).toBeVisible()
  await expect(page.getByRole('button', { name: 'Sign in', exact: true })).toBeEnabled()
  await expect(page.getByTestId('signed-in-user')).toHaveCount(0)
  expect(await storedAccessToken(page)).toBeNull()
  await expect(page.getByRole('button', { name: 'Sign in to add photos' })).toBeVisible()
  await expect(page.getByLabel('Choose from gallery')).toHaveCount(0)
  await screenshot(page, '14-signed-out-again', testInfo)

  // Only once: a reload of the page does not say it again.
  await page.reload()
  await expect(page.getByRole('heading', { level: 1, name: PLACE_NAME })).toBeVisible()
  await expect(page.getByRole('status').filter({ hasText: 'You are signed out.' })).toHaveCount(0)
})
