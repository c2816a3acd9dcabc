/**
 * Runtime configuration. The app fetches `config.json` (served next to index.html) before it starts,
 * so one build runs against the local runtime or any deployed stack: only the file differs.
 */

export interface AuthConfig {
  /** OIDC issuer URL (Cognito: https://cognito-idp.<region>.amazonaws.com/<poolId>; local: the local issuer). */
  authority: string
  clientId: string
  /** Space-separated; must include `openid`. Default "openid profile email". */
  scope: string
  /** Path of this app that the issuer redirects back to after sign-in. Default "/callback". */
  redirectPath: string
  /**
   * Optional. For issuers without an `end_session_endpoint` (Cognito): the logout URL to open after
   * the local sign-out, e.g. "https://<domain>/logout?client_id=<id>&logout_uri=https%3A%2F%2Fapp.example%2F".
   */
  logoutUrl?: string
  /**
   * Optional. The audience to ask the issuer for, when the API's (the `aud` its access tokens must carry) is
   * not the client id: Auth0 issues a token for an API only when asked with `audience`.
   */
  audience?: string
}

export interface MapConfig {
  /** Leaflet tile URL template with {z}/{x}/{y}; empty string = no tiles (markers on a plain background). */
  tileUrl: string
  attribution: string
  /** [latitude, longitude] used when the browser does not share its location. */
  center: [number, number]
  zoom: number
}

export interface AppConfig {
  /** Base URL of the HTTP API, absolute or a same-origin path such as "/api"; no trailing slash needed. */
  apiUrl: string
  auth: AuthConfig
  map: MapConfig
  /** Place types people can create: ["park"], or ["restaurant", "cafe", "bar"] after the pivot. */
  placeTypes: string[]
  title: string
}

export class ConfigError extends Error {
  readonly problems: string[]
  /** The file could not be fetched (no connection, or the server failing): nothing to fix in it, and
   * loading the page again may well work (a phone offline that restores a tab it had unloaded). */
  readonly unreachable: boolean

  constructor(message: string, problems: string[] = [], { unreachable = false } = {}) {
    super(message)
    this.name = 'ConfigError'
    this.problems = problems
    this.unreachable = unreachable
  }
}

type Obj = Record<string, unknown>

const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)
const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)

function isHttpUrl(v: string): boolean {
  try {
    const u = new URL(v)
    return u.protocol === 'http:' || u.protocol === 'https:'
  } catch {
    return false
  }
}

/** Checks a parsed config.json; lists every problem at once. Optional fields get their defaults. */
export function parseConfig(raw: unknown): AppConfig {
  const problems: string[] = []
  if (!isObject(raw)) {
    throw new ConfigError('config.json must contain a JSON object.', ['the file is not a JSON object'])
  }

  let apiUrl = ''
  if (typeof raw.apiUrl !== 'string' || !(isHttpUrl(raw.apiUrl) || raw.apiUrl.startsWith('/'))) {
    problems.push('"apiUrl" must be an http(s) URL (or a path starting with "/")')
  } else {
    apiUrl = raw.apiUrl.replace(/\/+$/, '')
  }

  const auth: AuthConfig = { authority: '', clientId: '', scope: 'openid profile email', redirectPath: '/callback' }
  if (!isObject(raw.auth)) {
    problems.push('"auth" must be an object with "authority" and "clientId"')
  } else {
    const a = raw.auth
    if (typeof a.authority !== 'string' || !isHttpUrl(a.authority)) {
      problems.push('"auth.authority" must be the http(s) URL of the OIDC issuer')
    } else {
      auth.authority = a.authority
    }
    if (typeof a.clientId !== 'string' || a.clientId.trim() === '') {
      problems.push('"auth.clientId" must be a non-empty string')
    } else {
      auth.clientId = a.clientId
    }
    if (a.scope !== undefined) {
      if (typeof a.scope !== 'string' || !a.scope.split(/\s+/).includes('openid')) {
        problems.push('"auth.scope" must be a space-separated string that includes "openid"')
      } else {
        auth.scope = a.scope
      }
    }
    if (a.redirectPath !== undefined) {
      if (typeof a.redirectPath !== 'string' || !/^\/[^?#]*$/.test(a.redirectPath) || a.redirectPath === '/') {
        problems.push('"auth.redirectPath" must be a path such as "/callback"')
      } else {
        auth.redirectPath = a.redirectPath
      }
    }
    if (a.logoutUrl !== undefined && a.logoutUrl !== '') {
      if (typeof a.logoutUrl !== 'string' || !isHttpUrl(a.logoutUrl)) {
        problems.push('"auth.logoutUrl" must be an http(s) URL when set')
      } else {
        auth.logoutUrl = a.logoutUrl
      }
    }
    if (a.audience !== undefined && a.audience !== '') {
      if (typeof a.audience !== 'string' || !a.audience.trim()) problems.push('"auth.audience" must be a non-empty string when set')
      else auth.audience = a.audience
    }
  }

  const map: MapConfig = { tileUrl: '', attribution: '', center: [0, 0], zoom: 13 }
  if (!isObject(raw.map)) {
    problems.push('"map" must be an object with "center" and "zoom"')
  } else {
    const m = raw.map
    if (m.tileUrl !== undefined) {
      if (typeof m.tileUrl !== 'string') {
        problems.push('"map.tileUrl" must be a string (empty for no tiles)')
      } else if (m.tileUrl !== '' && !['{z}', '{x}', '{y}'].every((p) => (m.tileUrl as string).includes(p))) {
        problems.push('"map.tileUrl" must contain {z}, {x} and {y} (or be empty for no tiles)')
      } else {
        map.tileUrl = m.tileUrl
      }
    }
    if (m.attribution !== undefined) {
      if (typeof m.attribution !== 'string') problems.push('"map.attribution" must be a string')
      else map.attribution = m.attribution
    }
    const c = m.center
    if (
      !Array.isArray(c) ||
      c.length !== 2 ||
      !isFiniteNumber(c[0]) ||
      !isFiniteNumber(c[1]) ||
      Math.abs(c[0]) > 90 ||
      Math.abs(c[1]) > 180
    ) {
      problems.push('"map.center" must be [latitude, longitude] with latitude in -90..90 and longitude in -180..180')
    } else {
      map.center = [c[0], c[1]]
    }
    if (m.zoom !== undefined) {
      if (!isFiniteNumber(m.zoom) || m.zoom < 1 || m.zoom > 20) problems.push('"map.zoom" must be a number from 1 to 20')
      else map.zoom = m.zoom
    }
  }

  let placeTypes: string[] = []
  const pt = raw.placeTypes
  if (
    !Array.isArray(pt) ||
    pt.length === 0 ||
    !pt.every((t) => typeof t === 'string' && /^[a-z][a-z_-]*$/.test(t)) ||
    new Set(pt).size !== pt.length
  ) {
    problems.push('"placeTypes" must be a non-empty list of distinct lower-case names, e.g. ["park"]')
  } else {
    placeTypes = pt as string[]
  }

  let title = 'Happy Path'
  if (raw.title !== undefined) {
    if (typeof raw.title !== 'string' || raw.title.trim() === '') problems.push('"title" must be a non-empty string')
    else title = raw.title
  }

  if (problems.length > 0) {
    throw new ConfigError(`config.json has ${problems.length} problem${problems.length > 1 ? 's' : ''}.`, problems)
  }
  return { apiUrl, auth, map, placeTypes, title }
}

/** Where the app finds config.json: next to index.html. */
export const CONFIG_URL = `${import.meta.env.BASE_URL}config.json`

/** Fetches and validates config.json; every failure becomes a ConfigError with a plain message. */
export async function loadConfig(
  url = CONFIG_URL,
  fetchFn: typeof fetch = (...args) => fetch(...args),
): Promise<AppConfig> {
  let response: Response
  try {
    response = await fetchFn(url, { cache: 'no-store', headers: { Accept: 'application/json' } })
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err)
    throw new ConfigError(`Could not load ${url}: ${detail}.`, [], { unreachable: true })
  }
  if (!response.ok) {
    // A 5xx is the server failing, not the file missing: nothing to put there, and loading again may work.
    const unreachable = response.status >= 500
    const problems = unreachable ? [] : ['put a config.json next to index.html (see public/config.json for the shape)']
    throw new ConfigError(`Could not load ${url} (HTTP ${response.status}).`, problems, { unreachable })
  }
  const text = await response.text()
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    throw new ConfigError(`${url} is not valid JSON.`, [err instanceof Error ? err.message : String(err)])
  }
  return parseConfig(raw)
}
