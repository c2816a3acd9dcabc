import { inject, type InjectionKey } from 'vue'
import type { Api } from '../lib/api'

export const API_KEY: InjectionKey<Api> = Symbol('api')

/** The API client bound to config.apiUrl and the signed-in user's token (see main.ts). */
export function useApi(): Api {
  const api = inject(API_KEY)
  if (!api) throw new Error('useApi() needs an API client: provide API_KEY')
  return api
}
