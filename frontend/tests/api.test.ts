import { describe, expect, it, vi } from 'vitest'
import { ApiError, NETWORK_MESSAGE, STILL_ANSWERING_MESSAGE, TIMEOUT_MESSAGE, createApi, errorMessage, withLocalTime } from '../src/lib/api'

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

function setup(answer: (url: string, init: RequestInit) => Promise<Response> | Response, token: string | null = 'tok') {
  const fetchFn = vi.fn(async (url: string, init: RequestInit) => answer(url, init))
  const api = createApi({
    baseUrl: 'http://api.test/',
    getToken: async () => token,
    fetch: fetchFn as unknown as typeof fetch,
    timeoutMs: 50,
  })
  return { api, fetchFn }
}

async function failure(p: Promise<unknown>): Promise<ApiError> {
  const err = await p.then(
    () => {
      throw new Error('expected a rejection')
    },
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(ApiError)
  return err as ApiError
}

describe('api client requests', () => {
  it('GET /places with the query and no Authorization header', async () => {
    const { api, fetchFn } = setup(() => json({ places: [] }))
    await expect(api.nearbyPlaces({ lat: 47.5, lng: 8.25, radius: 5000, limit: 100 })).resolves.toEqual({ places: [] })
    const [url, init] = fetchFn.mock.calls[0]!
    expect(url).toBe('http://api.test/places?lat=47.5&lng=8.25&radius=5000&limit=100')
    expect(init.method).toBe('GET')
    expect((init.headers as Record<string, string>).Authorization).toBeUndefined()
  })

  it('POST /places sends JSON with the Bearer token', async () => {
    const { api, fetchFn } = setup(() => json({ placeId: 'p9' }, 201))
    await api.createPlace({ name: 'Rose Park', type: 'park', lat: 1, lng: 2 })
    const [url, init] = fetchFn.mock.calls[0]!
    expect(url).toBe('http://api.test/places')
    expect(init.method).toBe('POST')
    expect(init.headers).toMatchObject({ Authorization: 'Bearer tok', 'Content-Type': 'application/json' })
    expect(JSON.parse(init.body as string)).toEqual({ name: 'Rose Park', type: 'park', lat: 1, lng: 2 })
  })

  it('omits an empty cursor and encodes ids in paths', async () => {
    const { api, fetchFn } = setup(() => json({ photos: [], nextCursor: null }))
    await api.listPhotos('a/b', { limit: 24, cursor: null })
    await api.listPhotos('p1', { limit: 24, cursor: 'eyJ+/=' })
    expect(fetchFn.mock.calls[0]![0]).toBe('http://api.test/places/a%2Fb/photos?limit=24')
    expect(fetchFn.mock.calls[1]![0]).toBe('http://api.test/places/p1/photos?limit=24&cursor=eyJ%2B%2F%3D')
  })

  it('GET /photos/{id} without a token, the id encoded', async () => {
    const { api, fetchFn } = setup(() => json({ photoId: 'ph 1' }))
    await expect(api.getPhoto('ph 1')).resolves.toEqual({ photoId: 'ph 1' })
    const [url, init] = fetchFn.mock.calls[0]!
    expect(url).toBe('http://api.test/photos/ph%201')
    expect((init.headers as Record<string, string>).Authorization).toBeUndefined()
  })

  it('asks which photos are mine with the token, at most 100 ids a request', async () => {
    const { api, fetchFn } = setup((url) => {
      const asked = new URL(url).searchParams.get('ids')!.split(',')
      return json({ photoIds: asked.filter((id) => id.endsWith('7')) })
    })
    const ids = Array.from({ length: 230 }, (_, i) => `ph${i}`)
    const mine = await api.myPhotos(ids)
    expect(mine).toEqual(ids.filter((id) => id.endsWith('7')))
    expect(fetchFn.mock.calls.map(([url]) => new URL(url).searchParams.get('ids')!.split(',').length)).toEqual([100, 100, 30])
    const [url, init] = fetchFn.mock.calls[0]!
    expect(url.startsWith('http://api.test/photos/mine?ids=ph0%2Cph1%2C')).toBe(true)
    expect(init.headers).toMatchObject({ Authorization: 'Bearer tok' })
    await expect(api.myPhotos([])).resolves.toEqual([])
    expect(fetchFn).toHaveBeenCalledTimes(3)
  })

  it('reports a token the API refused, not a missing one or a public 401', async () => {
    const refused = vi.fn()
    const answer = () => json({ message: 'Unauthorized' }, 401)
    const signedIn = createApi({ baseUrl: 'http://api.test', getToken: async () => 'tok', fetch: answer as never, onTokenRefused: refused })
    expect((await failure(signedIn.getUpload('u1'))).status).toBe(401)
    expect(refused).toHaveBeenCalledTimes(1)
    await failure(signedIn.getPlace('p1')) // no token sent: nothing to forget
    // A token the API took, or an auth route refused for another reason, is kept.
    const other = createApi({
      baseUrl: 'http://api.test',
      getToken: async () => 'tok',
      fetch: (async (url: string) => (url.includes('/uploads/') ? json({ message: 'Not yours.' }, 403) : json({ photoIds: [] }))) as never,
      onTokenRefused: refused,
    })
    await other.myPhotos(['ph1'])
    await failure(other.getUpload('u1'))
    const signedOut = createApi({ baseUrl: 'http://api.test', getToken: async () => null, fetch: answer as never, onTokenRefused: refused })
    expect((await failure(signedOut.getUpload('u1'))).message).toBe('Please sign in first.')
    expect(refused).toHaveBeenCalledTimes(1)
  })

  it("reads an error's Retry-After in seconds (a date, or nothing, is no number)", async () => {
    const answer = (retryAfter: string | null) => () =>
      new Response(JSON.stringify({ message: 'busy' }), {
        status: 503,
        headers: { 'Content-Type': 'application/json', ...(retryAfter === null ? {} : { 'Retry-After': retryAfter }) },
      })
    for (const [header, seconds] of [['3', 3], [null, null], ['Fri, 04 Dec 2026 21:00:00 GMT', null]] as const) {
      expect((await failure(setup(answer(header)).api.getPlace('p1'))).retryAfterS).toBe(seconds)
    }
  })

  it('a sign-in that could not be renewed for want of network is a network failure, not a sign-out', async () => {
    const fetchFn = vi.fn()
    const api = createApi({
      baseUrl: 'http://api.test',
      getToken: async () => {
        throw new TypeError('Failed to fetch') // the issuer's token endpoint, unreachable
      },
      fetch: fetchFn as never,
    })
    const err = await failure(api.getUpload('u1'))
    expect([err.status, err.message]).toEqual([0, NETWORK_MESSAGE]) // what the poll retries
    expect(fetchFn).not.toHaveBeenCalled()
  })

  it('sends each route with its method and address, the token only where the API needs it, and JSON only with a body', async () => {
    const { api, fetchFn } = setup(() => json({ photoIds: [] }))
    await api.getPlace('a b', { limit: 24, cursor: undefined })
    await api.listPhotos('p1', { cursor: '' })
    await api.createUpload('p/1', { contentType: 'image/heic', size: 1234 })
    await api.getUpload('u/1')
    await api.myPhotos(['ph1'])
    const sent = fetchFn.mock.calls.map(([url, init]) => {
      const headers = init.headers as Record<string, string>
      return [init.method, url, headers.Authorization ?? null, headers['Content-Type'] ?? null, init.body ?? null]
    })
    expect(sent).toEqual([
      ['GET', 'http://api.test/places/a%20b?limit=24', null, null, null],
      ['GET', 'http://api.test/places/p1/photos', null, null, null],
      ['POST', 'http://api.test/places/p%2F1/uploads', 'Bearer tok', 'application/json', '{"contentType":"image/heic","size":1234}'],
      ['GET', 'http://api.test/uploads/u%2F1', 'Bearer tok', null, null],
      ['GET', 'http://api.test/photos/mine?ids=ph1', 'Bearer tok', null, null],
    ])
    for (const [, init] of fetchFn.mock.calls) expect(init.headers).toMatchObject({ Accept: 'application/json' })
    // Any number of slashes at the end of the base address.
    const slashes = createApi({ baseUrl: 'http://api.test//', getToken: async () => null, fetch: fetchFn as never })
    await slashes.getPlace('p1')
    expect(fetchFn.mock.calls.at(-1)![0]).toBe('http://api.test/places/p1')
  })

  it('uses the browser fetch when none is given', async () => {
    const fetchFn = vi.fn(async () => json({ places: [] }))
    vi.stubGlobal('fetch', fetchFn)
    try {
      await expect(createApi({ baseUrl: 'http://api.test', getToken: async () => null }).nearbyPlaces({ lat: 1, lng: 2 })).resolves.toEqual({ places: [] })
      expect(fetchFn).toHaveBeenCalledWith('http://api.test/places?lat=1&lng=2', expect.objectContaining({ method: 'GET' }))
    } finally {
      vi.unstubAllGlobals()
    }
  })

  it('sends an Idempotency-Key with the create requests given one, and none otherwise', async () => {
    const { api, fetchFn } = setup(() => json({}))
    await api.createPlace({ name: 'Rose Park', type: 'park', lat: 1, lng: 2 }, 'key-1')
    await api.createUpload('p1', { contentType: 'image/jpeg', size: 1 }, 'key-2')
    await api.createPlace({ name: 'Rose Park', type: 'park', lat: 1, lng: 2 })
    const keys = fetchFn.mock.calls.map(([, init]) => (init.headers as Record<string, string>)['Idempotency-Key'] ?? null)
    expect(keys).toEqual(['key-1', 'key-2', null])
  })

  it("says when a daily allowance renews in the person's own time, and leaves short waits alone", async () => {
    const answer = (retryAfter: string) => () =>
      new Response(JSON.stringify({ message: '50 photos a day is the most one person may add: try again after 00:00 UTC' }), {
        status: 429,
        headers: { 'Content-Type': 'application/json', 'Retry-After': retryAfter },
      })
    const now = Date.UTC(2026, 11, 6, 22, 0)
    vi.useFakeTimers({ toFake: ['Date'], now })
    const err = await failure(setup(answer('7200')).api.getPlace('p1')).finally(() => vi.useRealTimers())
    const at = new Date(now + 7200 * 1000).toLocaleTimeString(undefined, { hour: 'numeric', minute: '2-digit' })
    expect(err.message).toBe(`50 photos a day is the most one person may add: try again after 00:00 UTC (${at} your time).`)
    expect((await failure(setup(answer('30')).api.getPlace('p1'))).message).toBe(
      '50 photos a day is the most one person may add: try again after 00:00 UTC.',
    )
  })

  it('a local time is said for a long wait only, as hours and minutes', () => {
    const now = Date.UTC(2026, 11, 6, 20, 30)
    const at = new Date(now + 3_600_000).toLocaleTimeString(undefined, { hour: 'numeric', minute: '2-digit' })
    expect(withLocalTime('Try again after 00:00 UTC.', 3600, now)).toBe(`Try again after 00:00 UTC (${at} your time).`)
    expect(withLocalTime('Try again after 00:00 UTC.', 59, now)).toBe('Try again after 00:00 UTC.')
  })

  it('says in words that a request sent before under the same key is still being answered', async () => {
    const answer = () => new Response(JSON.stringify({ message: 'a request with this Idempotency-Key is still being answered' }), { status: 409, headers: { 'Retry-After': '2' } })
    const err = await failure(setup(answer).api.createPlace({ name: 'Rose Park', type: 'park', lat: 1, lng: 2 }, 'key-1'))
    expect([err.status, err.message, err.retryAfterS]).toEqual([409, STILL_ANSWERING_MESSAGE, 2])
  })

  it('DELETE answered 204 resolves to undefined', async () => {
    const { api, fetchFn } = setup(() => new Response(null, { status: 204 }))
    await expect(api.deletePhoto('ph/1')).resolves.toBeUndefined()
    const [url, init] = fetchFn.mock.calls[0]!
    expect([init.method, url]).toEqual(['DELETE', 'http://api.test/photos/ph%2F1'])
    expect(init.headers).toMatchObject({ Authorization: 'Bearer tok' })
  })

  it('does not call an auth route when nobody is signed in', async () => {
    const { api, fetchFn } = setup(() => json({}), null)
    const err = await failure(api.getUpload('u1'))
    expect(err.status).toBe(401)
    expect(err.message).toBe('Please sign in first.')
    expect(err.problems).toEqual([])
    expect(fetchFn).not.toHaveBeenCalled()
  })
})

describe('api client errors become messages', () => {
  it('shows the API message of a 4xx', async () => {
    const { api } = setup(() => json({ message: 'A place needs a name.' }, 400))
    const err = await failure(api.createPlace({ name: '', type: 'park', lat: 0, lng: 0 }))
    expect(err.status).toBe(400)
    expect(err.message).toBe('A place needs a name.')
    expect(err.problems).toEqual([])
  })

  it("keeps a 400's refused fields, and only well-formed ones", async () => {
    const errors = [
      { field: 'name', problem: 'must not stack more than 4 combining marks' },
      { field: 3, problem: 'is not a field' },
      { field: 'address' },
      'name',
      null,
    ]
    const { api } = setup(() => json({ message: 'invalid request: name: must not stack…', errors }, 400))
    const err = await failure(api.createPlace({ name: 'x', type: 'park', lat: 0, lng: 0 }))
    expect(err.problems).toEqual([{ field: 'name', problem: 'must not stack more than 4 combining marks' }])
  })

  it("keeps the largest radius a search too wide near a pole can use, when it is a whole number of metres", async () => {
    const refusal = (largestRadius: unknown) => ({ message: 'the search area is too large here', largestRadius })
    const refused = async (body: unknown) => (await failure(setup(() => json(body, 400)).api.nearbyPlaces({ lat: 78, lng: 15 })))
    expect((await refused(refusal(39092))).largestRadius).toBe(39092)
    for (const odd of [0, -5, 12.5, '39092', null]) expect((await refused(refusal(odd))).largestRadius).toBeNull()
    expect((await refused({ message: 'no search can be centred this close to a pole' })).largestRadius).toBeNull()
  })

  it('keeps the place a new one would repeat (409), when it has an id, a name and a distance', async () => {
    const hyde = { placeId: 'hyde', name: 'Hyde Park', type: 'park', lat: 51.5, lng: -0.16, createdAt: '2026-05-01T00:00:00Z' }
    const refused = async (namesake: unknown) =>
      (await failure(setup(() => json({ message: 'already on the map', namesake }, 409)).api.createPlace({ name: 'Hyde Park', type: 'park', lat: 51.5, lng: -0.16 }))).namesake
    expect(await refused({ place: hyde, distanceM: 12.4 })).toEqual({ place: hyde, distanceM: 12.4 })
    for (const odd of [null, 'hyde', { place: hyde }, { place: { name: 'Hyde Park' }, distanceM: 1 }, { place: hyde, distanceM: '12' }]) {
      expect(await refused(odd)).toBeNull()
    }
  })

  it("words the API's messages as sentences", async () => {
    let { api } = setup(() => json({ message: 'photos are not accepted for places of type museum' }, 409))
    expect((await failure(api.createUpload('p1', { contentType: 'image/jpeg', size: 1 }))).message).toBe(
      'Photos are not accepted for places of type museum.',
    )
    ;({ api } = setup(() => json({ message: 'Wait a minute before adding more photos?' }, 429)))
    expect((await failure(api.getPlace('p1'))).message).toBe('Wait a minute before adding more photos?')
  })

  it('replaces bare gateway messages and 401s with plain words', async () => {
    let { api } = setup(() => json({ message: 'Unauthorized' }, 401))
    expect((await failure(api.getUpload('u1'))).message).toMatch(/sign in again/)
    ;({ api } = setup(() => json({ message: 'Internal Server Error' }, 500)))
    expect((await failure(api.getPlace('p1'))).message).toBe('The server had a problem (HTTP 500). Please try again.')
    ;({ api } = setup(() => json({ message: 'Too Many Requests' }, 429)))
    expect((await failure(api.getPlace('p1'))).message).toMatch(/Too many requests/)
  })

  it('words each status the API or its gateway answers without a usable message', () => {
    const words = (status: number, body: unknown = {}) => errorMessage(status, body)
    expect(words(400)).toBe('The request was not accepted.')
    expect(words(401, { message: 'The incoming token has expired' })).toBe(
      'Please sign in again: your sign-in is missing or has expired.',
    )
    expect(words(403, { message: 'Forbidden' })).toBe('You are not allowed to do that.')
    expect(words(404, { message: 'Not Found' })).toBe('Not found: it may have been deleted.')
    expect(words(409, null)).toBe('That conflicts with a change made meanwhile. Reload and try again.')
    expect(words(413)).toBe('That is too large.')
    expect(words(429, { message: ' too many requests\n' })).toBe('Too many requests. Please wait a moment and try again.')
    expect(words(418, { message: '   ' })).toBe('The request failed (HTTP 418).')
    expect(words(503, { message: 'Service Unavailable' })).toBe('The server had a problem (HTTP 503). Please try again.')
    expect(words(504, { message: 'Endpoint request timed out' })).toBe('The server had a problem (HTTP 504). Please try again.')
    expect(words(500)).toBe('The server had a problem (HTTP 500). Please try again.')
  })

  it("trims the API's message and ends it once", () => {
    expect(errorMessage(409, { message: '  place was deleted  ' })).toBe('Place was deleted.')
    expect(errorMessage(409, { message: 'version 1.2 is gone' })).toBe('Version 1.2 is gone.')
    expect(errorMessage(409, { message: 'Not now!' })).toBe('Not now!')
  })

  it('handles an error answered with a JSON null', async () => {
    const { api } = setup(() => json(null, 500))
    const err = await failure(api.getPlace('p1'))
    expect([err.status, err.message, err.problems]).toEqual([500, 'The server had a problem (HTTP 500). Please try again.', []])
  })

  it('handles non-JSON error bodies', async () => {
    const { api } = setup(() => new Response('<html>Bad Gateway</html>', { status: 502 }))
    const err = await failure(api.getPlace('p1'))
    expect(err.status).toBe(502)
    expect(err.message).toBe('The server had a problem (HTTP 502). Please try again.')
  })

  it('turns network errors into a connection message', async () => {
    const { api } = setup(() => {
      throw new TypeError('Failed to fetch')
    })
    const err = await failure(api.nearbyPlaces({ lat: 0, lng: 0 }))
    expect(err.status).toBe(0)
    expect(err.message).toBe(NETWORK_MESSAGE)
  })

  it('gives up after the timeout', async () => {
    const { api } = setup(
      (_url, init) =>
        new Promise<Response>((_resolve, reject) => {
          init.signal!.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')))
        }),
    )
    const err = await failure(api.getPlace('p1'))
    expect(err.status).toBe(0)
    expect(err.message).toBe(TIMEOUT_MESSAGE)
  })

  it('reports a 200 without JSON as unreadable', async () => {
    const { api } = setup(() => new Response('oops', { status: 200 }))
    expect((await failure(api.getPlace('p1'))).message).toMatch(/could not read/)
  })

  it('summarises validation details when there is no message', () => {
    const body = { detail: [{ loc: ['body', 'lat'], msg: 'Input should be less than or equal to 90' }] }
    expect(errorMessage(422, body)).toBe('Some of the values were not accepted. lat: Input should be less than or equal to 90')
    const many = {
      detail: [
        { loc: ['body', 'location', 'lat'], msg: 'Input should be a number' },
        { msg: 'Field required' },
        { loc: ['body', 'name'] },
        { loc: ['body', 'type'], msg: 'Input should be park' },
        { loc: ['body', 'address'], msg: 'String too long' },
      ],
    }
    expect(errorMessage(422, many)).toBe(
      'Some of the values were not accepted. location.lat: Input should be a number; Field required',
    )
    expect(errorMessage(422, { detail: [{ loc: ['body', 'lat'] }] })).toBe('Some of the values were not accepted.')
    expect(errorMessage(404, {})).toBe('Not found: it may have been deleted.')
    expect(errorMessage(403, { message: 'Only the owner can delete this photo.' })).toBe(
      'Only the owner can delete this photo.',
    )
  })
})
