import { createApp } from 'vue'
import './styles.css'
import App from './App.vue'
import ConfigErrorScreen from './components/ConfigErrorScreen.vue'
import { API_KEY } from './composables/useApi'
import { AUTH_KEY, SIGNED_OUT_ELSEWHERE_MESSAGE, createAuth, sessionRefusedHandler, takeSignOutReturn } from './composables/useAuth'
import { CONFIG_KEY } from './composables/useConfig'
import { UPLOADS_KEY, createUploads } from './composables/useUpload'
import { createApi } from './lib/api'
import { downloadFailed, loadAfreshIfFailed } from './lib/chunks'
import { ConfigError, loadConfig } from './lib/config'
import { describeError, notify } from './lib/notices'
import { browserStorage } from './lib/storage'
import { createAppRouter } from './router'

async function start() {
  let config
  try {
    config = await loadConfig()
  } catch (err) {
    const problem = err instanceof ConfigError ? err : new ConfigError(describeError(err))
    document.title = problem.unreachable ? 'Happy Path could not load' : 'Happy Path cannot start'
    createApp(ConfigErrorScreen, { message: problem.message, problems: problem.problems, unreachable: problem.unreachable }).mount('#app')
    return
  }

  document.title = config.title
  const auth = createAuth(config, { onSignedOutElsewhere: () => notify(SIGNED_OUT_ELSEWHERE_MESSAGE) })
  const api = createApi({
    baseUrl: config.apiUrl,
    getToken: () => auth.getAccessToken(),
    onTokenRefused: sessionRefusedHandler(auth, (text) => notify(text)),
  })
  // Back from the issuer's logout, which can only send the browser to the start page: go on to the page
  // the person signed out from, and say they are signed out (the reload lost the confirmation).
  const signedOutFrom = takeSignOutReturn(browserStorage('sessionStorage'))
  const base = import.meta.env.BASE_URL.replace(/\/$/, '')
  if (signedOutFrom !== null && window.location.pathname === `${base}/`) {
    if (signedOutFrom !== '/') window.history.replaceState(null, '', `${base}${signedOutFrom}`)
    notify('You are signed out.')
  }
  const router = createAppRouter(config.auth.redirectPath)
  // App-wide, not per page: uploads go on (and are followed) wherever the person goes.
  const uploads = createUploads({ api, user: auth.user })

  const app = createApp(App)
  app.provide(CONFIG_KEY, config)
  app.provide(AUTH_KEY, auth)
  app.provide(API_KEY, api)
  app.provide(UPLOADS_KEY, uploads)
  app.use(router)

  // Never a blank screen: anything no component handled becomes a visible message (describeError logs
  // the detail of anything that is not already in words).
  app.config.errorHandler = (err) => notify(describeError(err), 'error')
  window.addEventListener('unhandledrejection', (event) => notify(describeError(event.reason), 'error'))
  router.onError(async (err, to) => {
    // Typically a lazy page chunk that failed to download (offline, or a new deploy replaced it). Tried again
    // once the site answers, the page is loaded afresh: this one would never download that chunk again.
    console.error(err)
    const code = `page:${String(to.name)}`
    if (await loadAfreshIfFailed(code, router.resolve(to).href)) return
    downloadFailed(code)
    notify('This page could not be loaded. Check your connection and reload.', 'error')
  })

  app.mount('#app')
}

void start()
