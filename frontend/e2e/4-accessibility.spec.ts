/**
 * Accessibility, checked by axe-core (WCAG 2.1 A and AA rules: labels, names, contrast, landmarks...) on
 * every screen a visitor passes through, on a phone: places, the sign-in form, a place with photos.
 */
import AxeBuilder from '@axe-core/playwright'
import type { Page } from '@playwright/test'
import { appUrl, createPlace, expect, photo, test, tokenFor } from './helpers'
import { PHONE } from './phone'

test.use(PHONE)

async function violations(page: Page) {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze()
  return results.violations.map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`)
}

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
