import { afterEach, describe, expect, it, vi } from 'vitest'
import { createAuth } from '../src/composables/useAuth'
import { downloadFailed, loadAfreshIfFailed, page, siteAnswers } from '../src/lib/chunks'
import { testConfig } from './helpers'

afterEach(() => {
  vi.restoreAllMocks()
  vi.unstubAllGlobals()
})

describe('code that failed to download', () => {
  it('is loaded afresh with its page on the next try, once the site answers; until then it is imported again', async () => {
    const load = vi.spyOn(page, 'load').mockImplementation(() => {})
    const answers = vi.fn(async () => true)
    // Never failed here: imported as usual, the site not even asked.
    expect(await loadAfreshIfFailed('page:place', '/places/rose', answers)).toBe(false)
    expect(answers).not.toHaveBeenCalled()

    downloadFailed('page:place')
    answers.mockResolvedValueOnce(false) // still offline
    expect(await loadAfreshIfFailed('page:place', '/places/rose', answers)).toBe(false)
    expect(load).not.toHaveBeenCalled()

    expect(await loadAfreshIfFailed('page:place', '/places/rose', answers)).toBe(true)
    expect(load).toHaveBeenCalledWith('/places/rose')
    // Each piece of code on its own: another page's code did not fail.
    expect(await loadAfreshIfFailed('page:not-found', '/nowhere', answers)).toBe(false)
  })

  it('asks the site whether it answers with its config.json, past every cache, and takes only a 2xx as yes', async () => {
    const seen: [string, RequestInit | undefined][] = []
    const answering = (response: () => Promise<Response>) =>
      (async (url: RequestInfo | URL, init?: RequestInit) => {
        seen.push([String(url), init])
        return response()
      }) as typeof fetch
    expect(await siteAnswers('/config.json', 1000, answering(async () => new Response('{}')))).toBe(true)
    expect(seen[0]![0]).toBe('/config.json')
    expect(seen[0]![1]).toMatchObject({ cache: 'no-store' })
    expect(seen[0]![1]!.signal).toBeInstanceOf(AbortSignal)
    expect(await siteAnswers('/config.json', 1000, answering(async () => new Response('', { status: 503 })))).toBe(false)
    expect(await siteAnswers('/config.json', 1000, answering(() => Promise.reject(new TypeError('Failed to fetch'))))).toBe(
      false,
    )
  })

  it('gives up on a site that does not answer in time', async () => {
    const hanging = ((_url: RequestInfo | URL, init?: RequestInit) =>
      new Promise<Response>((_resolve, reject) => init!.signal!.addEventListener('abort', () => reject(init!.signal!.reason)))) as typeof fetch
    expect(await siteAnswers('/config.json', 20, hanging)).toBe(false)
  })
})

describe('the sign-in library that failed to download', () => {
  it('is not asked for again by the page: the next sign-in loads the page afresh, once the site answers', async () => {
    const signinRedirect = vi.fn(async () => {})
    class UserManager {
      events = { addUserLoaded: vi.fn(), addUserUnloaded: vi.fn(), addSilentRenewError: vi.fn() }
      getUser = vi.fn(async () => null)
      signinRedirect = signinRedirect
    }
    class WebStorageStateStore {}
    const loadOidc = vi
      .fn()
      .mockRejectedValueOnce(new TypeError('Failed to fetch dynamically imported module'))
      .mockResolvedValue({ UserManager, WebStorageStateStore })
    const load = vi.spyOn(page, 'load').mockImplementation(() => {})
    vi.spyOn(console, 'warn').mockImplementation(() => {})
    const site = vi.fn(async (): Promise<Response> => Promise.reject(new TypeError('Failed to fetch')))
    vi.stubGlobal('fetch', site)
    const auth = createAuth(testConfig, { loadOidc, location: { origin: 'http://app.test', assign: vi.fn() } })
    await vi.waitFor(() => expect(auth.ready.value).toBe(true)) // the stored sign-in could not be read

    // A request that needs a token (following an upload) finds the person signed out here, as the header says,
    // rather than failing at once for a library this page cannot import again: they are asked to sign in.
    await expect(auth.getAccessToken()).resolves.toBeNull()
    expect(loadOidc).toHaveBeenCalledTimes(1)

    // Still offline: the sign-in is tried as before, and says why it could not start.
    loadOidc.mockRejectedValueOnce(new TypeError('Failed to fetch dynamically imported module'))
    await expect(auth.signIn('/places/p1')).rejects.toThrow('Failed to fetch dynamically imported module')
    expect(load).not.toHaveBeenCalled()

    // The site answers: the page is loaded afresh, where the library downloads; nothing is redirected from here.
    site.mockImplementation(async () => new Response('{}'))
    await auth.signIn('/places/p1')
    expect(load).toHaveBeenCalledWith(window.location.href)
    expect(signinRedirect).not.toHaveBeenCalled()
    expect(loadOidc).toHaveBeenCalledTimes(2)
  })
})
