import { flushPromises, mount } from '@vue/test-utils'
import { defineComponent, h, nextTick, ref } from 'vue'
import { describe, expect, it, vi } from 'vitest'
import ErrorBoundary from '../src/components/ErrorBoundary.vue'
import NoticeArea from '../src/components/NoticeArea.vue'
import CallbackView from '../src/views/CallbackView.vue'
import NotFoundView from '../src/views/NotFoundView.vue'
import {
  INSECURE_PAGE_MESSAGE,
  SESSION_REFUSED_MESSAGE,
  SIGNED_OUT_KEY,
  createAuth,
  rememberSignOut,
  sessionRefusedHandler,
  takeSignOutReturn,
} from '../src/composables/useAuth'
import { ApiError, NETWORK_MESSAGE } from '../src/lib/api'
import { describeError, dismiss, notices, notify } from '../src/lib/notices'
import { formatDate, formatDistance, typeLabel, typesHeading } from '../src/lib/format'
import { fakeAuth, mountWith, testConfig, testRouter } from './helpers'

describe('ErrorBoundary', () => {
  it('shows a fallback with the error instead of a blank page, and can retry', async () => {
    const broken = ref(true)
    const Child = defineComponent({
      setup() {
        return () => {
          if (broken.value) throw new ApiError(500, 'The server had a problem (HTTP 500). Please try again.')
          return h('p', 'Recovered content')
        }
      },
    })
    vi.spyOn(console, 'error').mockImplementation(() => {})
    vi.spyOn(console, 'warn').mockImplementation(() => {})
    const { wrapper } = mountWith(defineComponent({ render: () => h(ErrorBoundary, null, { default: () => h(Child) }) }))
    await flushPromises()
    const alert = wrapper.get('[role="alert"]')
    expect(alert.text()).toContain('The server had a problem (HTTP 500). Please try again.')
    broken.value = false
    await alert.findAll('button').find((b) => b.text() === 'Try again')!.trigger('click')
    await flushPromises()
    expect(wrapper.find('[role="alert"]').exists()).toBe(false)
    expect(wrapper.text()).toContain('Recovered content')
  })
})

describe('ErrorBoundary on another page', () => {
  it('shows the new page instead of the last one\'s error', async () => {
    const broken = ref(true)
    const Child = defineComponent({
      setup() {
        return () => {
          if (broken.value) throw new ApiError(500, 'The server had a problem (HTTP 500). Please try again.')
          return h('p', 'Next page')
        }
      },
    })
    vi.spyOn(console, 'error').mockImplementation(() => {})
    vi.spyOn(console, 'warn').mockImplementation(() => {})
    const path = ref('/places/p1')
    const { wrapper } = mountWith(
      defineComponent({ render: () => h(ErrorBoundary, { resetKey: path.value }, { default: () => h(Child) }) }),
    )
    await flushPromises()
    expect(wrapper.find('[role="alert"]').exists()).toBe(true)
    broken.value = false
    path.value = '/'
    await flushPromises()
    expect(wrapper.find('[role="alert"]').exists()).toBe(false)
    expect(wrapper.text()).toBe('Next page')
  })
})

describe('notices', () => {
  it('shows errors as alerts, dedupes repeats and can be dismissed', async () => {
    notices.splice(0)
    const wrapper = mount(NoticeArea)
    notify('Could not reach the server.', 'error')
    notify('Could not reach the server.', 'error')
    notify('Photo deleted.')
    await flushPromises()
    expect(wrapper.findAll('[role="alert"]').map((n) => n.text())).toEqual([expect.stringContaining('Could not reach the server.')])
    expect(wrapper.findAll('[role="status"]')).toHaveLength(1)
    await wrapper.get('button[aria-label="Dismiss: Could not reach the server."]').trigger('click')
    expect(wrapper.findAll('[role="alert"]')).toHaveLength(0)
  })

  it('lets a confirmation go after 6 s, keeps errors until dismissed, and shows the latest four', () => {
    vi.useFakeTimers()
    try {
      notices.splice(0)
      const texts = () => notices.map((n) => `${n.kind}: ${n.text}`)
      notify('Saved.', 'error')
      notify('Saved.') // the same words as a confirmation are another notice
      const kept = notify('Could not delete.', 'error')
      expect(texts()).toEqual(['error: Saved.', 'info: Saved.', 'error: Could not delete.'])
      vi.advanceTimersByTime(5_999)
      expect(texts()).toHaveLength(3)
      vi.advanceTimersByTime(1)
      expect(texts()).toEqual(['error: Saved.', 'error: Could not delete.'])
      dismiss(-1) // already gone: nothing else goes
      dismiss(kept)
      expect(texts()).toEqual(['error: Saved.'])
      for (const n of [1, 2, 3, 4]) notify(`Problem ${n}`, 'error')
      expect(texts()).toEqual(['error: Problem 1', 'error: Problem 2', 'error: Problem 3', 'error: Problem 4'])
      vi.advanceTimersByTime(60_000)
      expect(texts()).toHaveLength(4)
    } finally {
      notices.splice(0)
      vi.useRealTimers()
    }
  })

  it('keeps a confirmation while the pointer or the focus is on the notices, and gives it its whole time after', async () => {
    vi.useFakeTimers()
    notices.splice(0)
    const wrapper = mount(NoticeArea, { attachTo: document.body })
    try {
      notify('Photo deleted.')
      await nextTick()
      const area = wrapper.get('.notices')
      vi.advanceTimersByTime(5_000)
      await area.trigger('mouseenter') // reading it, or reaching for its Dismiss
      vi.advanceTimersByTime(60_000)
      expect(notices.map((n) => n.text)).toEqual(['Photo deleted.'])
      await area.trigger('mouseleave')
      vi.advanceTimersByTime(5_999)
      expect(notices).toHaveLength(1)
      vi.advanceTimersByTime(1)
      expect(notices).toHaveLength(0)

      notify('You are signed out.')
      await nextTick()
      ;(wrapper.get('button').element as HTMLElement).focus()
      await area.trigger('mouseenter')
      await area.trigger('mouseleave') // the pointer left, the focus is still there: held
      vi.advanceTimersByTime(60_000)
      expect(notices).toHaveLength(1)
      ;(wrapper.get('button').element as HTMLElement).blur()
      await flushPromises()
      vi.advanceTimersByTime(6_000)
      expect(notices).toHaveLength(0)

      // Its focused Dismiss used: the next confirmation goes by itself (no focusout comes in every browser).
      notify('Could not delete.', 'error')
      await nextTick()
      ;(wrapper.get('button').element as HTMLElement).focus()
      await wrapper.get('button').trigger('click')
      await flushPromises()
      notify('Photo deleted.')
      vi.advanceTimersByTime(6_000)
      expect(notices).toHaveLength(0)
    } finally {
      wrapper.unmount()
      notices.splice(0)
      vi.useRealTimers()
    }
  })

  it('keeps their height clear when the page scrolls a focused control into view, so none hides under them', async () => {
    notices.splice(0)
    const watched: { element: Element; callback: ResizeObserverCallback }[] = []
    vi.stubGlobal(
      'ResizeObserver',
      class {
        constructor(private callback: ResizeObserverCallback) {}
        observe(element: Element) {
          watched.push({ element, callback: this.callback })
        }
        disconnect() {}
      },
    )
    const wrapper = mount(NoticeArea, { attachTo: document.body })
    const root = document.documentElement
    const area = wrapper.get('.notices').element
    expect(watched.map((w) => w.element)).toEqual([area])
    /** The browser lays the notices out at this height and tells the observer. */
    const resized = (height: number) => {
      Object.defineProperty(area, 'offsetHeight', { value: height, configurable: true })
      watched[0]!.callback([], {} as ResizeObserver)
    }
    resized(0)
    expect(root.style.scrollPaddingTop).toBe('')
    notify('The photo was not deleted.', 'error')
    await flushPromises()
    resized(126) // two lines at 200 % zoom
    expect(root.style.scrollPaddingTop).toBe('134px')
    resized(0)
    expect(root.style.scrollPaddingTop).toBe('')
    resized(62)
    wrapper.unmount()
    expect(root.style.scrollPaddingTop).toBe('')
    vi.unstubAllGlobals()
    notices.splice(0)
  })

  it('works in a browser without ResizeObserver', () => {
    vi.stubGlobal('ResizeObserver', undefined)
    try {
      const wrapper = mount(NoticeArea, { attachTo: document.body })
      expect(wrapper.get('.notices').attributes('aria-live')).toBe('polite')
      wrapper.unmount()
    } finally {
      vi.unstubAllGlobals()
    }
  })

  it('describes any thrown value in words, and logs technical detail instead of showing it', () => {
    const log = vi.spyOn(console, 'error').mockImplementation(() => {})
    expect(describeError(new ApiError(404, 'Place not found.'))).toBe('Place not found.')
    expect(describeError(new TypeError('Failed to fetch'))).toBe(NETWORK_MESSAGE)
    expect(log).not.toHaveBeenCalled()

    const bug = new TypeError("Cannot read properties of undefined (reading 'photoId')")
    expect(describeError(bug)).toBe('Something went wrong. Please try again.')
    expect(log).toHaveBeenCalledWith(bug)
    expect(describeError(undefined)).toBe('Something went wrong. Please try again.')
    expect(describeError(new Error('invalid_grant'), 'Sign-in did not complete.')).toBe('Sign-in did not complete.')
  })
})

describe('NotFoundView', () => {
  it('names itself in the window title', () => {
    const { wrapper } = mountWith(NotFoundView, {})
    expect(document.title).toBe('Page not found · Happy Path')
    wrapper.unmount()
    expect(document.title).toBe('Happy Path')
  })
})

describe('CallbackView', () => {
  async function callback(search: string, auth = fakeAuth(null)) {
    window.history.replaceState({}, '', `/callback${search}`)
    const router = testRouter()
    const { wrapper } = mountWith(CallbackView, { auth, router })
    await flushPromises()
    return wrapper
  }

  it("shows plain words, not the issuer's error code, and logs the code", async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const wrapper = await callback('?error=access_denied&error_description=User%20cancelled%20login')
    const alert = wrapper.get('[role="alert"]')
    expect(alert.text()).toBe('Sign-in was cancelled or expired. Please try again.')
    expect(wrapper.text()).not.toContain('access_denied')
    expect(wrapper.text()).not.toContain('User cancelled login')
    expect(warn).toHaveBeenCalledWith(expect.any(String), 'access_denied', 'User cancelled login')
    expect(document.title).toBe('Sign-in did not work · Happy Path') // the tab and screen readers say so too
    wrapper.unmount()
    expect(document.title).toBe('Happy Path')
  })

  it('says it is signing in while it is, and goes to the start page when the sign-in had worked already', async () => {
    const auth = fakeAuth(null)
    let finish: (to: string) => void = () => {}
    vi.mocked(auth.handleCallback).mockImplementation(() => new Promise((resolve) => (finish = resolve)))
    const waiting = await callback('?code=abc&state=xyz', auth)
    expect(waiting.get('h1').text()).toBe('Signing you in…')
    expect(waiting.find('[role="alert"]').exists()).toBe(false)
    finish('/places/p7')
    await flushPromises()

    // A reload of the callback page replays the used code; the person is signed in already.
    const signedIn = fakeAuth({ sub: 'me', name: 'Me' })
    vi.mocked(signedIn.handleCallback).mockRejectedValue(new Error('No matching state found in storage'))
    const router = testRouter()
    await router.push('/places/p1') // anywhere but the start page
    window.history.replaceState({}, '', '/callback?code=abc&state=xyz')
    const { wrapper } = mountWith(CallbackView, { auth: signedIn, router })
    await flushPromises()
    // Back where the sign-in went (Back from there led to the issuer's page, whose sign-in came here again).
    expect(router.currentRoute.value.fullPath).toBe('/places/p7')
    expect(wrapper.find('[role="alert"]').exists()).toBe(false)
    // Told who is signed in: Back to the issuer's page and another account typed there changes nothing.
    expect(notices.map((n) => n.text)).toContain('You are signed in as Me. To use another account, sign out first.')
    // With no sign-in of its own in this tab before: the start page.
    sessionStorage.removeItem('happypath.signedInTo')
    window.history.replaceState({}, '', '/callback?code=abc&state=xyz')
    mountWith(CallbackView, { auth: signedIn, router })
    await flushPromises()
    expect(router.currentRoute.value.fullPath).toBe('/')
    window.history.replaceState({}, '', '/')
  })

  it("shows plain words when the library cannot complete the sign-in", async () => {
    const log = vi.spyOn(console, 'error').mockImplementation(() => {})
    const auth = fakeAuth(null)
    vi.mocked(auth.handleCallback).mockRejectedValue(new Error('No matching state found in storage'))
    const wrapper = await callback('?code=abc&state=xyz', auth)
    expect(wrapper.get('[role="alert"]').text()).toBe('Sign-in was cancelled or expired. Please try again.')
    expect(log).toHaveBeenCalled()
    window.history.replaceState({}, '', '/')
  })
})

describe('format', () => {
  it('formats distances and headings', () => {
    expect(formatDistance(0)).toBe('0 m')
    expect(formatDistance(1234)).toBe('1.2 km')
    expect(formatDistance(5000)).toBe('5 km')
    expect(formatDistance(25_400)).toBe('25 km')
    expect([994, 995, 1000, 9960, Number.NaN].map(formatDistance)).toEqual(['990 m', '1 km', '1 km', '10 km', ''])
    expect(typeLabel('museum')).toBe('Museum')
    expect(typeLabel('ice_cream-shop')).toBe('Ice cream shop')
    expect(typesHeading(['beach', 'ice_cream'])).toBe('Beaches and ice creams')
    expect(typesHeading([])).toBe('Places')
    expect(formatDate('not a date')).toBe('')
    expect(typesHeading(['park'])).toBe('Parks')
    expect(typesHeading(['restaurant', 'cafe', 'bar'])).toBe('Restaurants, cafes and bars')
  })
})

describe('createAuth (OIDC code + PKCE via oidc-client-ts)', () => {
  function fakeOidc(stored: unknown) {
    const settings: Record<string, unknown>[] = []
    const manager = {
      events: { addUserLoaded: vi.fn(), addUserUnloaded: vi.fn(), addSilentRenewError: vi.fn() },
      getUser: vi.fn(async () => stored),
      signinRedirect: vi.fn(async () => {}),
      signinRedirectCallback: vi.fn(async () => ({
        expired: false,
        access_token: 'at-2',
        profile: { sub: 'sub-2', email: 'b@example.com' },
        state: { returnTo: '/places/p1' },
      })),
      signinSilent: vi.fn(async () => null),
      removeUser: vi.fn(async () => {}),
      signoutRedirect: vi.fn(async () => {}),
      metadataService: { getEndSessionEndpoint: vi.fn(async () => undefined) },
    }
    class UserManager {
      constructor(s: Record<string, unknown>) {
        settings.push(s)
        return manager as unknown as UserManager
      }
    }
    class WebStorageStateStore {}
    class ErrorResponse extends Error {}
    const load = async () => ({ UserManager, WebStorageStateStore, ErrorResponse }) as never
    return { load, manager, settings, ErrorResponse }
  }

  const location = { origin: 'http://app.test', assign: vi.fn() }

  it('configures the code flow from config.json and exposes the stored user and token', async () => {
    const stored = { expired: false, access_token: 'at-1', profile: { sub: 'sub-1', name: 'Ann' } }
    const { load, settings } = fakeOidc(stored)
    const auth = createAuth(testConfig, { loadOidc: load, location: location as never })
    await expect(auth.getAccessToken()).resolves.toBe('at-1')
    expect(auth.user.value).toEqual({ sub: 'sub-1', name: 'Ann' })
    expect(auth.ready.value).toBe(true)
    expect(settings[0]).toMatchObject({
      authority: 'http://issuer.test',
      client_id: 'client',
      redirect_uri: 'http://app.test/callback',
      response_type: 'code',
      scope: 'openid profile email',
    })
    expect(settings[0]).not.toHaveProperty('extraQueryParams') // Cognito's tokens carry the client id

    // Another issuer whose access tokens name the API (Auth0): the sign-in asks for that audience.
    const other = fakeOidc(stored)
    const withAudience = { ...testConfig, auth: { ...testConfig.auth, audience: 'https://api.happypath.example' } }
    await createAuth(withAudience, { loadOidc: other.load, location: location as never }).getAccessToken()
    expect(other.settings[0]).toMatchObject({ extraQueryParams: { audience: 'https://api.happypath.example' } })
  })

  it('follows a sign-out or a sign-in made in another tab (the session is shared), and says a sign-out', async () => {
    const ann = { expired: false, access_token: 'at-1', profile: { sub: 'sub-1', name: 'Ann' } }
    const { load, manager } = fakeOidc(ann)
    const events = new EventTarget()
    const signedOutElsewhere = vi.fn()
    const auth = createAuth(testConfig, { loadOidc: load, location: location as never, events, onSignedOutElsewhere: signedOutElsewhere })
    await flushPromises()
    expect(auth.user.value).toEqual({ sub: 'sub-1', name: 'Ann' })
    const changed = (key: string | null) => events.dispatchEvent(new StorageEvent('storage', { key }))

    manager.getUser.mockResolvedValue(null) // signed out in another tab
    changed('happypath.showMap') // not the session: not read
    await flushPromises()
    expect([auth.user.value, manager.getUser.mock.calls.length]).toEqual([{ sub: 'sub-1', name: 'Ann' }, 1])
    changed('oidc.user:http://issuer.test:client')
    await flushPromises()
    expect(auth.user.value).toBeNull()
    expect(signedOutElsewhere).toHaveBeenCalledOnce()

    manager.getUser.mockResolvedValue({ ...ann, profile: { sub: 'sub-2', name: 'Bo' } }) // and in again, as someone else
    changed('oidc.user:http://issuer.test:client')
    await flushPromises()
    expect(auth.user.value).toEqual({ sub: 'sub-2', name: 'Bo' })
    manager.getUser.mockResolvedValue({ ...ann, expired: true }) // a token that expired: renewed when needed
    changed(null) // localStorage cleared: read again too
    await flushPromises()
    expect(auth.user.value).toEqual({ sub: 'sub-2', name: 'Bo' })
    expect(signedOutElsewhere).toHaveBeenCalledOnce()
  })

  it('explains, instead of failing inside the library, that a plain-http page cannot sign in', async () => {
    // A phone opening the local app at http://<laptop's address>: no Web Crypto, so no PKCE challenge.
    const { load, manager } = fakeOidc(null)
    const auth = createAuth(testConfig, { loadOidc: load, location: location as never, session: window.sessionStorage, secureContext: false })
    const refused = await auth.signIn('/places/p1').catch((err: unknown) => err)
    expect(describeError(refused)).toBe(INSECURE_PAGE_MESSAGE)
    expect(INSECURE_PAGE_MESSAGE).toContain('https://')
    expect(manager.signinRedirect).not.toHaveBeenCalled()
    const secure = createAuth(testConfig, { loadOidc: load, location: location as never, session: window.sessionStorage, secureContext: true })
    await secure.signIn('/places/p1')
    expect(manager.signinRedirect).toHaveBeenCalledWith({ state: { returnTo: '/places/p1' } })
  })

  it('keeps a session whose renewal failed for want of network; only the issuer refusing it ends it', async () => {
    // A phone waking after an hour with no network: the stored session has a refresh token the issuer never saw.
    const stored = { expired: true, refresh_token: 'rt', access_token: 'old', profile: { sub: 's', name: 'Ann' } }
    const { load, manager, ErrorResponse } = fakeOidc(stored)
    manager.signinSilent.mockRejectedValue(new TypeError('Failed to fetch'))
    const auth = createAuth(testConfig, { loadOidc: load, location: location as never })
    await expect(auth.getAccessToken()).rejects.toThrow('Failed to fetch')
    expect(manager.removeUser).not.toHaveBeenCalled()
    manager.signinSilent.mockRejectedValue(new ErrorResponse('invalid_grant'))
    await expect(auth.getAccessToken()).resolves.toBeNull()
    expect(manager.removeUser).toHaveBeenCalledOnce()
    expect(auth.user.value).toBeNull()
  })

  it('returns no token when the session expired and cannot be renewed', async () => {
    const { load, manager } = fakeOidc({ expired: true, access_token: 'old', profile: { sub: 's' } })
    manager.signinSilent.mockRejectedValue(new Error('No refresh token'))
    const auth = createAuth(testConfig, { loadOidc: load, location: location as never })
    await expect(auth.getAccessToken()).resolves.toBeNull()
    expect(auth.user.value).toBeNull()
    expect(manager.removeUser).toHaveBeenCalled()
  })

  it('forgets a session the API refused, so the app offers to sign in again', async () => {
    const { load, manager } = fakeOidc({ expired: false, access_token: 'revoked', profile: { sub: 's', name: 'Ann' } })
    const auth = createAuth(testConfig, { loadOidc: load, location: location as never })
    await auth.getAccessToken()
    expect(auth.user.value).toEqual({ sub: 's', name: 'Ann' })
    await expect(auth.forgetSession()).resolves.toBe(true)
    expect(auth.user.value).toBeNull()
    expect(manager.removeUser).toHaveBeenCalled()
    expect(location.assign).not.toHaveBeenCalled() // no trip to the issuer: only this app's copy is dropped
    await expect(auth.forgetSession()).resolves.toBe(false)
  })

  it('says once that a session the API refused is gone, however many requests it refused', async () => {
    const { load } = fakeOidc({ expired: false, access_token: 'revoked', profile: { sub: 's', name: 'Ann' } })
    const auth = createAuth(testConfig, { loadOidc: load, location: location as never })
    await auth.getAccessToken()
    const tell = vi.fn()
    const refused = sessionRefusedHandler(auth, tell)
    refused()
    refused() // two background requests refused together
    await flushPromises()
    expect(auth.user.value).toBeNull()
    expect(tell).toHaveBeenCalledTimes(1)
    expect(tell).toHaveBeenCalledWith(SESSION_REFUSED_MESSAGE)
    refused() // signed out already: nothing more to say
    await flushPromises()
    expect(tell).toHaveBeenCalledTimes(1)
  })

  it('signs in with a return path, handles the callback and signs out locally without end-session', async () => {
    const { load, manager } = fakeOidc(null)
    const auth = createAuth(testConfig, { loadOidc: load, location: location as never })
    await auth.signIn('/places/p1')
    expect(manager.signinRedirect).toHaveBeenCalledWith({ state: { returnTo: '/places/p1' } })
    await expect(auth.handleCallback()).resolves.toBe('/places/p1')
    expect(auth.user.value).toEqual({ sub: 'sub-2', name: 'b@example.com' })
    await auth.signOut('/places/p1')
    expect(auth.user.value).toBeNull()
    expect(manager.signoutRedirect).not.toHaveBeenCalled()
    expect(manager.removeUser).toHaveBeenCalled()
    // No trip to the issuer: nothing to come back from (the header confirms it at once).
    expect(sessionStorage.getItem(SIGNED_OUT_KEY)).toBeNull()
  })

  it("remembers the page for after the issuer's logout, which reloads the app at its start page", async () => {
    sessionStorage.clear()
    const { load, manager } = fakeOidc({ expired: false, access_token: 'at', profile: { sub: 's' } })
    manager.metadataService.getEndSessionEndpoint.mockResolvedValue('http://issuer.test/logout' as never)
    let storedWhenLeaving: string | null = null
    manager.signoutRedirect.mockImplementation(async () => {
      storedWhenLeaving = sessionStorage.getItem(SIGNED_OUT_KEY)
    })
    const auth = createAuth(testConfig, { loadOidc: load, location: location as never })
    await auth.signOut('/places/p1?page=2')
    expect(manager.signoutRedirect).toHaveBeenCalled()
    // Stored before the browser leaves for the issuer.
    expect(storedWhenLeaving).toContain('/places/p1?page=2')
    // Landed back: read once.
    expect(takeSignOutReturn(sessionStorage)).toBe('/places/p1?page=2')
    expect(takeSignOutReturn(sessionStorage)).toBeNull()

    // The issuer could not be reached: signed out here only, and nothing waits for a return.
    manager.signoutRedirect.mockRejectedValue(new Error('offline'))
    vi.spyOn(console, 'warn').mockImplementation(() => {})
    await auth.signOut('/places/p1')
    expect(sessionStorage.getItem(SIGNED_OUT_KEY)).toBeNull()
    vi.mocked(console.warn).mockRestore()

    // A Cognito-style logout URL (an exact, registered address) remembers it too.
    const cognito = fakeOidc(null)
    const assign = vi.fn()
    const withLogoutUrl = { ...testConfig, auth: { ...testConfig.auth, logoutUrl: 'https://auth.test/logout?client_id=c' } }
    await createAuth(withLogoutUrl, { loadOidc: cognito.load, location: { origin: 'http://app.test', assign } as never }).signOut('/places/p9')
    expect(assign).toHaveBeenCalledWith('https://auth.test/logout?client_id=c')
    expect(takeSignOutReturn(sessionStorage)).toBe('/places/p9')
  })

  it('after sign-in, returns only to a path the app gave, else to the start page', async () => {
    const { load, manager } = fakeOidc(null)
    const auth = createAuth(testConfig, { loadOidc: load, location: location as never })
    const signedIn = (state: unknown) => ({ expired: false, access_token: 'at', profile: { sub: 's' }, state })
    const elsewhere = ['places/p1', '//evil.test/x', '/\\evil.test/x']
    for (const state of [undefined, {}, { returnTo: 5 }, ...elsewhere.map((returnTo) => ({ returnTo }))]) {
      manager.signinRedirectCallback.mockResolvedValueOnce(signedIn(state) as never)
      await expect(auth.handleCallback()).resolves.toBe('/')
    }
  })

  it('renews an expired stored session that has a refresh token, instead of looking signed out', async () => {
    const { load, manager, settings } = fakeOidc({ expired: true, refresh_token: 'rt', access_token: 'old', profile: { sub: 's' } })
    manager.signinSilent.mockResolvedValue({ expired: false, access_token: 'new', profile: { sub: 's', name: 'Ann' } } as never)
    const auth = createAuth(testConfig, { loadOidc: load, location: location as never })
    await vi.waitFor(() => expect(auth.ready.value).toBe(true))
    expect(auth.user.value).toEqual({ sub: 's', name: 'Ann' })
    expect(settings[0]).toMatchObject({ post_logout_redirect_uri: 'http://app.test/', automaticSilentRenew: true })

    // Without a refresh token it stays signed out, without asking.
    const plain = fakeOidc({ expired: true, access_token: 'old', profile: { sub: 's' } })
    const signedOut = createAuth(testConfig, { loadOidc: plain.load, location: location as never })
    await vi.waitFor(() => expect(signedOut.ready.value).toBe(true))
    expect(signedOut.user.value).toBeNull()
    expect(plain.manager.signinSilent).not.toHaveBeenCalled()
  })

  it('returns only to an app path, and only soon after signing out', () => {
    const store = new Map<string, string>()
    const storage = {
      getItem: (k: string) => store.get(k) ?? null,
      setItem: (k: string, v: string) => void store.set(k, v),
      removeItem: (k: string) => void store.delete(k),
    }
    rememberSignOut(storage, '//evil.test/x', 1000)
    expect(takeSignOutReturn(storage, 2000)).toBe('/')
    rememberSignOut(storage, '/places/p1', 1000)
    expect(takeSignOutReturn(storage, 1000 + 11 * 60_000)).toBeNull()
    expect(store.size).toBe(0)
    store.set(SIGNED_OUT_KEY, '{not json')
    expect(takeSignOutReturn(storage)).toBeNull()
    store.set(SIGNED_OUT_KEY, JSON.stringify({ returnTo: 'https://evil.test/', at: Date.now() }))
    expect(takeSignOutReturn(storage)).toBeNull()
    store.set(SIGNED_OUT_KEY, JSON.stringify({ returnTo: '/\\evil.test', at: 1000 }))
    expect(takeSignOutReturn(storage, 1000)).toBeNull()
    store.set(SIGNED_OUT_KEY, JSON.stringify({ returnTo: '/places/p1', at: '1000' }))
    expect(takeSignOutReturn(storage, 1000)).toBeNull()
    // Signed out "in the future" (a clock put back): not trusted; just now and up to 10 minutes: trusted.
    rememberSignOut(storage, '/places/p1', 2000)
    expect(takeSignOutReturn(storage, 1999)).toBeNull()
    rememberSignOut(storage, '/places/p1', 2000)
    expect(takeSignOutReturn(storage, 2000)).toBe('/places/p1')
    rememberSignOut(storage, '/places/p1', 2000)
    expect(takeSignOutReturn(storage, 2000 + 10 * 60_000 - 1)).toBe('/places/p1')
    rememberSignOut(storage, '/places/p1', 2000)
    expect(takeSignOutReturn(storage, 2000 + 10 * 60_000)).toBeNull()
  })
})
