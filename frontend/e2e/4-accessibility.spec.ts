/**
 * Accessibility, checked by axe-core (WCAG 2.1 A and AA rules: labels, names, contrast, landmarks...) on
 * every screen a visitor passes through, on a phone: places, the sign-in form, a place with photos.
 */
import { appUrl, createPlace, expect, photo, screenshot, test, tokenFor, violations, watchPage } from './helpers'
import { PHONE } from './phone'

test.use(PHONE)

test('every screen passes the WCAG 2.1 AA rules axe can check', async ({ page }) => {
  const token = await tokenFor('axe')
  const place = await createPlace(token, { name: 'Accessible Park', lat: 51.5073, lng: -0.1657 })

  await page.goto(`${appUrl}/`)
  await expect(page.getByRole('heading', { level: 1 })).toBeVisible()
  // The map is a named region that screen readers call a map, with its keys in its name.
  const map = page.getByRole('region', { name: /^Map of places\. Use the arrow keys/ })
  await expect(map).toHaveAttribute('aria-roledescription', 'map')
  expect(await violations(page), 'places').toEqual([])

  await page.getByRole('button', { name: 'Sign in', exact: true }).click()
  await expect(page.getByRole('textbox', { name: 'User name or email' })).toBeVisible()
  expect(await violations(page), 'sign-in form').toEqual([])
  await page.getByRole('textbox', { name: 'User name or email' }).fill('axe')
  await page.getByRole('button', { name: 'Sign in' }).click()
  await expect(page.getByTestId('signed-in-user')).toHaveText('axe')

  await page.goto(`${appUrl}/places/${place.placeId}`)
  await page.getByLabel('Choose from gallery').setInputFiles(photo('jolla.jpg'))
  await expect(page.getByTestId('photo')).toHaveCount(1, { timeout: 60_000 })
  expect(await violations(page), 'place with a photo and an upload').toEqual([])

  // The checker itself works: an unlabelled field and a low-contrast line are reported.
  await page.evaluate(() => {
    document.querySelector('main')!.insertAdjacentHTML(
      'beforeend',
      '<input type="text"><p style="color:#bbb;background:#fff">faint</p>',
    )
  })
  const found = await violations(page)
  expect(found.some((v) => v.includes(' label:'))).toBe(true)
  expect(found.some((v) => v.includes('color-contrast'))).toBe(true)
})

test.describe('on a desktop', () => {
  // A short window, so that the page scrolls past the map.
  test.use({ viewport: { width: 1280, height: 520 }, deviceScaleFactor: 1, isMobile: false, hasTouch: false })

  test('the map: Space zooms, a focused marker shows its name, the wheel scrolls the page until the map is used, reduced motion', async ({
    page,
  }, testInfo) => {
    const problems = watchPage(page)
    const token = await tokenFor('desk')
    await createPlace(token, { name: 'Desk Park', lat: 51.5201, lng: -0.1302 })
    // ~5 km apart: the earlier files' places widen the map, and one zoom out must not join the two pins.
    await createPlace(token, { name: 'Desk Garden', lat: 51.5101, lng: -0.2002 })
    await page.goto(`${appUrl}/`)
    const map = page.getByRole('region', { name: /^Map of places/ })
    const marker = map.getByRole('button', { name: /^Desk Park,/ })
    const other = map.getByRole('button', { name: /^Desk Garden,/ })
    await expect(marker).toBeVisible()
    await expect(page.getByRole('list', { name: 'Places by distance' })).toBeVisible()
    /** How far apart two markers are: it changes when the map zooms, not when it pans or the page scrolls. */
    const spread = async () => {
      const [a, b] = [(await marker.boundingBox())!, (await other.boundingBox())!]
      return Math.round(Math.hypot(a.x - b.x, a.y - b.y))
    }
    /** The spread once the map has stopped moving. */
    const settled = async () => {
      for (let i = 0; i < 20; i++) {
        const before = await spread()
        await page.waitForTimeout(300)
        if ((await spread()) === before) return before
      }
      throw new Error('the map keeps moving')
    }
    const scrollY = () => page.evaluate(() => window.scrollY)
    const outside = page.getByRole('button', { name: 'Hide map' })

    // A marker reached with the keyboard shows its name; a screen reader says it once, from the marker's
    // label (the tooltip is neither its description nor in the accessibility tree).
    const tooltip = map.locator('.leaflet-tooltip')
    await marker.focus()
    await expect(tooltip).toBeVisible()
    await expect(tooltip).toHaveText('Desk Park')
    await expect(marker).toHaveAccessibleName(/^Desk Park, Park, /)
    await expect(marker).toHaveAccessibleDescription('')
    await expect(page.getByRole('tooltip')).toHaveCount(0)
    await screenshot(page, '23-desktop-marker-name', testInfo, { fullPage: false })
    await outside.focus()
    await expect(tooltip).toHaveCount(0)

    // Space on a zoom button zooms the map, as Enter does; the page stays where it was.
    const start = await settled()
    await map.getByRole('button', { name: 'Zoom out' }).focus()
    await page.keyboard.press('Space')
    expect(await settled(), 'zoomed out').toBeLessThan(start)
    expect(await scrollY()).toBe(0)

    // Once focus has left the map, the wheel over it scrolls the page past it...
    await outside.focus()
    expect(await page.evaluate(() => document.documentElement.scrollHeight > window.innerHeight), 'the page scrolls').toBe(true)
    const box = (await map.boundingBox())!
    const before = await settled()
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2)
    await page.mouse.wheel(0, 200)
    await expect.poll(scrollY).toBeGreaterThan(0)
    expect(await settled(), 'the map did not zoom').toBe(before)
    // ...and zooms the map once it is in use (clicked).
    await page.evaluate(() => window.scrollTo(0, 0))
    await page.mouse.click(box.x + 12, box.y + box.height - 12)
    await page.mouse.wheel(0, -200)
    expect(await settled(), 'zoomed in').toBeGreaterThan(before)
    expect(await scrollY()).toBe(0)

    // Motion by default; none when the person asked for less: no fading, no zoom animation, a key pan in one step.
    await expect(map).toHaveClass(/leaflet-fade-anim/)
    await page.emulateMedia({ reducedMotion: 'reduce' })
    await page.reload()
    await expect(marker).toBeVisible()
    await expect(map).not.toHaveClass(/leaflet-fade-anim/)
    await expect(map.locator('.leaflet-proxy')).toHaveCount(0)
    await expect(marker).toHaveClass(/leaflet-zoom-hide/)
    await map.focus()
    const steps = await page.evaluate(async () => {
      const pane = document.querySelector<HTMLElement>('.leaflet-map-pane')!
      const seen = new Set([pane.style.transform])
      const watching = (async () => {
        const until = performance.now() + 600
        while (performance.now() < until) {
          await new Promise(requestAnimationFrame)
          seen.add(pane.style.transform)
        }
      })()
      document.activeElement!.dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowRight', keyCode: 39, bubbles: true }))
      await watching
      return seen.size - 1
    })
    expect(steps, 'positions the map passed through').toBe(1)
    expect(problems.pageErrors).toEqual([])
    expect(problems.consoleErrors).toEqual([])
  })
})
