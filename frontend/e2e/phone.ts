/** The phone the tests use: an iPhone 12-15 sized screen (390x844 CSS px, 3x) with touch. */
export const PHONE = {
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 3,
  isMobile: true,
  hasTouch: true,
  locale: 'en-GB',
} as const
