/** The one module that talks to the Happy Path HTTP API. Every failure becomes an ApiError with a plain message. */

export interface Place {
  placeId: string
  name: string
  type: string
  lat: number
  lng: number
  address?: string | null
  createdAt: string
}

export interface Rendition {
  width: number
  height: number
  jpeg: string
  webp: string
}

export interface Photo {
  photoId: string
  placeId: string
  publishedAt: string
  width: number
  height: number
  renditions: { tile: Rendition; scaled: Rendition }
}

export interface NearbyPlace {
  place: Place
  distanceM: number
}

export interface PhotoPage {
  photos: Photo[]
  nextCursor: string | null
}

export interface PlaceDetail extends PhotoPage {
  place: Place
  /** False: photos of this kind of place are not published, and the API refuses upload requests (409). */
  takesPhotos: boolean
}

/** The most photo ids GET /photos/mine takes at once. */
export const MY_PHOTOS_PER_REQUEST = 100

export type UploadContentType = 'image/jpeg' | 'image/png' | 'image/heic' | 'image/heif'

export interface UploadForm {
  uploadId: string
  url: string
  fields: Record<string, string>
  expiresAt: number
  maxBytes: number
}

export type UploadStatus = 'PENDING_UPLOAD' | 'PROCESSING' | 'PROCESSED' | 'REJECTED' | 'FAILED' | 'EXPIRED'

export interface UploadView {
  uploadId: string
  placeId: string
  status: UploadStatus
  reason: string | null
  reasonDetail: string | null
  createdAt: string
  updatedAt: string
  photo: Photo | null
}

export interface NewPlace {
  name: string
  type: string
  lat: number
  lng: number
  address?: string
  /** Add it although a place of its type and name is near (a 409 names that one): it is another place. */
  allowNamesake?: boolean
}

/** A request field the API refused, and why (a 400 answer lists them in `errors`). */
export interface FieldProblem {
  field: string
  problem: string
}

/** What an error answer may say besides its message. */
export interface ErrorDetails {
  /** The refused fields of a 400, for a form to show each problem beside its field. */
  problems?: readonly FieldProblem[]
  /** A nearby search too wide this close to a pole: the largest radius (m) the API can search there. */
  largestRadius?: number | null
  /** A new place refused (409) as one already on the map: a place of its type and name, this near. */
  namesake?: NearbyPlace | null
  /** The answer's Retry-After, in seconds (a 429 or 503): when asking again may be answered. */
  retryAfterS?: number | null
}

export class ApiError extends Error {
  /** HTTP status; 0 for network errors and timeouts. */
  readonly status: number
  readonly problems: readonly FieldProblem[]
  readonly largestRadius: number | null
  readonly namesake: NearbyPlace | null
  readonly retryAfterS: number | null

  constructor(status: number, message: string, details: ErrorDetails = {}) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.problems = details.problems ?? []
    this.largestRadius = details.largestRadius ?? null
    this.namesake = details.namesake ?? null
    this.retryAfterS = details.retryAfterS ?? null
  }

  /** A request sent before under the same Idempotency-Key is still being answered: ask again after Retry-After. */
  get stillAnswering(): boolean {
    return isStillAnswering(this.status, this.retryAfterS)
  }
}

/** A 409 with Retry-After: the API's answer to a request whose Idempotency-Key's first request is not answered yet. */
function isStillAnswering(status: number, retryAfterS: number | null): boolean {
  return status === 409 && retryAfterS !== null
}

/** The details of an error answer's body, each kept only when well-formed. */
export function errorDetails(body: unknown): ErrorDetails {
  return { problems: fieldProblems(body), largestRadius: largestRadius(body), namesake: namesake(body) }
}

function field(body: unknown, name: string): unknown {
  return typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[name] : undefined
}

/** The `largestRadius` of an error answer: a positive whole number of metres, or null. */
export function largestRadius(body: unknown): number | null {
  const value = field(body, 'largestRadius')
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 ? value : null
}

/** The `namesake` of an error answer: a place with an id and a name, and its distance; or null. */
export function namesake(body: unknown): NearbyPlace | null {
  const value = field(body, 'namesake')
  const place = field(value, 'place')
  const distance = field(value, 'distanceM')
  const named = typeof field(place, 'placeId') === 'string' && typeof field(place, 'name') === 'string'
  return named && typeof distance === 'number' && Number.isFinite(distance) ? (value as NearbyPlace) : null
}

/** The `errors` of an error answer ({"message", "errors": [{"field", "problem"}]}); none for other shapes. */
export function fieldProblems(body: unknown): FieldProblem[] {
  const errors = field(body, 'errors')
  if (!Array.isArray(errors)) return []
  return errors.filter(
    (e): e is FieldProblem => typeof e === 'object' && e !== null && typeof e.field === 'string' && typeof e.problem === 'string',
  )
}

export const NETWORK_MESSAGE = 'Could not reach the server. Check your connection and try again.'
export const TIMEOUT_MESSAGE = 'The server took too long to answer. Please try again.'

/** Generic words for a status, used when the body has no usable message (or a gateway's bare one). */
export function messageForStatus(status: number): string {
  switch (status) {
    case 400:
      return 'The request was not accepted.'
    case 401:
      return 'Please sign in again: your sign-in is missing or has expired.'
    case 403:
      return 'You are not allowed to do that.'
    case 404:
      return 'Not found: it may have been deleted.'
    case 409:
      return 'That conflicts with a change made meanwhile. Reload and try again.'
    case 413:
      return 'That is too large.'
    case 422:
      return 'Some of the values were not accepted.'
    case 429:
      return 'Too many requests. Please wait a moment and try again.'
    default:
      return status >= 500
        ? `The server had a problem (HTTP ${status}). Please try again.`
        : `The request failed (HTTP ${status}).`
  }
}

/** A wait this long is said as a time of day too. */
const LONG_WAIT_S = 60

/**
 * A 429 with a long Retry-After (a daily allowance used up, renewed at 00:00 UTC) also says when, in the person's
 * own time: "…: try again after 00:00 UTC (4:00 PM your time)."
 */
export function withLocalTime(message: string, retryAfterS: number, now: number = Date.now()): string {
  if (retryAfterS < LONG_WAIT_S) return message
  const at = new Date(now + retryAfterS * 1000).toLocaleTimeString(undefined, { hour: 'numeric', minute: '2-digit' })
  return `${message.replace(/\.$/, '')} (${at} your time).`
}

export const STILL_ANSWERING_MESSAGE = 'The same request, sent a moment ago, is still being answered. Try again in a moment.'

// Bare messages that API Gateway itself sends; our own words say more.
const GATEWAY_MESSAGES = new Set([
  'unauthorized',
  'forbidden',
  'not found',
  'too many requests',
  'internal server error',
  'service unavailable',
  'endpoint request timed out',
])

/** The API words its messages as API messages go ("photos are not accepted for…"); people read sentences. */
function asSentence(message: string): string {
  const capital = message.charAt(0).toUpperCase() + message.slice(1)
  return /[.!?…]$/.test(capital) ? capital : `${capital}.`
}

/** Turns an error response into words: the API's {"message"} when useful, else words for the status. */
export function errorMessage(status: number, body: unknown): string {
  if (status === 401) return messageForStatus(401)
  if (typeof body === 'object' && body !== null) {
    const b = body as { message?: unknown; detail?: unknown }
    if (typeof b.message === 'string' && b.message.trim() && !GATEWAY_MESSAGES.has(b.message.trim().toLowerCase())) {
      return asSentence(b.message.trim())
    }
    // Validation errors in the Powertools/pydantic shape: {"detail": [{"loc": [...], "msg": "..."}]}
    if (Array.isArray(b.detail) && b.detail.length > 0) {
      const parts = b.detail.slice(0, 3).map((d: { loc?: unknown[]; msg?: string }) => {
        const field = Array.isArray(d.loc) ? d.loc.filter((p) => p !== 'body').join('.') : ''
        return field && d.msg ? `${field}: ${d.msg}` : (d.msg ?? '')
      })
      const text = parts.filter(Boolean).join('; ')
      if (text) return `${messageForStatus(status)} ${text}`
    }
  }
  return messageForStatus(status)
}

export interface ApiOptions {
  baseUrl: string
  /** Returns the access token, or null when nobody is signed in. */
  getToken: () => Promise<string | null>
  fetch?: typeof fetch
  timeoutMs?: number
  /** The API refused the token it was sent (revoked, or signed by a key the issuer no longer uses). */
  onTokenRefused?: () => void
}

type Query = Record<string, string | number | null | undefined>

interface RequestOptions {
  query?: Query
  body?: unknown
  auth?: boolean
  /** Sent as Idempotency-Key: the same request sent again with it gets the first answer, not a second place or form. */
  idempotencyKey?: string
}

export function createApi(options: ApiOptions) {
  const fetchFn = options.fetch ?? ((...args: Parameters<typeof fetch>) => fetch(...args))
  const timeoutMs = options.timeoutMs ?? 20_000
  const base = options.baseUrl.replace(/\/+$/, '')

  function url(path: string, query?: Query): string {
    const params = new URLSearchParams()
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== null && value !== '') params.set(key, String(value))
    }
    const qs = params.toString()
    return `${base}${path}${qs ? `?${qs}` : ''}`
  }

  async function request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' }
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json'
    if (opts.idempotencyKey) headers['Idempotency-Key'] = opts.idempotencyKey
    if (opts.auth) {
      let token: string | null
      try {
        token = await options.getToken()
      } catch {
        throw new ApiError(0, NETWORK_MESSAGE) // renewing the sign-in needed the network
      }
      if (!token) throw new ApiError(401, 'Please sign in first.')
      headers.Authorization = `Bearer ${token}`
    }

    const controller = new AbortController()
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      controller.abort()
    }, timeoutMs)
    let response: Response
    try {
      response = await fetchFn(url(path, opts.query), {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: controller.signal,
      })
    } catch {
      throw new ApiError(0, timedOut ? TIMEOUT_MESSAGE : NETWORK_MESSAGE)
    } finally {
      clearTimeout(timer)
    }

    if (response.status === 204) return undefined as T
    const text = await response.text().catch(() => '')
    let body: unknown = undefined
    if (text) {
      try {
        body = JSON.parse(text)
      } catch {
        body = undefined
      }
    }
    if (response.status === 401 && opts.auth) options.onTokenRefused?.()
    if (!response.ok) {
      const retryAfter = Number(response.headers.get('Retry-After') ?? Number.NaN) // seconds; an HTTP date: ignored
      const retryAfterS = Number.isInteger(retryAfter) && retryAfter >= 0 ? retryAfter : null
      let message = isStillAnswering(response.status, retryAfterS) ? STILL_ANSWERING_MESSAGE : errorMessage(response.status, body)
      if (response.status === 429 && retryAfterS !== null) message = withLocalTime(message, retryAfterS)
      throw new ApiError(response.status, message, { ...errorDetails(body), retryAfterS })
    }
    if (body === undefined) {
      throw new ApiError(response.status, 'The server sent an answer the app could not read.')
    }
    return body as T
  }

  const enc = encodeURIComponent

  return {
    nearbyPlaces(q: { lat: number; lng: number; radius?: number; limit?: number }) {
      return request<{ places: NearbyPlace[] }>('GET', '/places', { query: q })
    },
    /** `idempotencyKey`: the same for the same place sent again (after an answer that did not come). */
    createPlace(place: NewPlace, idempotencyKey?: string) {
      return request<Place>('POST', '/places', { body: place, auth: true, idempotencyKey })
    },
    getPlace(placeId: string, q: { limit?: number; cursor?: string | null } = {}) {
      return request<PlaceDetail>('GET', `/places/${enc(placeId)}`, { query: q })
    },
    listPhotos(placeId: string, q: { limit?: number; cursor?: string | null } = {}) {
      return request<PhotoPage>('GET', `/places/${enc(placeId)}/photos`, { query: q })
    },
    /** One published photo, public: what a shared link to a photo on a later page needs. */
    getPhoto(photoId: string) {
      return request<Photo>('GET', `/photos/${enc(photoId)}`)
    },
    /** `idempotencyKey`: the same for the same form asked for again (after an answer that did not come). */
    createUpload(placeId: string, body: { contentType: UploadContentType; size: number }, idempotencyKey?: string) {
      return request<UploadForm>('POST', `/places/${enc(placeId)}/uploads`, { body, auth: true, idempotencyKey })
    },
    getUpload(uploadId: string) {
      return request<UploadView>('GET', `/uploads/${enc(uploadId)}`, { auth: true })
    },
    /** Which of these photos the signed-in user published (public answers do not say whose a photo is). */
    async myPhotos(photoIds: string[]): Promise<string[]> {
      const mine: string[] = []
      for (let i = 0; i < photoIds.length; i += MY_PHOTOS_PER_REQUEST) {
        const ids = photoIds.slice(i, i + MY_PHOTOS_PER_REQUEST).join(',')
        mine.push(...(await request<{ photoIds: string[] }>('GET', '/photos/mine', { query: { ids }, auth: true })).photoIds)
      }
      return mine
    },
    deletePhoto(photoId: string) {
      return request<void>('DELETE', `/photos/${enc(photoId)}`, { auth: true })
    },
  }
}

export type Api = ReturnType<typeof createApi>
