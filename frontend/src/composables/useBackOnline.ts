import { onBeforeUnmount, onMounted } from 'vue'

/**
 * Calls `retry` when the browser has a connection again, for as long as the component is mounted: a page left
 * showing "Could not reach the server" loads by itself once the phone is back online.
 */
export function useBackOnline(retry: () => void): void {
  const onOnline = () => retry()
  onMounted(() => window.addEventListener('online', onOnline))
  onBeforeUnmount(() => window.removeEventListener('online', onOnline))
}
