import { onBeforeUnmount, toValue, watchEffect, type MaybeRefOrGetter } from 'vue'
import { useConfig } from './useConfig'

/**
 * The window's title names the page shown ("<page> · <app>"; the app's alone while `page` is empty): the tab,
 * the history and screen readers announce it. The app's title again once the page is left.
 */
export function usePageTitle(page: MaybeRefOrGetter<string | null | undefined>): void {
  const appTitle = useConfig().title
  watchEffect(() => {
    const name = toValue(page)
    document.title = name ? `${name} · ${appTitle}` : appTitle
  })
  onBeforeUnmount(() => (document.title = appTitle))
}
