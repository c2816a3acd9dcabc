/**
 * The smallest phones still in use (320 CSS px wide, like an iPhone SE 1st gen) with a long user
 * name (people sign in with their email address): the header must stay one tidy bar. And what a phone
 * user meets on a place's page: long file names, thumb-sized targets, a photo viewed sideways. And the
 * form to add a place, whose errors must be in view where the focus goes.
 */
import { readFileSync } from 'node:fs'
import type { Page } from '@playwright/test'
import {
  apiError,
  apiUrl,
  appUrl,
  createPlace,
  expect,
  photo,
  screenshot,
  signIn,
  test,
  tokenFor,
  violations,
  watchPage,
} from './helpers'

test.use({ viewport: { width: 320, height: 640 }, deviceScaleFactor: 2 })

const LONG_EMAIL = 'alexandra.verylongsurname@example-company.com'

/**
 * A one-finger swipe as the touch screen reports it (pointer events with the page's touch-action applied).
 * The finger rests before it lifts: a swipe that lifts moving starts a fling, and Chromium may take the
 * next tap as the one that stops the fling, not as a click.
 */
async function swipe(page: Page, from: [number, number], to: [number, number]) {
  const cdp = await page.context().newCDPSession(page)
  const point = ([x, y]: [number, number]) => [{ x: Math.round(x), y: Math.round(y) }]
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: point(from) })
  for (let step = 1; step <= 5; step++) {
    const at: [number, number] = [from[0] + ((to[0] - from[0]) * step) / 5, from[1] + ((to[1] - from[1]) * step) / 5]
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: point(at) })
  }
  await page.waitForTimeout(200)
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: point(to) })
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] })
  await cdp.detach()
}

/** The page does not scroll sideways. */
async function fitsWidth(page: Page) {
  return page.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth)
}

test('the header fits a 320 px screen with a long user name', async ({ page }, testInfo) => {
  const problems = watchPage(page)
  await page.goto(`${appUrl}/`)
  await signIn(page, LONG_EMAIL)

  const header = (await page.locator('header.app-header').boundingBox())!
  const signOut = page.getByRole('button', { name: 'Sign out' })
  const button = (await signOut.boundingBox())!
  const who = (await page.getByTestId('signed-in-user').boundingBox())!
  // "Sign out" on one line, thumb-sized on this touch screen (44 px), inside the bar with room around it.
  expect(button.height, '"Sign out" is a 44 px target').toBeGreaterThanOrEqual(44)
  expect(button.height, '"Sign out" wraps onto two lines').toBeLessThanOrEqual(48)
  expect(button.y - header.y, 'space above "Sign out"').toBeGreaterThanOrEqual(4)
  expect(header.y + header.height - (button.y + button.height), 'space below "Sign out"').toBeGreaterThanOrEqual(4)
  expect(button.x + button.width).toBeLessThanOrEqual(320)
  // The long name is cut short (with an ellipsis), not pushed off the screen or over the button.
  expect(who.width).toBeGreaterThan(20)
  expect(who.x + who.width).toBeLessThanOrEqual(button.x)
  expect(await page.getByTestId('signed-in-user').evaluate((el) => el.scrollWidth > el.clientWidth)).toBe(true)
  await expect(page.getByTestId('signed-in-user')).toHaveAttribute('title', LONG_EMAIL) // the whole name, on hover
  await screenshot(page, '20-small-phone-long-name', testInfo, { fullPage: false })
  expect(problems.pageErrors).toEqual([])
})

test("a place's page on a small phone: long file names, tap targets, delete confirmation, the viewer sideways", async ({
  page,
}, testInfo) => {
  const problems = watchPage(page)
  const user = 'smallphone'
  const placeName = 'Small Screen Park by the Old Railway Bridge and the Canal Towpath'
  const place = await createPlace(await tokenFor(user), { name: placeName, lat: 51.5073, lng: -0.1657 })
  // Two photos of this user's, served by the test (no uploads to wait for): the place's answer gets them.
  const fake = (id: string) => ({
    photoId: id,
    placeId: place.placeId,
    publishedAt: '2026-05-02T12:00:00.000Z',
    width: 600,
    height: 450,
    renditions: {
      tile: { width: 400, height: 400, jpeg: `${appUrl}/e2e-fake/${id}/tile.jpg`, webp: `${appUrl}/e2e-fake/${id}/tile.webp` },
      scaled: { width: 600, height: 450, jpeg: `${appUrl}/e2e-fake/${id}/scaled.jpg`, webp: `${appUrl}/e2e-fake/${id}/scaled.webp` },
    },
  })
  const image = readFileSync(photo('DSCN0010.jpg')) // 640x480, the 4:3 of a "scaled" rendition
  await page.route('**/e2e-fake/**', (route) => route.fulfill({ body: image, contentType: 'image/jpeg' }))
  await page.route(
    (url) => url.href.startsWith(`${apiUrl}/places/${place.placeId}?`),
    async (route) => {
      const response = await route.fetch()
      const body = (await response.json()) as { photos: unknown[] }
      await route.fulfill({ response, json: { ...body, photos: [fake('e2e-a'), fake('e2e-b')] } })
    },
  )
  await page.route(
    (url) => url.href.startsWith(`${apiUrl}/photos/mine?`),
    (route) => route.fulfill({ json: { photoIds: ['e2e-a', 'e2e-b'] } }),
  )

  await page.goto(`${appUrl}/places/${place.placeId}`)
  await signIn(page, user)
  await expect(page.getByRole('heading', { level: 1, name: placeName })).toBeVisible()
  // The header shows who is signed in whole: the app's name wraps to make room, the name is not cut to "s…".
  const who = page.getByTestId('signed-in-user')
  await expect(who).toHaveText(user)
  expect(await who.evaluate((el) => el.scrollWidth - el.clientWidth), 'the name is cut').toBeLessThanOrEqual(0)

  // Thumb-sized targets on a touch screen: the way back, and the small buttons.
  const back = (await page.getByRole('link', { name: '← All places' }).boundingBox())!
  expect(back.height, '"← All places" height').toBeGreaterThanOrEqual(44)
  const del = (await page.getByRole('button', { name: 'Delete photo 1', exact: true }).boundingBox())!
  expect(del.height, 'Delete height').toBeGreaterThanOrEqual(44)

  // Tapping "Choose from gallery" leaves no focus ring behind; reaching it with the keyboard shows one.
  const gallery = page.locator('label.file-btn').filter({ hasText: 'Choose from gallery' })
  const ring = () => gallery.evaluate((el) => getComputedStyle(el).outlineStyle)
  const chooser = page.waitForEvent('filechooser')
  await gallery.tap()
  await chooser
  await expect(page.getByLabel('Choose from gallery')).toBeFocused()
  expect(await ring(), 'focus ring after a tap').toBe('none')
  await page.keyboard.press('Shift+Tab')
  await page.keyboard.press('Tab')
  await expect(page.getByLabel('Choose from gallery')).toBeFocused()
  expect(await ring(), 'focus ring from the keyboard').toBe('solid')

  // A long file name in the upload list is cut short: the page does not get wider than the screen.
  const longName = 'IMG_20260517_153045_HDR_panorama_from_the_top_of_the_hill_at_sunset_with_friends.gif'
  await page.getByLabel('Choose from gallery').setInputFiles({ name: longName, mimeType: 'image/gif', buffer: Buffer.from('GIF89a') })
  const job = page.getByTestId('upload-job').filter({ hasText: longName })
  await expect(job).toHaveAttribute('data-phase', 'error')
  expect(await fitsWidth(page), 'page wider than a 320 px screen').toBe(true)
  expect(await job.locator('.file').evaluate((el) => el.scrollWidth > el.clientWidth), 'the name is ellipsised').toBe(true)
  await job.scrollIntoViewIfNeeded()
  await screenshot(page, '21-small-phone-long-file-name', testInfo, { fullPage: false })
  await page.setViewportSize({ width: 280, height: 640 })
  expect(await fitsWidth(page), 'page wider than a 280 px screen').toBe(true)
  await page.setViewportSize({ width: 320, height: 640 })

  // The delete confirmation makes its own tile taller, not its neighbour's.
  const tiles = page.getByTestId('photo')
  await tiles.first().getByRole('button', { name: 'Delete photo 1', exact: true }).tap()
  await expect(tiles.first().getByRole('group', { name: 'Confirm deleting photo 1' })).toBeVisible()
  const [first, second] = [(await tiles.nth(0).boundingBox())!, (await tiles.nth(1).boundingBox())!]
  expect(first.height).toBeGreaterThan(second.height + 20)
  expect(Math.abs(second.height - second.width), 'the neighbour stays a square photo').toBeLessThanOrEqual(4)
  await tiles.first().getByRole('button', { name: 'Keep it' }).tap()

  // Upright, the viewer's title shows the whole name (wrapped, not cut short); Close gives the focus back.
  const view = tiles.nth(1).getByRole('button', { name: /^View photo 2/ })
  await view.tap()
  const viewer = page.getByRole('dialog', { name: placeName })
  await expect(viewer).toBeVisible()
  const title = viewer.getByRole('heading', { name: placeName })
  expect(await title.evaluate((el) => el.scrollWidth <= el.clientWidth), 'the name in the title is cut short').toBe(true)
  await screenshot(page, '26-viewer-small-phone', testInfo, { fullPage: false })
  await viewer.getByRole('button', { name: 'Close' }).tap()
  await expect(viewer).toBeHidden()
  await expect(view).toBeFocused()

  // Held sideways (or a desktop at 200 %): the photo fits the window, Close in view, nothing to scroll.
  await page.setViewportSize({ width: 640, height: 360 })
  await view.tap()
  await expect(viewer).toBeVisible()
  const large = viewer.locator('picture > img')
  await expect.poll(() => large.evaluate((el: HTMLImageElement) => (el.complete ? el.naturalWidth : 0))).toBeGreaterThan(0)
  for (const [what, box] of [
    ['dialog', await viewer.boundingBox()],
    ['photo', await large.boundingBox()],
    ['Close', await viewer.getByRole('button', { name: 'Close' }).boundingBox()],
  ] as const) {
    expect(box!.y, `${what} top`).toBeGreaterThanOrEqual(0)
    expect(box!.y + box!.height, `${what} bottom`).toBeLessThanOrEqual(360)
  }
  expect(await viewer.evaluate((el) => el.scrollHeight <= el.clientHeight), 'the viewer scrolls').toBe(true)
  // The long name is shown whole here too (wrapped): the photo makes room for it.
  const sideways = (await title.boundingBox())!
  expect(sideways.height, 'the name wraps').toBeGreaterThan(40)
  expect(await title.evaluate((el) => el.scrollWidth <= el.clientWidth), 'the name in the title is cut short').toBe(true)
  await expect(viewer).not.toContainText(' px')
  await screenshot(page, '22-viewer-landscape', testInfo, { fullPage: false })
  // A tap on the dark backdrop beside the photo closes it.
  await page.touchscreen.tap(4, 180)
  await expect(viewer).toBeHidden()

  // The phone's Back closes the viewer on the same place and gives the focus back; opening and closing it
  // adds no entries to go back through.
  const entries = await page.evaluate(() => history.length)
  await view.tap()
  await expect(viewer).toBeVisible()
  await page.goBack()
  await expect(viewer).toBeHidden()
  await expect(page.getByRole('heading', { level: 1, name: placeName })).toBeVisible()
  await expect(view).toBeFocused()
  expect(await page.evaluate(() => history.length)).toBe(entries)

  // A finger swiped to the left on the photo shows the next one, in place of the first in the address: Back
  // still closes the viewer, and the focus goes to the tile of the photo seen last.
  const viewFirst = tiles.nth(0).getByRole('button', { name: /^View photo 1/ })
  await viewFirst.tap()
  await expect(viewer).toContainText('1 of 2')
  await expect(viewer.getByRole('button', { name: 'Previous photo' })).toHaveAttribute('aria-disabled', 'true')
  expect(await violations(page), 'the viewer with Previous, Next and Share').toEqual([])
  const box = (await large.boundingBox())!
  await swipe(page, [box.x + box.width * 0.8, box.y + box.height / 2], [box.x + box.width * 0.2, box.y + box.height / 2 + 10])
  await expect(viewer).toContainText('2 of 2')
  await expect(large).toHaveAttribute('src', /\/e2e-b\/scaled\.jpg$/)
  expect(new URL(page.url()).searchParams.get('photo')).toBe('e2e-b')
  await screenshot(page, '25-viewer-next-photo', testInfo, { fullPage: false })
  // Share: this browser has no share sheet, so the photo's link is copied.
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: appUrl })
  await viewer.getByRole('button', { name: 'Share' }).tap()
  await expect(viewer).toContainText('Link copied.')
  const link = await page.evaluate(() => navigator.clipboard.readText())
  expect(link).toBe(`${appUrl}/places/${place.placeId}?photo=e2e-b`)
  await page.keyboard.press('ArrowLeft') // and the arrow keys, with a keyboard
  await expect(viewer).toContainText('1 of 2')
  await page.keyboard.press('ArrowRight')
  await expect(viewer).toContainText('2 of 2')
  await page.goBack()
  await expect(viewer).toBeHidden()
  await expect(view).toBeFocused()
  expect(await page.evaluate(() => history.length)).toBe(entries)
  // Whoever opens the link sees that photo in the viewer, not the place's page with the viewer shut.
  await page.goto(link)
  await expect(viewer).toBeVisible()
  await expect(large).toHaveAttribute('src', /\/e2e-b\/scaled\.jpg$/)
  await page.keyboard.press('Escape')
  await expect(viewer).toBeHidden()

  expect(problems.pageErrors).toEqual([])
  expect(problems.consoleErrors).toEqual([])

  // An error notice stays at the top of the window (a delete that fails, at this size of a desktop at 200 %):
  // controls reached with the keyboard are scrolled into view below it, never under it.
  await page.route(
    (url) => url.href === `${apiUrl}/photos/e2e-a`,
    (route) =>
      route.request().method() === 'DELETE'
        ? route.fulfill(apiError(503, 'Service unavailable, try later.'))
        : route.fallback(),
  )
  await tiles.first().getByRole('button', { name: 'Delete photo 1', exact: true }).tap()
  await tiles.first().getByRole('button', { name: 'Yes, delete' }).tap()
  const notices = page.locator('.notices')
  await expect(notices.getByRole('alert')).toContainText('The photo was not deleted.')
  await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight))
  const hidden: string[] = []
  for (let i = 0; i < 6; i++) {
    await page.keyboard.press('Shift+Tab')
    const seen = await page.evaluate(() => {
      const focused = document.activeElement as HTMLElement
      // A file input is drawn as its label.
      const shown = focused.matches('input.visually-hidden') ? focused.closest('label')! : focused
      const box = shown.getBoundingClientRect()
      const notice = document.querySelector('.notices')!.getBoundingClientRect()
      const under = !focused.closest('.notices') && box.top < notice.bottom && box.bottom > notice.top
      return under ? `${focused.getAttribute('aria-label') ?? focused.textContent!.trim()} (${box.top}-${box.bottom} under ${notice.top}-${notice.bottom})` : ''
    })
    if (seen) hidden.push(seen)
  }
  expect(hidden, 'focused controls under the notice').toEqual([])
  expect(problems.pageErrors).toEqual([])
})

test('the map and the header on a touch screen: thumb-sized zoom buttons, markers and home link', async ({ page }) => {
  const problems = watchPage(page)
  // Away from the other tests' places, so no other marker lies beside this one.
  await createPlace(await tokenFor('mapthumbs'), { name: 'Thumb Park', lat: 51.4901, lng: -0.2003 })
  await page.goto(`${appUrl}/`)
  const home = (await page.getByRole('link', { name: /Happy Path/ }).boundingBox())!
  expect(home.height, 'home link height').toBeGreaterThanOrEqual(44)
  const zoomIn = page.locator('.leaflet-control-zoom-in')
  await expect(zoomIn).toBeVisible()
  const zoom = (await zoomIn.boundingBox())!
  expect([zoom.width, zoom.height], 'zoom button size').toEqual([44, 44])
  // The pin stays 28 px; a tap up to 8 px beside it still lands on its marker.
  const marker = page.locator('.hp-marker', { has: page.locator('.hp-pin') }).and(page.getByRole('button', { name: /^Thumb Park,/ }))
  const pin = (await marker.boundingBox())!
  expect(pin.width).toBe(28)
  const beside = { x: pin.x + pin.width + 6, y: pin.y + pin.height / 2 }
  expect(
    await page.evaluate(({ x, y }) => document.elementFromPoint(x, y)?.closest('.hp-marker')?.getAttribute('aria-label'), beside),
    'the marker under a tap 6 px beside its pin',
  ).toMatch(/^Thumb Park,/)
  const panButtons = page.locator('.hp-pan-button')
  await expect(panButtons).toHaveCount(4)
  for (const button of await panButtons.all()) {
    const box = (await button.boundingBox())!
    expect([box.width, box.height], 'pan button size').toEqual([44, 44])
  }

  // Moved away, the map offers "Search this area", clear of its controls: a tap anywhere on it searches.
  await page.getByRole('button', { name: 'Move the map north' }).tap()
  const searchHere = page.getByRole('button', { name: 'Search this area' })
  await expect(searchHere).toBeVisible()
  const search = (await searchHere.boundingBox())!
  for (const control of await page.locator('.leaflet-control').all()) {
    const box = (await control.boundingBox())!
    const apart = box.x >= search.x + search.width || search.x >= box.x + box.width || box.y >= search.y + search.height || search.y >= box.y + box.height
    expect(apart, `"Search this area" (${JSON.stringify(search)}) clear of a map control (${JSON.stringify(box)})`).toBe(true)
  }
  expect(await searchHere.evaluate((b) => b.scrollWidth <= b.clientWidth), 'its whole label shows').toBe(true)
  await page.touchscreen.tap(search.x + search.width - 8, search.y + search.height / 2)
  await expect(searchHere).toHaveCount(0)
  await expect(page.getByText(/within .* of the map's centre/).first()).toBeVisible()
  expect(problems.pageErrors).toEqual([])
})

test('places at one position share a marker that lists them, each a tap from its page', async ({ page }, testInfo) => {
  const problems = watchPage(page)
  const token = await tokenFor('twins')
  await createPlace(token, { name: 'Twin Oak', lat: 51.4951, lng: -0.1803 })
  const elm = await createPlace(token, { name: 'Twin Elm', lat: 51.4951, lng: -0.1803 })
  await page.goto(`${appUrl}/`)
  const map = page.getByRole('region', { name: /^Map of places/ })
  const stack = map.getByRole('button', { name: /^2 places here: Twin (Oak|Elm), Twin (Oak|Elm); / })
  await expect(stack).toBeVisible()
  await expect(stack).toContainText('2') // the count on the pin
  await stack.tap()
  const list = map.getByRole('list', { name: '2 places here' })
  await expect(list.getByRole('button')).toHaveCount(2)
  await expect(list.getByRole('button', { name: 'Twin Elm Park' })).toBeVisible()
  for (const button of await list.getByRole('button').all()) {
    expect((await button.boundingBox())!.height, 'a place in the list, tap target').toBeGreaterThanOrEqual(44)
  }
  const close = map.getByRole('button', { name: 'Close popup' })
  const closeBox = (await close.boundingBox())!
  expect(closeBox.height, 'the close button, tap target').toBeGreaterThanOrEqual(44)
  // Nothing of the map's stands over the list: its buttons are hidden while it is open, and it fits the map.
  await expect(map.getByRole('button', { name: 'Zoom in' })).toBeHidden()
  const [mapBox, listBox] = [(await map.boundingBox())!, (await page.locator('.hp-stack-popup').boundingBox())!]
  expect(listBox.x).toBeGreaterThanOrEqual(mapBox.x)
  expect(listBox.x + listBox.width).toBeLessThanOrEqual(mapBox.x + mapBox.width)
  const atClose = await page.evaluate(
    ([x, y]) => document.elementFromPoint(x!, y!)?.closest('.leaflet-popup-close-button') !== null,
    [closeBox.x + closeBox.width / 2, closeBox.y + closeBox.height / 2],
  )
  expect(atClose, 'a tap on Close lands on Close').toBe(true)
  expect(await violations(page), 'the list of places at one position').toEqual([])
  await screenshot(page, '29-places-at-one-position', testInfo, { fullPage: false })
  // The map moved to show the list whole (long done by now): the app's move, which offers no new search.
  await expect(page.getByRole('button', { name: 'Search this area' })).toHaveCount(0)
  // Space on the close button closes the list (a link with role="button": Space would scroll the page).
  const scrolled = await page.evaluate(() => window.scrollY)
  await close.focus()
  await page.keyboard.press(' ')
  await expect(list).toHaveCount(0)
  expect(await page.evaluate(() => window.scrollY)).toBe(scrolled)
  await expect(map.getByRole('button', { name: 'Zoom in' })).toBeVisible()
  await stack.tap()

  await list.getByRole('button', { name: 'Twin Elm Park' }).tap()
  await expect(page.getByRole('heading', { level: 1, name: 'Twin Elm' })).toBeVisible()
  expect(page.url()).toBe(`${appUrl}/places/${elm.placeId}`)
  expect(problems.pageErrors).toEqual([])
})

test('Back from a place finds the list as it was left: the distance chosen, scrolled to the place opened', async ({
  page,
  context,
}) => {
  const problems = watchPage(page)
  await context.grantPermissions(['geolocation'])
  await context.setGeolocation({ latitude: 64.1466, longitude: -21.9426 }) // Reykjavik
  const token = await tokenFor('reykjavik')
  for (let n = 1; n <= 8; n++) {
    await createPlace(token, { name: `E2E Heath ${n}`, lat: 64.1466 + 0.06 + n * 0.004, lng: -21.9426 }) // 7-10 km
  }
  await page.goto(`${appUrl}/`)
  await expect(page.getByText('Near your location.')).toBeVisible()
  await page.getByLabel('Within').selectOption({ label: '20 km' })
  const list = page.getByRole('list', { name: 'Places by distance' })
  await expect(list.getByRole('listitem')).toHaveCount(8)
  const last = list.getByRole('link', { name: /E2E Heath 8/ })
  await last.scrollIntoViewIfNeeded()
  const scrolled = await page.evaluate(() => window.scrollY)
  expect(scrolled).toBeGreaterThan(200)
  await last.tap()
  await expect(page.getByRole('heading', { level: 1, name: 'E2E Heath 8' })).toBeVisible()
  await page.goBack()
  await expect(list.getByRole('listitem')).toHaveCount(8)
  await expect(page.getByLabel('Within')).toHaveValue('20000')
  await expect(page.getByText('Near your location.')).toBeVisible()
  await expect.poll(() => page.evaluate(() => window.scrollY)).toBe(scrolled)
  await expect(last).toBeInViewport()
  // Again, with another distance: the entry keeps the latest, and a reload is a new visit.
  await page.getByLabel('Within').selectOption({ label: '50 km' })
  await expect(list.getByRole('listitem')).toHaveCount(8)
  await last.tap()
  await expect(page.getByRole('heading', { level: 1, name: 'E2E Heath 8' })).toBeVisible()
  await page.goBack()
  await expect(page.getByLabel('Within')).toHaveValue('50000')
  await expect(list.getByRole('listitem')).toHaveCount(8)
  // "All places" is a new visit to the home page: the default distance, searched near the person.
  await last.tap()
  await page.getByRole('link', { name: '← All places' }).tap()
  await expect(page.getByText('Near your location.')).toBeVisible()
  await expect(page.getByLabel('Within')).toHaveValue('5000')
  // So is a reload of a page found again by Back.
  await page.goBack()
  await page.goBack()
  await expect(page.getByLabel('Within')).toHaveValue('50000')
  await page.reload()
  await expect(page.getByText('Near your location.')).toBeVisible()
  await expect(page.getByLabel('Within')).toHaveValue('5000')
  expect(problems.pageErrors).toEqual([])
})

test('a place named in one long word wraps: the list and its page stay as wide as the phone', async ({ page, context }, testInfo) => {
  const problems = watchPage(page)
  await context.grantPermissions(['geolocation'])
  await context.setGeolocation({ latitude: 53.2215, longitude: -4.2045 }) // Anglesey
  const name = 'Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch'
  await createPlace(await tokenFor('anglesey'), { name, lat: 53.2218, lng: -4.2041 })
  await page.goto(`${appUrl}/`)
  const list = page.getByRole('list', { name: 'Places by distance' })
  await expect(list).toContainText(name)
  expect(await fitsWidth(page), 'the home page scrolls sideways').toBe(true)
  await list.getByRole('link', { name: new RegExp(name) }).tap()
  await expect(page.getByRole('heading', { level: 1, name })).toBeVisible()
  expect(await fitsWidth(page), "the place's page scrolls sideways").toBe(true)
  await screenshot(page, '31-long-place-name', testInfo, { fullPage: false })
  expect(problems.pageErrors).toEqual([])
})

test("a place's type stays one word beside a long distance, and no separator dangles", async ({ page }, testInfo) => {
  // No location shared: the distances read "… from the default location", which squeezed "Park" to "Par / k".
  await createPlace(await tokenFor('types'), { name: 'Type Check Park', lat: 51.5129, lng: -0.1657 })
  await page.goto(`${appUrl}/`)
  const list = page.getByRole('list', { name: 'Places by distance' })
  await expect(list).toContainText('Type Check Park')
  await expect(list).toContainText('from the default location')
  const lines = await list.locator('.type').evaluateAll((labels) =>
    labels.map((label) => label.getBoundingClientRect().height / parseFloat(getComputedStyle(label).lineHeight)),
  )
  expect(lines.length).toBeGreaterThan(0)
  for (const count of lines) expect(count, 'a place type on more than one line').toBeLessThan(1.5)
  // The "·" between type and distance is shown between them on one line, and clipped when the distance wraps.
  const separators = await list.locator('.meta').evaluateAll((metas) =>
    metas.map((meta) => {
      const type = meta.querySelector('.type')!.getBoundingClientRect()
      const distance = meta.querySelector('.distance')!
      const box = distance.getBoundingClientRect()
      const dot = getComputedStyle(distance, '::before')
      const dotRight = box.left - parseFloat(dot.right)
      return {
        wrapped: box.top > type.top + 1,
        visible: dotRight > meta.getBoundingClientRect().left && getComputedStyle(meta).overflowX === 'hidden',
        between: dotRight - parseFloat(dot.width) >= type.right && dotRight <= box.left,
      }
    }),
  )
  expect(separators.some((separator) => separator.wrapped), 'a distance wrapped at 320 px').toBe(true)
  for (const { wrapped, visible, between } of separators) {
    expect(visible, 'the separator is shown only on one line with both').toBe(!wrapped)
    if (!wrapped) expect(between, 'the separator between type and distance').toBe(true)
  }
  await list.scrollIntoViewIfNeeded()
  await screenshot(page, '33-place-type-and-long-distance', testInfo, { fullPage: false })
})

test('far north, the widest distance searches as far as the API can there, and says so', async ({ page, context }, testInfo) => {
  const problems = watchPage(page)
  await context.grantPermissions(['geolocation'])
  await context.setGeolocation({ latitude: 78.2232, longitude: 15.6267 }) // Longyearbyen, Svalbard
  await createPlace(await tokenFor('arctic'), { name: 'E2E Svalbard Park', lat: 78.2, lng: 15.2 }) // ~10 km away
  await page.goto(`${appUrl}/`)
  await expect(page.getByText('Near your location.')).toBeVisible()
  await page.getByLabel('Within').selectOption({ label: '50 km' })
  // The API refuses 50 km this far north, naming the widest circle it can search: the app searches that.
  await expect(page.getByRole('status').filter({ hasText: 'Searched within' })).toHaveText(
    /^\s*Searched within 39 km: the widest search possible this close to the pole\.\s*$/,
  )
  await expect(page.getByRole('list', { name: 'Places by distance' })).toContainText('E2E Svalbard Park')
  await expect(page.getByRole('alert')).toHaveCount(0)
  expect(await violations(page), 'a search narrowed near the pole').toEqual([])
  await screenshot(page, '30-far-north', testInfo)
  expect(problems.pageErrors).toEqual([])
})

test('adding a place already on the map: the app names it, a tap away', async ({ page }, testInfo) => {
  const problems = watchPage(page)
  const existing = await createPlace(await tokenFor('namesake-first'), { name: 'E2E Namesake Park', lat: 51.5102, lng: -0.1601 })
  await page.goto(`${appUrl}/`)
  await signIn(page, 'namesake-second')
  await page.getByRole('button', { name: 'Add a place' }).tap()
  const form = page.getByRole('form', { name: 'Add a place' })
  await form.getByRole('textbox', { name: 'Name' }).fill('e2e namesake park')
  await form.getByRole('spinbutton', { name: 'Latitude' }).fill('51.5103') // 11 m north of it
  await form.getByRole('spinbutton', { name: 'Longitude' }).fill('-0.1601')
  await form.getByRole('button', { name: 'Create place' }).tap()
  const question = form.getByRole('alert')
  await expect(question).toContainText('A park named “E2E Namesake Park” is already on the map, 10 m from this position.')
  await expect(question.getByRole('button', { name: 'Add mine as another place' })).toBeVisible()
  expect(await violations(page), 'the question about a place already on the map').toEqual([])
  await screenshot(page, '31-place-already-on-the-map', testInfo, { fullPage: false })
  await question.getByRole('link', { name: 'Open E2E Namesake Park' }).tap()
  await expect(page.getByRole('heading', { level: 1, name: 'E2E Namesake Park' })).toBeVisible()
  expect(page.url()).toBe(`${appUrl}/places/${existing.placeId}`)
  expect(problems.pageErrors).toEqual([])
})

test('adding a place on a small phone: what is wrong is shown beside the field to put right', async ({ page }, testInfo) => {
  const problems = watchPage(page)
  await page.setViewportSize({ width: 320, height: 568 })
  await page.goto(`${appUrl}/`)
  await signIn(page, 'smallform')
  await page.getByRole('button', { name: 'Add a place' }).tap()
  const form = page.getByRole('form', { name: 'Add a place' })
  const message = form.getByRole('alert')

  // A refused submit moves the focus up to the field, far above the button: its message is in view with it.
  const name = form.getByRole('textbox', { name: 'Name' })
  await form.getByRole('button', { name: 'Create place' }).tap()
  await expect(name).toBeFocused()
  await expect(message).toHaveText('Enter a name for the place.')
  await expect(name).toBeInViewport({ ratio: 1 })
  await expect(message).toBeInViewport({ ratio: 1 })
  await screenshot(page, '24-small-phone-form-error', testInfo, { fullPage: false })

  // A coordinate typed wrong says so right under it, not below the other fields.
  await name.fill('Corner Park')
  const latitude = form.getByRole('spinbutton', { name: 'Latitude' })
  await latitude.fill('')
  await expect(message).toHaveCount(0) // emptied to type another: said once the field is left, not before
  await latitude.press('Tab')
  await expect(message).toHaveText('Enter the latitude, or set the position on the map.')
  await latitude.fill('95') // out of range: said at once
  await expect(message).toHaveText('Latitude must be between -90 and 90.')
  const field = (await latitude.boundingBox())!
  const shown = (await message.boundingBox())!
  expect(shown.y - (field.y + field.height), 'space between the field and its message').toBeLessThanOrEqual(16)

  // Emptied, then Create tapped straight from the field: the one tap submits (the message, had it come with the
  // field's blur, would have pushed Create from under the finger), and the focus goes back to the field.
  await latitude.fill('51.5')
  await expect(message).toHaveCount(0)
  await latitude.fill('')
  await form.getByRole('button', { name: 'Create place' }).tap()
  await expect(message).toHaveText('Enter the latitude, or set the position on the map.')
  await expect(latitude).toBeFocused()
  expect(problems.pageErrors).toEqual([])
  expect(problems.consoleErrors).toEqual([])
})
