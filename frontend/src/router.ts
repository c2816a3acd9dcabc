import { createRouter, createWebHistory, type Router } from 'vue-router'
import HomeView from './views/HomeView.vue'

/** Routes; the sign-in callback path comes from config.json (auth.redirectPath). */
export function createAppRouter(redirectPath: string): Router {
  const router = createRouter({
    history: createWebHistory(import.meta.env.BASE_URL),
    routes: [
      { path: '/', name: 'home', component: HomeView },
      {
        path: '/places/:placeId',
        name: 'place',
        component: () => import('./views/PlaceView.vue'),
        props: true,
      },
      { path: redirectPath, name: 'callback', component: () => import('./views/CallbackView.vue') },
      { path: '/:pathMatch(.*)*', name: 'not-found', component: () => import('./views/NotFoundView.vue') },
    ],
    scrollBehavior(to, from, saved) {
      if (to.path === from.path) return false // the same page (a photo opened or closed): stay where it was
      return saved ?? { top: 0 }
    },
  })

  // After a client-side navigation, move focus to the page so screen readers start at the new content.
  let first = true
  router.afterEach((to, from) => {
    if (first) {
      first = false
      return
    }
    if (to.path === from.path) return // the same page: the viewer takes and gives back the focus itself
    requestAnimationFrame(() => document.getElementById('main')?.focus({ preventScroll: true }))
  })
  return router
}
