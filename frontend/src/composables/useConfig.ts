import { inject, type InjectionKey } from 'vue'
import type { AppConfig } from '../lib/config'

export const CONFIG_KEY: InjectionKey<AppConfig> = Symbol('config')

/** The validated config.json, provided once by main.ts (tests provide their own). */
export function useConfig(): AppConfig {
  const config = inject(CONFIG_KEY)
  if (!config) throw new Error('useConfig() needs the app config: provide CONFIG_KEY')
  return config
}
