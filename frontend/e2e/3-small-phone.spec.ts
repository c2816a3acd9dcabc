/**
 * The smallest phones still in use (320 CSS px wide, like an iPhone SE 1st gen) with a long user
 * name (people sign in with their email address): the header must stay one tidy bar.
 */
import { appUrl, expect, screenshot, test, watchPage } from './helpers'

test.use({ viewport: { width: 320, height: 640 }, deviceScaleFactor: 2 })

test('the header fits a 320 px screen with a long user name', async ({ page }, testInfo) => {
  const problems = watchPage(page)
  await page.goto(`${appUrl}/`)
  await page.getByRole('button', { name: 'Sign in', exact: true }).click()
  await page.getByRole('textbox', { name: 'User name or email' }).fill('alexandra.verylongsurname@example-company.com')
  await page.getByRole('button', { name: 'Sign in' }).click()
  await expect(page.getByTestId('signed-in-user')).toHaveText('alexandra.verylongsurname@example-company.com')

  const header = (await page.locator('header.app-header').boundingBox())!
  const signOut = page.getByRole('button', { name: 'Sign out' })
  const button = (await signOut.boundingBox())!
  const who = (await page.getByTestId('signed-in-user').boundingBox())!
  // "Sign out" on one line (a small button is 36 px high), inside the bar with room around it.
  expect(button.height, '"Sign out" wraps onto two lines').toBeLessThanOrEqual(40)
  expect(button.y - header.y, 'space above "Sign out"').toBeGreaterThanOrEqual(4)
  expect(header.y + header.height - (button.y + button.height), 'space below "Sign out"').toBeGreaterThanOrEqual(4)
  expect(button.x + button.width).toBeLessThanOrEqual(320)
  // The long name is cut short (with an ellipsis), not pushed off the screen or over the button.
  expect(who.width).toBeGreaterThan(20)
  expect(who.x + who.width).toBeLessThanOrEqual(button.x)
  expect(await page.getByTestId('signed-in-user').evaluate((el) => el.scrollWidth > el.clientWidth)).toBe(true)
  await screenshot(page, '20-small-phone-long-name', testInfo, { fullPage: false })
  expect(problems.pageErrors).toEqual([])
})
