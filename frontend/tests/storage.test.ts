import { afterEach, describe, expect, it, vi } from 'vitest'
import { browserStorage } from '../src/lib/storage'

describe('browserStorage', () => {
  afterEach(() => vi.restoreAllMocks())

  it("is the browser's own storage when it may be used", () => {
    expect(browserStorage()).toBe(window.localStorage)
    expect(browserStorage('sessionStorage')).toBe(window.sessionStorage)
  })

  it('keeps things for the page in memory when the browser refuses storage (site data blocked)', () => {
    vi.spyOn(window, 'localStorage', 'get').mockImplementation(() => {
      throw new DOMException('The operation is insecure.', 'SecurityError')
    })
    const storage = browserStorage()
    expect(storage.getItem('k')).toBeNull()
    storage.setItem('k', 'v')
    storage.setItem('j', 'w')
    expect([storage.getItem('k'), storage.length, storage.key(1)]).toEqual(['v', 2, 'j'])
    storage.removeItem('k')
    expect(storage.getItem('k')).toBeNull()
    storage.clear()
    expect(storage.length).toBe(0)
  })
})
