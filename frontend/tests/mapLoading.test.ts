import { flushPromises } from '@vue/test-utils'
import 'leaflet' // loaded before the test replaces navigator: Leaflet reads its userAgent once, on import
import { h } from 'vue'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import ErrorBoundary from '../src/components/ErrorBoundary.vue'
import { page } from '../src/lib/chunks'
import HomeView from '../src/views/HomeView.vue'
import { fakeApi, fakeAuth, mountWith, near } from './helpers'

// The map's module (and Leaflet with it) downloads on its own; here the test decides how each download
// goes. Its own file: the mock stands for PlaceMap.vue, and once a download succeeds it is kept.
const download = vi.hoisted(() => ({ attempts: 0, next: (): Promise<unknown> => new Promise(() => {}) }))
vi.mock('../src/components/PlaceMap.vue', async (importOriginal) => {
  download.attempts++
  await download.next()
  return importOriginal()
})

beforeEach(() => {
  download.attempts = 0
})

afterEach(() => {
  vi.useRealTimers()
  vi.unstubAllGlobals()
  vi.restoreAllMocks()
})

/** The next download: it waits until the test says how it ends. */
function heldDownload() {
  const ends = { arrive: () => {}, fail: (_err: Error) => {} }
  download.next = () => new Promise<void>((resolve, reject) => Object.assign(ends, { arrive: resolve, fail: reject }))
  return ends
}

/** HomeView in the error boundary that replaces a page that fails, as the app shows pages. */
function mountHome() {
  vi.stubGlobal('navigator', { ...navigator, geolocation: undefined })
  localStorage.setItem('happypath.showMap', 'true')
  const api = fakeApi({ nearbyPlaces: vi.fn(async () => ({ places: [near({ placeId: 'rose', name: 'Rose Park' }, 80)] })) })
  const Page = { render: () => h(ErrorBoundary, null, { default: () => h(HomeView) }) }
  return mountWith(Page, { api, auth: fakeAuth(null), attachTo: document.body }).wrapper
}

describe('HomeView while the map downloads', () => {
  it('a download that failed is tried again by loading the page afresh, once the site answers', async () => {
    // The browser would fail every later import of the map at once: this page never gets it now.
    vi.spyOn(console, 'error').mockImplementation(() => {})
    const load = vi.spyOn(page, 'load').mockImplementation(() => {})
    const siteFetch = vi.fn(async (_url: RequestInfo | URL, _init?: RequestInit) => new Response('{}'))
    vi.stubGlobal('fetch', siteFetch)
    const failing = heldDownload()
    const wrapper = mountHome()
    await flushPromises()
    failing.fail(new Error('Failed to fetch dynamically imported module'))
    await vi.waitFor(() => expect(wrapper.find('#map-panel [role="alert"]').exists()).toBe(true))

    await wrapper.get('#map-panel [role="alert"] button').trigger('click')
    await flushPromises()
    expect(siteFetch).toHaveBeenCalledTimes(1)
    expect(String(siteFetch.mock.calls[0]![0])).toMatch(/config\.json$/)
    expect(siteFetch.mock.calls[0]![1]).toMatchObject({ cache: 'no-store' })
    expect(load).toHaveBeenCalledWith(window.location.href)
    expect(download.attempts).toBe(1) // not asked for again in this page
    wrapper.unmount()
  })

  it('on a flaky connection: lists the places at once, says the map is loading, and offers to try again', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {})
    // Nor does the site answer: "Try again" downloads the map again (which a browser fails at once, offline).
    const offline = vi.fn(async () => Promise.reject(new TypeError('Failed to fetch')))
    vi.stubGlobal('fetch', offline)
    const first = heldDownload()
    const wrapper = mountHome()
    await flushPromises()
    const listed = () => wrapper.findAll('ol[aria-label="Places by distance"] .name').map((n) => n.text())
    const loadingNote = () => wrapper.find('#map-panel [role="status"]')
    const mapAlert = () => wrapper.find('#map-panel [role="alert"]')
    const tryAgain = () => mapAlert().get('button').trigger('click')

    // The list does not wait for the map; a quick download shows nothing in between (no flash).
    expect(listed()).toEqual(['Rose Park'])
    expect(wrapper.find('.map-placeholder').exists()).toBe(false)
    await vi.waitFor(() => expect(loadingNote().text()).toBe('Loading the map…'), { timeout: 2000 })

    // The download fails: only the map is missing; the boundary did not replace the page.
    first.fail(new Error('Failed to fetch dynamically imported module'))
    await vi.waitFor(() => expect(mapAlert().exists()).toBe(true))
    expect(mapAlert().text()).toContain('The map could not be loaded. The list below still works.')
    expect(wrapper.text()).not.toContain('This part of the page could not be shown')
    expect(listed()).toEqual(['Rose Park'])
    expect(Object.keys(mapAlert().attributes())).not.toContain('center') // the map's props are not attributes

    // "Try again" downloads it again; this time it is slow, and after 20 s the app stops waiting.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const second = heldDownload()
    await tryAgain()
    await flushPromises()
    expect(offline).toHaveBeenCalledTimes(1)
    expect(download.attempts).toBe(2)
    await vi.advanceTimersByTimeAsync(19_000)
    expect(loadingNote().text()).toBe('Loading the map…')
    await vi.advanceTimersByTimeAsync(1_000)
    await flushPromises()
    expect(mapAlert().text()).toContain('The map could not be loaded.')
    expect(listed()).toEqual(['Rose Park'])

    // The slow download finishes after all: "Try again" shows the map without downloading it once more.
    second.arrive()
    await flushPromises()
    await tryAgain()
    await vi.waitFor(() => expect(wrapper.find('.leaflet-container').exists()).toBe(true))
    expect(download.attempts).toBe(2)
    expect(mapAlert().exists()).toBe(false)
    // Both failures were logged, with why, for whoever looks at the console.
    expect(logged.mock.calls.map(([err]) => [(err as Error).message, (err as Error).cause instanceof Error])).toEqual([
      ['The map could not be downloaded.', true],
      ['The map took too long to download.', false],
    ])
    logged.mockRestore()
    wrapper.unmount()
  })
})
