/**
 * Sign-in with OIDC authorization code + PKCE through oidc-client-ts. The same code runs against
 * Cognito on AWS and the local issuer: only `authority` and `clientId` differ. oidc-client-ts is
 * loaded on demand, so it is not part of the first download.
 */
import { inject, ref, type InjectionKey, type Ref } from 'vue'
import type { User, UserManager } from 'oidc-client-ts'
import { hasFailed, importing, loadAfreshIfFailed } from '../lib/chunks'
import type { AppConfig } from '../lib/config'
import { browserStorage } from '../lib/storage'

export interface AuthUser {
  /** The `sub` claim: whose uploads are whose in this browser (pending uploads are kept per user). */
  sub: string
  /** Something to show: name, email or username. */
  name: string
}

export interface Auth {
  user: Ref<AuthUser | null>
  /** True once the stored session (if any) has been read. */
  ready: Ref<boolean>
  signIn(returnTo?: string): Promise<void>
  /**
   * Signs out here and at the issuer. When the issuer's logout sends the browser back to the start page,
   * `returnTo` (the page the person was on) is remembered for `takeSignOutReturn`.
   */
  signOut(returnTo?: string): Promise<void>
  /** Completes the redirect back from the issuer; resolves to the path to return to. */
  handleCallback(url?: string): Promise<string>
  /** A valid access token, renewed if possible, or null when signed out. */
  getAccessToken(): Promise<string | null>
  /** Drops a session the API no longer accepts, so the app offers to sign in again; true if there was one. */
  forgetSession(): Promise<boolean>
}

export const SIGNED_OUT_ELSEWHERE_MESSAGE = 'You were signed out in another tab or window.'

export const SESSION_REFUSED_MESSAGE = 'You are signed out: your sign-in is no longer accepted. Sign in again to go on.'

/**
 * What to do when the API refuses a token (revoked, or the issuer's keys changed): forget the session and
 * say so once. A refused request in the background (such as the check of which photos are one's own) shows
 * no error of its own, and the header's "Sign in" would appear without a word why.
 */
export function sessionRefusedHandler(auth: Auth, tell: (text: string) => void): () => void {
  return () => {
    void auth.forgetSession().then((dropped) => {
      if (dropped) tell(SESSION_REFUSED_MESSAGE)
    })
  }
}

/**
 * Browsers make the PKCE challenge (Web Crypto) only on a secure page: https, or localhost. The local app
 * served to a phone at http://<laptop's address> is not one, and oidc-client-ts would fail with a technical
 * error; this says what to do instead.
 */
export const INSECURE_PAGE_MESSAGE =
  'Signing in needs a secure page: open the app at an https:// address, or at localhost on this device.'

/** Sign-in cannot start on this page; its message is for people (see `describeError`). */
export class SignInUnavailableError extends Error {
  override name = 'SignInUnavailableError'
}

export const AUTH_KEY: InjectionKey<Auth> = Symbol('auth')

export function useAuth(): Auth {
  const auth = inject(AUTH_KEY)
  if (!auth) throw new Error('useAuth() needs an Auth: provide AUTH_KEY')
  return auth
}

function toAuthUser(user: User | null): AuthUser | null {
  if (!user || user.expired) return null
  const p = user.profile
  const name = (p.name || p.email || p.preferred_username || (p['cognito:username'] as string | undefined) || p.sub) as string
  return { sub: p.sub, name }
}

type OidcModule = typeof import('oidc-client-ts')

/**
 * The page someone signed out from, kept in sessionStorage (this tab) across the trip to the issuer's
 * logout: the issuer only sends the browser back to a registered address (the app's start page; Cognito
 * registers exact URLs), and that reload would lose both the page and the "signed out" confirmation.
 */
export const SIGNED_OUT_KEY = 'happypath.signedOut'
/** A trip to the issuer takes seconds: an older entry is from a sign-out that never came back. */
const SIGNED_OUT_MAX_AGE_MS = 10 * 60_000
/** oidc-client-ts, downloaded on first use (lib/chunks.ts). */
const OIDC_CODE = 'oidc'

type SessionStore = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>

/** An app path, never another site ("//evil.test" or "/\\evil.test" would leave the origin). */
export function isAppPath(path: unknown): path is string {
  return typeof path === 'string' && path.startsWith('/') && !path.startsWith('//') && !path.startsWith('/\\')
}

export function rememberSignOut(storage: SessionStore, returnTo: string, now = Date.now()): void {
  storage.setItem(SIGNED_OUT_KEY, JSON.stringify({ returnTo: isAppPath(returnTo) ? returnTo : '/', at: now }))
}

/**
 * Once, when the app starts: the path to go back to (and say "You are signed out.") if the browser has
 * just come back from the issuer's logout, else null. The entry is removed either way.
 */
export function takeSignOutReturn(storage: SessionStore, now = Date.now()): string | null {
  const raw = storage.getItem(SIGNED_OUT_KEY)
  if (raw === null) return null
  storage.removeItem(SIGNED_OUT_KEY)
  try {
    const { returnTo, at } = JSON.parse(raw) as { returnTo?: unknown; at?: unknown }
    const age = typeof at === 'number' ? now - at : Number.NaN
    return isAppPath(returnTo) && age >= 0 && age < SIGNED_OUT_MAX_AGE_MS ? returnTo : null
  } catch {
    return null
  }
}

/** What the sign-in works with: the browser's, unless a test gives its own. */
export interface AuthDeps {
  loadOidc: () => Promise<OidcModule>
  location: Pick<Location, 'origin' | 'assign'>
  session: SessionStore
  secureContext: boolean
  /** Where the browser reports changes another tab made to localStorage (the `storage` event). */
  events: Pick<Window, 'addEventListener'>
  /** Another tab signed the person out: this one follows, and says why its header changed. */
  onSignedOutElsewhere?: () => void
}

export function createAuth(config: AppConfig, deps: Partial<AuthDeps> = {}): Auth {
  const {
    loadOidc = () => import('oidc-client-ts'),
    location = window.location,
    session = browserStorage('sessionStorage'),
    secureContext = window.isSecureContext !== false,
    events = window,
    onSignedOutElsewhere,
  } = deps
  const user = ref<AuthUser | null>(null)
  const ready = ref(false)
  const base = import.meta.env.BASE_URL.replace(/\/$/, '')
  let managerPromise: Promise<UserManager> | null = null

  function manager(): Promise<UserManager> {
    if (managerPromise) return managerPromise
    // A failed download is remembered: this page cannot import it again, and the next sign-in loads it afresh.
    const made = importing(OIDC_CODE, loadOidc).then((oidc) => {
      const m = new oidc.UserManager({
        authority: config.auth.authority,
        client_id: config.auth.clientId,
        redirect_uri: `${location.origin}${base}${config.auth.redirectPath}`,
        post_logout_redirect_uri: `${location.origin}${base}/`,
        response_type: 'code',
        scope: config.auth.scope,
        // Phones close tabs often: keep the session across them (tokens are short-lived; refresh renews).
        userStore: new oidc.WebStorageStateStore({ store: browserStorage() }),
        automaticSilentRenew: true,
        // The API's audience, where its tokens need one asked for (Auth0); Cognito's carry the client id.
        ...(config.auth.audience ? { extraQueryParams: { audience: config.auth.audience } } : {}),
      })
      m.events.addUserLoaded((u) => {
        user.value = toAuthUser(u)
      })
      m.events.addUserUnloaded(() => {
        user.value = null
      })
      m.events.addSilentRenewError(() => {
        /* the next getAccessToken() finds the token expired and reports "signed out" */
      })
      return m
    })
    managerPromise = made
    made.catch(() => {
      managerPromise = null // asked for again next time (a failed download: see signIn)
    })
    return made
  }

  /**
   * The session is kept in localStorage, shared by every tab: one that signs in or out there changes it for the
   * others too, which then follow (a page still showing Delete buttons after a sign-out elsewhere would fail on
   * them with "Please sign in first"). Only sessions of this issuer and client are read (oidc-client-ts keys).
   */
  events.addEventListener('storage', (event) => {
    const key = (event as StorageEvent).key
    if (key !== null && !key.startsWith('oidc.user:')) return
    void manager()
      .then((m) => m.getUser())
      .then((stored) => {
        if (stored?.expired) return // renewed when a token is next needed (getAccessToken), as at start
        const before = user.value
        user.value = toAuthUser(stored)
        if (before !== null && user.value === null) onSignedOutElsewhere?.()
      })
      .catch(() => {})
  })

  // Read a stored session in the background; the first screen does not wait for it.
  const started = manager()
    .then(async (m) => {
      const stored = await m.getUser()
      // An expired access token with a refresh token: renew it instead of looking signed out.
      if (stored?.expired && stored.refresh_token) return m.signinSilent().catch(() => null)
      return stored
    })
    .then((u) => {
      user.value = toAuthUser(u)
    })
    .catch((err) => {
      console.warn('Could not read the stored sign-in', err)
    })
    .finally(() => {
      ready.value = true
    })

  return {
    user,
    ready,
    async signIn(returnTo = '/') {
      if (!secureContext) throw new SignInUnavailableError(INSECURE_PAGE_MESSAGE)
      if (await loadAfreshIfFailed(OIDC_CODE, window.location.href)) return
      const m = await manager()
      await m.signinRedirect({ state: { returnTo } })
    },
    async signOut(returnTo = '/') {
      const m = await manager()
      user.value = null
      if (config.auth.logoutUrl) {
        await m.removeUser()
        rememberSignOut(session, returnTo)
        location.assign(config.auth.logoutUrl)
        return
      }
      try {
        const endSession = await m.metadataService.getEndSessionEndpoint()
        if (endSession) {
          rememberSignOut(session, returnTo)
          // Leaves the page: the promise settles only if the browser comes back to it (bfcache).
          await m.signoutRedirect()
          return
        }
      } catch (err) {
        session.removeItem(SIGNED_OUT_KEY)
        console.warn('Sign-out at the issuer failed; signed out here only', err)
      }
      await m.removeUser()
    },
    async handleCallback(url?: string) {
      const m = await manager()
      const signedIn = await m.signinRedirectCallback(url)
      user.value = toAuthUser(signedIn)
      const state = signedIn.state as { returnTo?: unknown } | undefined
      return isAppPath(state?.returnTo) ? state.returnTo : '/'
    },
    async getAccessToken() {
      await started
      // The sign-in library did not arrive in this page, which cannot import it again: signed out here, as the
      // header shows. Asking for it again would fail at once with "check your connection" even once the network
      // is back; signed out, the person is offered to sign in, which loads the page afresh with the session.
      if (hasFailed(OIDC_CODE)) return null
      const m = await manager()
      let current = await m.getUser()
      if (current && current.expired) {
        const renewable = !!current.refresh_token
        try {
          current = await m.signinSilent()
        } catch (err) {
          // A phone waking with no network cannot reach the issuer: that is no reason to sign the person out
          // (every upload being followed would pause). Only the issuer refusing the refresh token ends it.
          const refused = !renewable || err instanceof (await loadOidc()).ErrorResponse
          if (!refused) throw err
          current = null
          await m.removeUser()
        }
      }
      user.value = toAuthUser(current)
      return current && !current.expired ? current.access_token : null
    },
    async forgetSession() {
      // Several requests refused at once: only the first finds someone signed in.
      const dropped = user.value !== null
      user.value = null
      await (await manager()).removeUser()
      return dropped
    },
  }
}
