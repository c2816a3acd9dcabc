import { describe, expect, it, vi } from 'vitest'
import { mount } from '@vue/test-utils'
import ConfigErrorScreen from '../src/components/ConfigErrorScreen.vue'
import { ConfigError, loadConfig, parseConfig } from '../src/lib/config'
import shipped from '../public/config.json'
import deployed from './fixtures/deployed-config.json'

const valid = {
  apiUrl: 'https://abc.execute-api.eu-west-1.amazonaws.com/',
  auth: { authority: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_X', clientId: 'abc123' },
  map: { tileUrl: '', center: [47.37, 8.54], zoom: 14 },
  placeTypes: ['restaurant', 'cafe', 'bar'],
}

function problemsOf(raw: unknown): string[] {
  try {
    parseConfig(raw)
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError)
    return (err as ConfigError).problems
  }
  throw new Error('expected parseConfig to throw')
}

function response(body: string, status = 200): Response {
  return new Response(body, { status, headers: { 'Content-Type': 'application/json' } })
}

describe('parseConfig', () => {
  it('accepts a minimal config and fills in the defaults', () => {
    const cfg = parseConfig(valid)
    expect(cfg.apiUrl).toBe('https://abc.execute-api.eu-west-1.amazonaws.com') // no trailing slash
    expect(cfg.auth.scope).toBe('openid profile email')
    expect(cfg.auth.redirectPath).toBe('/callback')
    expect(cfg.map).toEqual({ tileUrl: '', attribution: '', center: [47.37, 8.54], zoom: 14 })
    expect(cfg.placeTypes).toEqual(['restaurant', 'cafe', 'bar'])
    expect(cfg.title).toBe('Happy Path')
  })

  it('accepts what scripts/web_config.py writes for a deployed Cognito stack', () => {
    // tests/unit/test_web_config.py checks that the script writes exactly this file.
    const cfg = parseConfig(deployed)
    expect(cfg.apiUrl).toBe('https://abc123.execute-api.eu-west-1.amazonaws.com')
    expect(cfg.auth.authority).toBe('https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC')
    expect(cfg.auth.logoutUrl).toBe(deployed.auth.logoutUrl)
    expect(cfg.map.tileUrl).toBe('https://tile.openstreetmap.org/{z}/{x}/{y}.png')
    expect(cfg.placeTypes).toEqual(['park'])
  })

  it('the shipped public/config.json is valid and has no tiles', () => {
    const cfg = parseConfig(shipped)
    expect(cfg.placeTypes).toEqual(['park'])
    expect(cfg.map.tileUrl).toBe('')
    expect(cfg.auth.redirectPath).toBe('/callback')
  })

  it('accepts a same-origin API path and a tile URL template', () => {
    const cfg = parseConfig({ ...valid, apiUrl: '/api', map: { ...valid.map, tileUrl: 'https://t/{z}/{x}/{y}.png' } })
    expect(cfg.apiUrl).toBe('/api')
    expect(cfg.map.tileUrl).toBe('https://t/{z}/{x}/{y}.png')
  })

  it('lists every problem at once', () => {
    const problems = problemsOf({
      apiUrl: 'ftp://nope',
      auth: { authority: 'not a url', clientId: '', scope: 'profile' },
      map: { center: [200, 8], zoom: 0, tileUrl: 'https://tiles/no-placeholders.png' },
      placeTypes: [],
      title: '',
    })
    expect(problems).toHaveLength(9)
    expect(problems.join('\n')).toMatch(/apiUrl/)
    expect(problems.join('\n')).toMatch(/auth\.authority/)
    expect(problems.join('\n')).toMatch(/auth\.clientId/)
    expect(problems.join('\n')).toMatch(/auth\.scope.*openid/)
    expect(problems.join('\n')).toMatch(/map\.center/)
    expect(problems.join('\n')).toMatch(/map\.zoom/)
    expect(problems.join('\n')).toMatch(/map\.tileUrl/)
    expect(problems.join('\n')).toMatch(/placeTypes/)
    expect(problems.join('\n')).toMatch(/title/)
  })

  it('refuses each malformed value with a problem about that value only', () => {
    const auth = valid.auth
    const map = valid.map
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ apiUrl: 5 }, /"apiUrl"/],
      [{ apiUrl: 'api/v1' }, /"apiUrl"/],
      [{ auth: { ...auth, clientId: '   ' } }, /"auth\.clientId"/],
      [{ auth: { ...auth, scope: 7 } }, /"auth\.scope"/],
      [{ auth: { ...auth, redirectPath: '/' } }, /"auth\.redirectPath"/],
      [{ auth: { ...auth, redirectPath: 'callback' } }, /"auth\.redirectPath"/],
      [{ auth: { ...auth, redirectPath: '/callback?next=1' } }, /"auth\.redirectPath"/],
      [{ auth: { ...auth, redirectPath: 5 } }, /"auth\.redirectPath"/],
      [{ auth: { ...auth, logoutUrl: 'javascript:alert(1)' } }, /"auth\.logoutUrl"/],
      [{ auth: { ...auth, logoutUrl: 5 } }, /"auth\.logoutUrl"/],
      [{ auth: { ...auth, audience: 5 } }, /"auth\.audience"/],
      [{ auth: { ...auth, audience: '  ' } }, /"auth\.audience"/],
      [{ map: { ...map, tileUrl: 3 } }, /"map\.tileUrl" must be a string/],
      [{ map: { ...map, tileUrl: 'https://t/{z}/{x}.png' } }, /"map\.tileUrl" must contain/],
      [{ map: { ...map, attribution: 5 } }, /"map\.attribution"/],
      [{ map: { ...map, center: [47] } }, /"map\.center"/],
      [{ map: { ...map, center: 'Zurich' } }, /"map\.center"/],
      [{ map: { ...map, center: ['47', 8] } }, /"map\.center"/],
      [{ map: { ...map, center: [47, '8'] } }, /"map\.center"/],
      [{ map: { ...map, center: [47, Infinity] } }, /"map\.center"/],
      [{ map: { ...map, center: [-90.5, 8] } }, /"map\.center"/],
      [{ map: { ...map, center: [47, -180.5] } }, /"map\.center"/],
      [{ map: { ...map, zoom: 21 } }, /"map\.zoom"/],
      [{ map: { ...map, zoom: '14' } }, /"map\.zoom"/],
      [{ placeTypes: ['park', 'Bad'] }, /"placeTypes"/],
      [{ placeTypes: ['xpark1'] }, /"placeTypes"/],
      [{ placeTypes: ['1park'] }, /"placeTypes"/],
      [{ placeTypes: [3] }, /"placeTypes"/],
      [{ title: '  ' }, /"title"/],
    ]
    for (const [change, problem] of cases) {
      expect([change, problemsOf({ ...valid, ...change })]).toEqual([change, [expect.stringMatching(problem)]])
    }
  })

  it('takes the edge values, optional fields and trims trailing slashes', () => {
    const cfg = parseConfig({
      ...valid,
      apiUrl: 'https://api.test///',
      auth: { ...valid.auth, scope: 'profile\topenid', redirectPath: '/auth/done', logoutUrl: '', audience: '' },
      map: { tileUrl: '', center: [-90, 180], zoom: 1, attribution: '© OpenStreetMap' },
      placeTypes: ['ice_cream-shop'],
      title: 'Cafés',
    })
    expect(cfg.apiUrl).toBe('https://api.test')
    expect(cfg.auth).toEqual({ ...valid.auth, scope: 'profile\topenid', redirectPath: '/auth/done' })
    expect(cfg.map).toEqual({ tileUrl: '', center: [-90, 180], zoom: 1, attribution: '© OpenStreetMap' })
    expect(cfg.placeTypes).toEqual(['ice_cream-shop'])
    expect(cfg.title).toBe('Cafés')
    expect(parseConfig({ ...valid, auth: { ...valid.auth, audience: 'https://api.test' } }).auth.audience).toBe('https://api.test')
    expect(parseConfig({ ...valid, map: { ...valid.map, center: [90, -180], zoom: 20 } }).map).toMatchObject({ center: [90, -180], zoom: 20 })
  })

  it('counts the problems in its message', () => {
    const count = (raw: unknown) => {
      try {
        parseConfig(raw)
      } catch (err) {
        return (err as ConfigError).message
      }
    }
    expect(count({ ...valid, title: '' })).toBe('config.json has 1 problem.')
    expect(count({ ...valid, title: '', placeTypes: [] })).toBe('config.json has 2 problems.')
    expect(count('x')).toBe('config.json must contain a JSON object.')
  })

  it('rejects missing sections and non-objects', () => {
    expect(problemsOf({ apiUrl: 'http://x' })).toEqual([
      expect.stringMatching(/"auth"/),
      expect.stringMatching(/"map"/),
      expect.stringMatching(/"placeTypes"/),
    ])
    expect(() => parseConfig(['a'])).toThrow(ConfigError)
    expect(problemsOf({ ...valid, placeTypes: ['park', 'park'] })).toEqual([expect.stringMatching(/distinct/)])
  })
})

describe('loadConfig', () => {
  it('fetches config.json without cache and validates it', async () => {
    const fetchFn = vi.fn(async () => response(JSON.stringify(valid)))
    const cfg = await loadConfig('/config.json', fetchFn)
    expect(cfg.auth.clientId).toBe('abc123')
    expect(fetchFn).toHaveBeenCalledWith('/config.json', { cache: 'no-store', headers: { Accept: 'application/json' } })
  })

  it('reports a missing file', async () => {
    const err = await loadConfig('/config.json', async () => response('not found', 404)).catch((e) => e)
    expect(err).toBeInstanceOf(ConfigError)
    expect(err.message).toBe('Could not load /config.json (HTTP 404).')
    expect(err.problems).toEqual(['put a config.json next to index.html (see public/config.json for the shape)'])
  })

  it('reports invalid JSON', async () => {
    const err = await loadConfig('/config.json', async () => response('{"apiUrl": ')).catch((e) => e)
    expect(err).toBeInstanceOf(ConfigError)
    expect(err.message).toBe('/config.json is not valid JSON.')
    expect(err.problems).toEqual([expect.stringMatching(/JSON/)])
  })

  it('reports a network failure', async () => {
    const err = await loadConfig('/config.json', async () => {
      throw new TypeError('Failed to fetch')
    }).catch((e) => e)
    expect(err).toBeInstanceOf(ConfigError)
    expect(err.message).toContain('Failed to fetch')
    expect([err.unreachable, err.problems]).toEqual([true, []])
  })

  it('takes a server failure for an unreachable file, and a missing or wrong file for a file to fix', async () => {
    const failing = await loadConfig('/config.json', async () => response('bad gateway', 502)).catch((e) => e)
    expect([failing.message, failing.unreachable]).toEqual(['Could not load /config.json (HTTP 502).', true])
    const missing = await loadConfig('/config.json', async () => response('not found', 404)).catch((e) => e)
    expect(missing.unreachable).toBe(false)
    const wrong = await loadConfig('/config.json', async () => response('{"apiUrl": 3}')).catch((e) => e)
    expect(wrong.unreachable).toBe(false)
  })

  it('reports an invalid config with its problems', async () => {
    const err = await loadConfig('/config.json', async () => response('{"apiUrl": 3}')).catch((e) => e)
    expect(err).toBeInstanceOf(ConfigError)
    expect(err.problems.length).toBeGreaterThanOrEqual(4)
  })
})

describe('ConfigErrorScreen', () => {
  it('shows the message and each problem in an alert', () => {
    const wrapper = mount(ConfigErrorScreen, {
      props: { message: 'config.json has 2 problems.', problems: ['"apiUrl" is bad', '"map" is bad'] },
    })
    const alert = wrapper.get('[role="alert"]')
    expect(alert.get('h1').text()).toBe('Happy Path cannot start')
    expect(alert.text()).toContain('config.json has 2 problems.')
    expect(alert.findAll('li').map((li) => li.text())).toEqual(['"apiUrl" is bad', '"map" is bad'])
  })

  it('says an unreachable file is a connection problem, and starts the app once the connection is back', async () => {
    const reload = vi.spyOn(window.location, 'reload').mockImplementation(() => {})
    const wrapper = mount(ConfigErrorScreen, {
      props: { message: 'Could not load /config.json: Failed to fetch.', problems: [], unreachable: true },
    })
    const alert = wrapper.get('[role="alert"]')
    expect(alert.get('h1').text()).toBe('Happy Path could not load')
    expect(alert.text()).toContain('Check your connection: the app tries again by itself.')
    expect(alert.text()).not.toContain('Fix that file')
    window.dispatchEvent(new Event('online'))
    expect(reload).toHaveBeenCalledOnce()
    wrapper.unmount()
    window.dispatchEvent(new Event('online')) // gone with the screen
    expect(reload).toHaveBeenCalledOnce()
    reload.mockRestore()
  })

  it('tries again after 30 s while the browser says it is online (a failing server fires no online event)', async () => {
    vi.useFakeTimers()
    const reload = vi.spyOn(window.location, 'reload').mockImplementation(() => {})
    const props = { message: 'Could not load /config.json (HTTP 503).', problems: [], unreachable: true }
    const wrapper = mount(ConfigErrorScreen, { props })
    vi.advanceTimersByTime(29_000)
    expect(reload).not.toHaveBeenCalled()
    vi.advanceTimersByTime(1_000)
    expect(reload).toHaveBeenCalledOnce()
    wrapper.unmount()
    const fixable = mount(ConfigErrorScreen, { props: { message: 'config.json is missing.', problems: [] } })
    vi.advanceTimersByTime(60_000)
    expect(reload).toHaveBeenCalledOnce() // a file to fix: loading it again would show the same
    fixable.unmount()
    reload.mockRestore()
    vi.useRealTimers()
  })

  it('reloads the app on Reload, to read the fixed file', async () => {
    const reload = vi.spyOn(window.location, 'reload').mockImplementation(() => {})
    const wrapper = mount(ConfigErrorScreen, { props: { message: 'config.json is missing.', problems: [] } })
    await wrapper.get('button').trigger('click')
    expect(reload).toHaveBeenCalledOnce()
  })
})
