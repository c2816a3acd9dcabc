import { afterEach, describe, expect, it, vi } from 'vitest'
import { downloadFailed, loadAfreshIfFailed, page, siteAnswers } from '../src/lib/chunks'

afterEach(() => {
  vi.restoreAllMocks()
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
